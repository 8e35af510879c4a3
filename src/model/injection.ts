/**
 * Whether Istio's injector gives a pod a sidecar, as the webhook decides it: for a workload no pod of which runs,
 * what its next pod will be. Pure: src/cluster reads the MutatingWebhookConfigurations.
 *
 * What it follows (istio/istio at 86c9f01, 1.32-dev, the same at 1.29; test/fixtures/SOURCES.md, "Injection"):
 * - The API server calls an injector webhook when its namespaceSelector matches the namespace's labels and its
 *   objectSelector the pod's labels, never its annotations (kubernetes apiserver `webhook.go` `ShouldCallHook`;
 *   LabelSelector: `In` needs the key, `NotIn` holds without it, an empty selector matches all).
 * - The istiod chart's entries (manifests/charts/istio-control/istio-discovery/templates/mutatingwebhook.yaml, and
 *   revision-tags-mwc.yaml for tags) are the selectors assumed when the cluster's cannot be read.
 * - Called, the injector still declines (pkg/kube/inject/inject.go `injectRequired`): a pod on the node's network,
 *   a pod in kube-system, kube-public, kube-node-lease or local-path-storage; the `sidecar.istio.io/inject` label
 *   (else the deprecated annotation) `true` or `false` decides; else the injector's policy, `enabled` by default
 *   (its neverInjectSelector and alwaysInjectSelector, empty by default, are not read).
 */

export interface SelectorRequirement {
  key: string;
  operator: "In" | "NotIn" | "Exists" | "DoesNotExist";
  values?: string[] | null;
}
export interface WebhookSelector {
  matchLabels?: Record<string, string> | null;
  matchExpressions?: SelectorRequirement[] | null;
}

/** One injector entry of a MutatingWebhookConfiguration. */
export interface InjectorWebhook {
  /** `configuration/entry`, for messages. */
  name: string;
  /** The revision whose istiod it calls (the configuration's `istio.io/rev` label; `default` for the unnamed one). */
  revision: string;
  namespaceSelector?: WebhookSelector | null;
  objectSelector?: WebhookSelector | null;
}

export const INJECT_LABEL = "sidecar.istio.io/inject";
export const REVISION_LABEL = "istio.io/rev";
export const INJECTION_NAMESPACE_LABEL = "istio-injection";
/** `IgnoredNamespaces` (pkg/kube/inject/initializer.go): the injector never injects there. */
export const NEVER_INJECTED_NAMESPACES = ["kube-system", "kube-public", "kube-node-lease", "local-path-storage"];

/** apimachinery's LabelSelector matching, where an empty selector selects everything (a webhook's). */
export function webhookSelectorMatches(selector: WebhookSelector | null | undefined, labels: Record<string, string>): boolean {
  const has = (k: string) => Object.prototype.hasOwnProperty.call(labels, k);
  for (const [k, v] of Object.entries(selector?.matchLabels ?? {})) if (!has(k) || labels[k] !== v) return false;
  for (const r of selector?.matchExpressions ?? []) {
    const values = r.values ?? [];
    if (r.operator === "In" && !(has(r.key) && values.includes(labels[r.key]))) return false;
    if (r.operator === "NotIn" && has(r.key) && values.includes(labels[r.key])) return false;
    if (r.operator === "Exists" && !has(r.key)) return false;
    if (r.operator === "DoesNotExist" && has(r.key)) return false;
  }
  return true;
}

const notDisabled: SelectorRequirement = { key: INJECT_LABEL, operator: "NotIn", values: ["false"] };

/**
 * The entries the istiod chart renders for a revision (or a tag): `rev.namespace.` and `rev.object.` with its name,
 * and for the default revision (or the `default` tag) also `namespace.` and `object.`.
 */
