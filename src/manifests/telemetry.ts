/**
 * The Telemetry that switches Envoy's access log on for one workload's sidecar, inbound only, so the verifier can
 * read refusals from it (src/model/accessLogs.ts). Sources: istio/api `telemetry/v1alpha1/telemetry.proto`
 * (`selector`, `accessLogging[].providers`, `.match.mode`, `.filter.expression`); istio/istio
 * `pilot/pkg/networking/core/accesslog.go` `setListenerAccessLog`: a Telemetry selecting the sidecar configures the
 * inbound listener's own log (SERVER mode), the one Envoy writes for a connection no filter chain takes, which Istio
 * narrows to the NR flag; the built-in `envoy` provider writes to the proxy's stdout (`pkg/config/mesh/mesh.go`).
 */
import type { Workload } from "../model/rollout";

export const TELEMETRY_API_VERSION = "telemetry.istio.io/v1";

/** What the stack asks the access log of: every inbound connection and request, or only refused connections. */
export type AccessLogScope = "all" | "refusals";

/**
 * Envoy's CEL access-log filter (`envoy.access_loggers.extension_filters.cel`, which Istio makes of
 * `filter.expression`): a refused connection's response code details are `filter_chain_not_found`
 * (envoy `active_stream_listener_base.cc` `newConnection`, `ResponseCodeDetails::FilterChainNotFound`).
 */
export const REFUSALS_ONLY = "response.code_details == 'filter_chain_not_found'";

/** Its name in the workload's namespace: one per workload, the same at every stage. */
export const accessLogTelemetryName = (w: Pick<Workload, "name">) => `mtls-rollout-access-log-${w.name}`;

export function accessLogTelemetryManifest(w: Pick<Workload, "name" | "namespace" | "labels">, scope: AccessLogScope) {
  return {
    apiVersion: TELEMETRY_API_VERSION,
    kind: "Telemetry",
    metadata: { name: accessLogTelemetryName(w), namespace: w.namespace },
    spec: {
      selector: { matchLabels: { ...w.labels } },
      accessLogging: [
        {
          providers: [{ name: "envoy" }],
          match: { mode: "SERVER" },
          ...(scope === "refusals" ? { filter: { expression: REFUSALS_ONLY } } : {}),
        },
      ],
    },
  };
}
