/**
 * Who talks to whom, from Istio's standard metrics in Prometheus: every source → destination workload
 * pair the destination sidecars counted over the window, split by mTLS and plaintext.
 */
import { queryVector, type PrometheusAccess } from "../cluster/prometheus";

export interface TrafficEdge {
  /** `namespace/workload`, or `unknown` when the caller sent no peer metadata (a client without sidecar). */
  source: string;
  destination: string;
  mtls: number;
  plaintext: number;
}

const METRICS = ["istio_requests_total", "istio_tcp_connections_opened_total"];
const BY = "source_workload, source_workload_namespace, destination_workload, destination_workload_namespace, connection_security_policy";

export const trafficQuery = (metric: string, windowSeconds: number) =>
  `sum by (${BY}) (increase(${metric}{reporter="destination"}[${windowSeconds}s]))`;

/** The edges with traffic in the window; an answer that is not a clean vector is an error, never "no traffic". */
export async function observedTraffic(
  prometheus: PrometheusAccess | string,
  windowSeconds: number,
  options: { timeoutMs: number; fetch?: typeof fetch; signal?: AbortSignal },
): Promise<{ edges: TrafficEdge[] } | { error: string }> {
  const edges = new Map<string, TrafficEdge>();
  for (const metric of METRICS) {
    const answer = await queryVector(prometheus, trafficQuery(metric, windowSeconds), options);
    if ("error" in answer) return { error: `${answer.error} (query: ${trafficQuery(metric, windowSeconds)})` };
    for (const { labels, value } of answer.samples) {
      if (value <= 0 || !labels.destination_workload || labels.destination_workload === "unknown") continue;
      const named = labels.source_workload && labels.source_workload !== "unknown";
      const source = named ? `${labels.source_workload_namespace}/${labels.source_workload}` : "unknown";
      const destination = `${labels.destination_workload_namespace}/${labels.destination_workload}`;
      const key = `${source} ${destination}`;
      const edge = edges.get(key) ?? { source, destination, mtls: 0, plaintext: 0 };
      // increase() extrapolates: a single request may read as 0.4; anything above zero happened.
      if (labels.connection_security_policy === "mutual_tls") edge.mtls += Math.ceil(value);
      else edge.plaintext += Math.ceil(value);
      edges.set(key, edge);
    }
  }
  return { edges: [...edges.values()].sort((a, b) => a.destination.localeCompare(b.destination) || a.source.localeCompare(b.source)) };
}
