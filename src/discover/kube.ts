/**
 * Kubernetes and Istio facts about objects read from a cluster, as pure functions: which pods a
 * controller selects, whether a pod runs Istio's sidecar, whether a namespace or pod is in ambient mode.
 * Sources: Kubernetes LabelSelector semantics (apimachinery labels.Selector); Istio's injector
 * (pkg/kube/inject, `sidecar.istio.io/status`, native sidecars as init containers with restartPolicy
 * Always); pkg/config/constants (`istio.io/dataplane-mode`).
 */
import type { ControllerObject, LabelSelector, PodObject } from "../cluster/objects";

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

/** The running (or starting) pods of a controller: its namespace, its selector; finished pods do not count. */
export function podsOf(controller: ControllerObject, pods: readonly PodObject[]): PodObject[] {
  return pods.filter(
    (p) =>
      p.metadata.namespace === controller.metadata.namespace &&
      p.status?.phase !== "Succeeded" &&
      p.status?.phase !== "Failed" &&
      selectorMatches(controller.spec.selector, p.metadata.labels ?? {}),
  );
}

/** The injector's status annotation, an istio-proxy container, or a native sidecar (an istio-proxy init container that always restarts). */
export function podHasSidecar(pod: PodObject): boolean {
  if (pod.metadata.annotations?.[SIDECAR_STATUS_ANNOTATION]) return true;
  if (pod.spec.containers.some((c) => c.name === PROXY_CONTAINER)) return true;
  return (pod.spec.initContainers ?? []).some((c) => c.name === PROXY_CONTAINER && c.restartPolicy === "Always");
}

/** What the injection labels promise for a pod from this template in this namespace, when no pod runs to tell. */
export function sidecarByLabels(templateLabels: Record<string, string>, namespaceLabels: Record<string, string>): boolean {
  const explicit = templateLabels["sidecar.istio.io/inject"];
  if (explicit !== undefined) return explicit === "true";
  return (
    namespaceLabels[INJECTION_NAMESPACE_LABEL] === "enabled" ||
    (namespaceLabels[REVISION_LABEL] !== undefined && namespaceLabels[INJECTION_NAMESPACE_LABEL] === undefined)
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
