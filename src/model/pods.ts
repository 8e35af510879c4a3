export const INJECT_LABEL = "sidecar.istio.io/inject";

/**
 * The labels a workload's pods end up with: ours, the explicit injection label, and what Istio's
 * injector adds to a pod it injects (injection-template.yaml: tlsMode and the canonical service labels).
 */
export function podLabels(name: string, labels: Record<string, string>, sidecar: boolean): Record<string, string> {
  const pod: Record<string, string> = { ...labels, [INJECT_LABEL]: String(sidecar) };
  if (sidecar) {
    pod["security.istio.io/tlsMode"] = "istio";
    pod["service.istio.io/canonical-name"] ??= labels["app.kubernetes.io/name"] ?? labels.app ?? name;
    pod["service.istio.io/canonical-revision"] ??= labels["app.kubernetes.io/version"] ?? labels.version ?? "latest";
  }
  return pod;
}
