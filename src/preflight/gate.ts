/**
 * Gathers the pre-flight gate's evidence: plaintext traffic arriving at the workloads a stage is about
 * to make STRICT, from Prometheus when given, else from each workload's own sidecar read twice across
 * the window. The verdict is the model's (src/model/preflight.ts).
 */
import type { PlaintextCaller, Target, TargetEvidence } from "../model/preflight";
import { kubectlFailure } from "../cluster/failure";
import { statsArgs } from "../verify/observe";
import { pause } from "../cluster/pause";
import { podOf } from "../cluster/podOf";
import { queryVector, type PrometheusAccess } from "../cluster/prometheus";
import { parseSamples } from "../cluster/promText";
import type { KubectlRunner } from "../cluster/runner";

const PLAINTEXT_METRICS = new Set(["istio_requests_total", "istio_tcp_connections_opened_total"]);
const REQUESTS = "istio_requests_total";

export interface GateOptions {
  windowSeconds: number;
  /** Per HTTP request or kubectl call. */
  callTimeoutMs: number;
  /** Waits out the window between the two sidecar reads; a seam for tests. */
  sleep?: (ms: number) => Promise<void>;
  /** Ends the wait and every read early (Ctrl-C): the targets then have no evidence. */
  signal?: AbortSignal;
  /**
   * Prometheus: count no traffic before this moment (epoch ms), the end of the last verification, whose probes
   * send plaintext on purpose. The look-back is shortened to it, and waited for when shorter than
   * `minimumLookbackSeconds` (Prometheus needs two scrapes in a range).
   */
  since?: number;
  minimumLookbackSeconds?: number;
}

const sourceOf = (labels: Record<string, string>) => {
  const name = labels.source_workload;
  const ns = labels.source_workload_namespace;
  // A client without a sidecar sends no peer metadata: Istio records it as "unknown".
  return !name || name === "unknown" ? "unknown" : `${ns ?? "unknown"}/${name}`;
};

function addCaller(callers: Map<string, PlaintextCaller>, source: string, metric: string, value: number) {
  const c = callers.get(source) ?? { source, requests: 0, connections: 0 };
  if (metric === REQUESTS) c.requests += value;
  else c.connections += value;
  callers.set(source, c);
}

// ---------------------------------------------------------------------------------------------------
// Prometheus

/** PromQL label matchers for a target: names are DNS-1123 labels (validated), so they need no escaping. */
const destination = (t: Target) =>
  `reporter="destination",destination_workload="${t.name}",destination_workload_namespace="${t.namespace}"`;

export async function prometheusEvidence(
  prometheus: PrometheusAccess | string,
  target: Target,
  options: GateOptions,
  /** A seam for tests; by default the client the access needs (src/cluster/prometheus.ts). */
  fetchImpl?: typeof fetch,
): Promise<TargetEvidence> {
  const window = `${options.windowSeconds}s`;
  const callers = new Map<string, PlaintextCaller>();
  const ask = (promql: string) =>
    queryVector(prometheus, promql, { timeoutMs: options.callTimeoutMs, fetch: fetchImpl, signal: options.signal });
  let series = 0;
  for (const metric of PLAINTEXT_METRICS) {
    const plaintext = `${metric}{${destination(target)},connection_security_policy!="mutual_tls"}`;
    const grew = await ask(`sum by (source_workload, source_workload_namespace) (increase(${plaintext}[${window}]))`);
    if ("error" in grew) return grew;
    // increase() extrapolates: a single request in the window may read as 0.3. Anything above zero was seen.
    const seen = new Map<string, number>();
    for (const s of grew.samples) if (s.value > 0) seen.set(sourceOf(s.labels), Math.ceil(s.value));
    // An empty answer proves nothing unless Prometheus knows the workload at all.
    const present = await ask(`count(${metric}{${destination(target)}})`);
    if ("error" in present) return present;
    series += present.samples.reduce((n, s) => n + s.value, 0);
    // A series that first appears within the window (a caller's first plaintext since the pod started, a job that
    // calls once) has no earlier sample for increase() to start from, which reads it as 0: such a series counts with
    // all it holds, since all of it came within the window.
    const born = await ask(`sum by (source_workload, source_workload_namespace) (${plaintext} unless ${plaintext} offset ${window})`);
    if ("error" in born) return born;
    for (const s of born.samples)
      if (s.value > 0) seen.set(sourceOf(s.labels), Math.max(seen.get(sourceOf(s.labels)) ?? 0, Math.ceil(s.value)));
    for (const [source, n] of seen) addCaller(callers, source, metric, n);
  }
  if (series === 0)
    return { error: `Prometheus has no Istio series for ${target.workload}: is its sidecar scraped, and has it had traffic?` };
  return { callers: [...callers.values()], via: `Prometheus, increase over ${window} and series new in it` };
}

