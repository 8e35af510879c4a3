/**
 * Kubernetes and Istio facts about objects read from a cluster, as pure functions: which pods a
 * controller owns, whether a pod runs Istio's sidecar, whether a namespace or pod is in ambient mode.
 * Sources: Kubernetes LabelSelector semantics (apimachinery labels.Selector) and owner references (the
 * Deployment controller names its ReplicaSets `NAME-<pod-template-hash>`); Istio's injector (pkg/kube/inject:
 * the `istio-proxy` container, or a native sidecar: an init container with restartPolicy Always);
 * pkg/config/constants (`istio.io/dataplane-mode`).
 */
import type { ControllerObject, LabelSelector, PodObject } from "./objects";
import { predictInjection, type InjectionVerdict, type InjectorWebhook } from "../model/injection";

export const SIDECAR_STATUS_ANNOTATION = "sidecar.istio.io/status";
export const PROXY_CONTAINER = "istio-proxy";
export const DATAPLANE_MODE_LABEL = "istio.io/dataplane-mode";
export const INJECTION_NAMESPACE_LABEL = "istio-injection";
export const REVISION_LABEL = "istio.io/rev";
export const INJECT_TEMPLATES_ANNOTATION = "inject.istio.io/templates";
export const DEFAULT_CONTAINER_ANNOTATION = "kubectl.kubernetes.io/default-container";

/** Whether `labels` satisfy a LabelSelector: every matchLabels pair and every matchExpressions requirement. */
export function selectorMatches(selector: LabelSelector, labels: Record<string, string>): boolean {
  for (const [k, v] of Object.entries(selector.matchLabels ?? {})) if (labels[k] !== v) return false;
  for (const e of selector.matchExpressions ?? []) {
    const has = Object.prototype.hasOwnProperty.call(labels, e.key);
    const values = e.values ?? [];
    if (e.operator === "In" && !(has && values.includes(labels[e.key]))) return false;
    if (e.operator === "NotIn" && has && values.includes(labels[e.key])) return false;
    if (e.operator === "Exists" && !has) return false;
    if (e.operator === "DoesNotExist" && has) return false;
  }
  // An empty selector selects nothing for a controller (apps/v1 validation requires one); be as strict.
  return Object.keys(selector.matchLabels ?? {}).length + (selector.matchExpressions ?? []).length > 0;
}

/** A pod Istio sends traffic to: not finished (Succeeded, Failed) and not terminating (a deletionTimestamp). */
export function isLivePod(pod: PodObject): boolean {
  return pod.status?.phase !== "Succeeded" && pod.status?.phase !== "Failed" && !pod.metadata.deletionTimestamp;
}

/** The controller that owns a pod: the owner reference marked controller, else the only one. */
export function ownerOf(pod: PodObject): { kind: string; name: string } | undefined {
  const owners = pod.metadata.ownerReferences ?? [];
  return owners.find((o) => o.controller) ?? (owners.length === 1 ? owners[0] : undefined);
}

/**
 * Whether `controller` owns the pod: a StatefulSet's or DaemonSet's pod names it as its owner; a Deployment's
 * names its ReplicaSet `NAME-HASH`, the hash being the pod's `pod-template-hash` label (or, without that label, a
 * ReplicaSet named after it whose selector the Deployment's matches).
 */
export function ownedBy(pod: PodObject, controller: ControllerObject): boolean {
  if (pod.metadata.namespace !== controller.metadata.namespace) return false;
  const owner = ownerOf(pod);
  if (!owner) return false;
  const name = controller.metadata.name;
  if (controller.kind !== "Deployment") return owner.kind === controller.kind && owner.name === name;
  if (owner.kind !== "ReplicaSet") return false;
  const hash = Object.prototype.hasOwnProperty.call(pod.metadata.labels ?? {}, "pod-template-hash")
    ? pod.metadata.labels!["pod-template-hash"]
    : undefined;
  if (hash !== undefined) return owner.name === `${name}-${hash}`;
  return owner.name.startsWith(`${name}-`) && selectorMatches(controller.spec.selector, pod.metadata.labels ?? {});
}

/** The live pods of a controller (see ownedBy, isLivePod). */
export function podsOf(controller: ControllerObject, pods: readonly PodObject[]): PodObject[] {
  return pods.filter((p) => isLivePod(p) && ownedBy(p, controller));
}

/**
 * Whether the pod runs Istio's proxy: an `istio-proxy` container, or a native sidecar (an `istio-proxy` init
 * container that always restarts). The injector's `sidecar.istio.io/status` annotation alone is not enough: it
 * can outlive the container (copied into a template, or the container removed), and a pod without the proxy
 * accepts plaintext whatever the policies say.
 */
export function podHasSidecar(pod: PodObject): boolean {
  if (pod.spec.containers.some((c) => c.name === PROXY_CONTAINER)) return true;
  return (pod.spec.initContainers ?? []).some((c) => c.name === PROXY_CONTAINER && c.restartPolicy === "Always");
}

/** What a pod stamped from `controller`'s template would be told by Istio's injector (src/model/injection.ts). */
export function templateInjection(
  controller: ControllerObject,
  namespaceLabels: Record<string, string>,
  webhooks: readonly InjectorWebhook[] | undefined,
): InjectionVerdict {
  const template = controller.spec.template;
  return predictInjection(
    {
      namespace: controller.metadata.namespace,
      namespaceLabels,
      labels: template.metadata?.labels ?? {},
      annotations: template.metadata?.annotations ?? {},
      hostNetwork: template.spec.hostNetwork === true,
    },
    webhooks,
  );
}

/** Ambient mode: ztunnel instead of sidecars, which mtls-rollout does not model yet. */
export function isAmbient(labels: Record<string, string> | null | undefined): boolean {
  return labels?.[DATAPLANE_MODE_LABEL] === "ambient";
}

/**
 * An Istio gateway: injected with the gateway template (Helm's gateway chart), or an `istio-proxy` that
 * runs as a router (`pilot-agent proxy router`, as istioctl installs one). PeerAuthentication governs
 * sidecars' inbound listener, not a gateway's listeners.
 */
export function isGateway(controller: ControllerObject, pods: readonly PodObject[]): boolean {
  const templates = controller.spec.template.metadata?.annotations?.[INJECT_TEMPLATES_ANNOTATION] ?? "";
  if (templates.split(",").some((t) => t.trim() === "gateway")) return true;
  const runsRouter = (containers: readonly { name: string; args?: string[] | null }[]) =>
    containers.some((c) => c.name === PROXY_CONTAINER && (c.args ?? []).includes("router"));
  return runsRouter(controller.spec.template.spec.containers) || pods.some((p) => runsRouter(p.spec.containers));
}