export function chartWebhooks(revision: string): InjectorWebhook[] {
  const rev = (name: string, ns: WebhookSelector, obj: WebhookSelector): InjectorWebhook => ({
    name: `(the istiod chart's) ${name}sidecar-injector.istio.io`,
    revision,
    namespaceSelector: ns,
    objectSelector: obj,
  });
  const out = [
    rev(
      "rev.namespace.",
      {
        matchExpressions: [
          { key: REVISION_LABEL, operator: "In", values: [revision] },
          { key: INJECTION_NAMESPACE_LABEL, operator: "DoesNotExist" },
        ],
      },
      { matchExpressions: [notDisabled] },
    ),
    rev(
      "rev.object.",
      {
        matchExpressions: [
          { key: REVISION_LABEL, operator: "DoesNotExist" },
          { key: INJECTION_NAMESPACE_LABEL, operator: "DoesNotExist" },
        ],
      },
      { matchExpressions: [notDisabled, { key: REVISION_LABEL, operator: "In", values: [revision] }] },
    ),
  ];
  if (revision === "default") {
    out.push(
      rev(
        "namespace.",
        { matchExpressions: [{ key: INJECTION_NAMESPACE_LABEL, operator: "In", values: ["enabled"] }] },
        { matchExpressions: [notDisabled] },
      ),
      rev(
        "object.",
        {
          matchExpressions: [
            { key: INJECTION_NAMESPACE_LABEL, operator: "DoesNotExist" },
            { key: REVISION_LABEL, operator: "DoesNotExist" },
          ],
        },
        {
          matchExpressions: [
            { key: INJECT_LABEL, operator: "In", values: ["true"] },
            { key: REVISION_LABEL, operator: "DoesNotExist" },
          ],
        },
      ),
    );
  }
  return out;
}

export interface PodToInject {
  namespace: string;
  namespaceLabels: Record<string, string>;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  hostNetwork: boolean;
}

export interface InjectionVerdict {
  sidecar: boolean;
  /** In words, for a reviewer: which webhook would be called, or why none is or the injector declines. */
  why: string;
}

/**
 * Whether a pod like `pod` gets a sidecar. `webhooks`: the cluster's injector entries; undefined when they could
 * not be read, and then the chart's for the default revision and for any revision a namespace or pod names.
 */
export function predictInjection(pod: PodToInject, webhooks: readonly InjectorWebhook[] | undefined): InjectionVerdict {
  const assumed =
    webhooks ??
    [...new Set(["default", pod.namespaceLabels[REVISION_LABEL], pod.labels[REVISION_LABEL]].filter((r): r is string => !!r))].flatMap(
      chartWebhooks,
    );
  const called = assumed.filter(
    (w) => webhookSelectorMatches(w.namespaceSelector, pod.namespaceLabels) && webhookSelectorMatches(w.objectSelector, pod.labels),
  );
  const source = webhooks ? "" : " (the istiod chart's selectors: the cluster's webhooks were not read)";
  if (called.length === 0) return { sidecar: false, why: `no injector webhook matches its namespace's and pod's labels${source}` };
  const by = `${called[0].name} (revision ${called[0].revision})${source}`;
  if (pod.hostNetwork) return { sidecar: false, why: `${by} is called, but the injector never injects a pod on the node's network` };
  if (NEVER_INJECTED_NAMESPACES.includes(pod.namespace))
    return { sidecar: false, why: `${by} is called, but the injector never injects in ${pod.namespace}` };
  const explicit = Object.prototype.hasOwnProperty.call(pod.labels, INJECT_LABEL)
    ? { value: pod.labels[INJECT_LABEL], what: "label" }
    : Object.prototype.hasOwnProperty.call(pod.annotations, INJECT_LABEL)
      ? { value: pod.annotations[INJECT_LABEL], what: "annotation (deprecated)" }
      : undefined;
  if (explicit?.value === "false") return { sidecar: false, why: `${by} is called, but its ${INJECT_LABEL} ${explicit.what} says false` };
  return { sidecar: true, why: `${by} injects it` };
}
