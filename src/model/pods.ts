export const INJECT_LABEL = "sidecar.istio.io/inject";

/**
 * The labels a workload's pods end up with: its template's, the explicit injection label when the stack
 * deploys it, and what Istio's injector adds to a pod it injects (manifests/charts/istio-control/istio-discovery/
 * files/injection-template.yaml: `security.istio.io/tlsMode: {{ index .ObjectMeta.Labels
 * `security.istio.io/tlsMode` | default "istio" }}`, so a pod's own value, `disabled` say, stays; and the canonical
 * service labels).
 */
export function podLabels(name: string, labels: Record<string, string>, sidecar: boolean, deployed = true): Record<string, string> {
  const pod: Record<string, string> = deployed ? { ...labels, [INJECT_LABEL]: String(sidecar) } : { ...labels };
  if (sidecar) {
    pod["security.istio.io/tlsMode"] ??= "istio";
    pod["service.istio.io/canonical-name"] ??= labels["app.kubernetes.io/name"] ?? labels.app ?? name;
    pod["service.istio.io/canonical-revision"] ??= labels["app.kubernetes.io/version"] ?? labels.version ?? "latest";
  }
  return pod;
}