// ---------------------------------------------------------------------------------------------------
// The workload's own sidecar

export function envoyStatsArgs(target: Target): string[] {
  return ["exec", "-n", target.namespace, podOf(target), "-c", "istio-proxy", "--", "pilot-agent", "request", "GET", "stats"];
}

interface SidecarRead {
  samples: Map<string, { metric: string; source: string; value: number }>;
  /** Series the sidecar reported as the destination (reporter="destination"), mTLS or not. */
  destinationSeries: number;
  tlsNotFound?: number;
}

async function readSidecar(runner: KubectlRunner, target: Target, timeoutMs: number): Promise<SidecarRead | { error: string }> {
  const metrics = await runner(statsArgs(target), timeoutMs);
  if (metrics.exitCode !== 0) return { error: `sidecar of ${target.workload} unreachable: ${kubectlFailure(metrics, timeoutMs)}` };
  const parsed = parseSamples(metrics.stdout, PLAINTEXT_METRICS);
  if (parsed.malformed.length > 0) {
    return { error: `the sidecar of ${target.workload} reported an unreadable Istio sample: ${parsed.malformed[0]}` };
  }
  const samples = new Map<string, { metric: string; source: string; value: number }>();
  let destinationSeries = 0;
  for (const s of parsed.samples) {
    if (s.labels.reporter !== "destination") continue;
    destinationSeries++;
    if (s.labels.connection_security_policy === "mutual_tls") continue;
    // Keyed by the whole label set, so a series that restarts is seen as a reset, not as negative traffic.
    samples.set(`${s.metric}${JSON.stringify(s.labels)}`, { metric: s.metric, source: sourceOf(s.labels), value: s.value });
  }
  const stats = await runner(envoyStatsArgs(target), timeoutMs);
  const tlsLine = stats.exitCode === 0 ? /^tls_inspector\.tls_not_found:(.*)$/m.exec(stats.stdout) : null;
  const tlsNotFound = tlsLine ? /^ (\d{1,15})$/.exec(tlsLine[1])?.[1] : undefined;
  if (tlsLine && tlsNotFound === undefined) {
    return { error: `the sidecar of ${target.workload} reported an unreadable tls_inspector.tls_not_found:${tlsLine[1].slice(0, 40)}` };
  }
  return { samples, destinationSeries, ...(tlsNotFound !== undefined ? { tlsNotFound: Number(tlsNotFound) } : {}) };
}

export async function sidecarEvidence(runner: KubectlRunner, target: Target, options: GateOptions): Promise<TargetEvidence> {
  const sleep = options.sleep ?? ((ms: number) => pause(ms, options.signal));
  const first = await readSidecar(runner, target, options.callTimeoutMs);
  if ("error" in first) return first;
  await sleep(options.windowSeconds * 1000);
  if (options.signal?.aborted) return { error: `interrupted (${String(options.signal.reason)}) before the second read` };
  const second = await readSidecar(runner, target, options.callTimeoutMs);
  if ("error" in second) return second;
  // Silence is no evidence: only what the sidecar counted as the destination speaks of what arrived at it. Series it
  // reported as a source (its own outgoing calls), or a metric's TYPE line with no series, prove nothing inbound.
  const inspected = first.tlsNotFound !== undefined && second.tlsNotFound !== undefined;
  if (second.destinationSeries === 0 && !inspected) {
    return {
      error:
        first.destinationSeries > 0
          ? `the inbound Istio series of ${target.workload}'s sidecar vanished between the reads (it restarted, or another pod answered): what arrived in between is unknown`
          : `the sidecar of ${target.workload} reported no inbound (reporter="destination") Istio series and no tls_inspector counter: nothing says what arrives at it`,
    };
  }

  const callers = new Map<string, PlaintextCaller>();
  for (const [key, now] of second.samples) {
    const before = first.samples.get(key)?.value ?? 0;
    const grew = now.value >= before ? now.value - before : now.value; // went down: the sidecar restarted
    if (grew > 0) addCaller(callers, now.source, now.metric, grew);
  }
  const via = [`sidecar of ${target.workload}, read ${options.windowSeconds}s apart`];
  if (first.tlsNotFound !== undefined && second.tlsNotFound !== undefined) {
    const grew = second.tlsNotFound >= first.tlsNotFound ? second.tlsNotFound - first.tlsNotFound : second.tlsNotFound;
    // Connections that were not TLS, whoever sent them; counted only when Istio's metrics saw nothing.
    if (grew > 0 && callers.size === 0) addCaller(callers, "unknown", "tls_inspector", grew);
    via.push(`tls_inspector.tls_not_found +${grew}`);
  }
  return { callers: [...callers.values()], via: via.join("; ") };
}
