/**
 * The declared calls, verified from the traffic itself: what the callee's sidecar counted from the
 * caller (`istio_requests_total` and `istio_tcp_connections_opened_total`, reporter destination, by
 * `connection_security_policy`) between a read at the start of the run and one at its end.
 */
import { kubectlFailure } from "../cluster/failure";
import { parseSamples } from "../cluster/promText";
import type { KubectlRunner } from "../cluster/runner";
import type { Edge } from "../model/expectations";
import type { Workload } from "../model/rollout";
import { counterGrowth, COUNTERS_WENT_DOWN, REQUEST_METRICS } from "./evidence";
import type { Observed } from "./observe";
import { statsArgs } from "./observe";
import { pool } from "../cluster/pool";

export type CallVerdict = "holds" | "contradicts" | "unverified";

export interface CallResult extends Edge {
  observed: Observed | null;
  verdict: CallVerdict;
  evidence: string;
}

/** Requests and connections a sidecar counted, by `namespace/workload` source, then by security policy. */
type BySource = Map<string, Map<string, number>>;
export type DestinationReads = Map<string, BySource | { error: string }>;

async function readDestination(runner: KubectlRunner, server: Workload, timeoutMs: number): Promise<BySource | { error: string }> {
  const result = await runner(statsArgs(server), timeoutMs);
  if (result.exitCode !== 0) return { error: `metrics of ${server.ref} unreadable: ${kubectlFailure(result, timeoutMs)}` };
  const parsed = parseSamples(result.stdout, REQUEST_METRICS);
  if (parsed.malformed.length > 0) return { error: `metrics of ${server.ref} unusable: unreadable Istio sample: ${parsed.malformed[0]}` };
  const bySource: BySource = new Map();
  for (const s of parsed.samples) {
    if (s.labels.reporter !== "destination") continue;
    const source = `${s.labels.source_workload_namespace}/${s.labels.source_workload}`;
    const policies = bySource.get(source) ?? new Map<string, number>();
    const policy = s.labels.connection_security_policy ?? "unknown";
    policies.set(policy, (policies.get(policy) ?? 0) + s.value);
    bySource.set(source, policies);
  }
  return bySource;
}

/** The callees worth reading: the ones with a sidecar, which count what they receive and from whom. */
export async function readDestinations(
  runner: KubectlRunner,
  calls: readonly Edge[],
  byRef: ReadonlyMap<string, Workload>,
  timeoutMs: number,
  concurrency: number,
): Promise<DestinationReads> {
  const servers = [...new Set(calls.map((c) => c.to))].map((ref) => byRef.get(ref)!).filter((w) => w.sidecar);
  // `concurrency` reads at once, all within `timeoutMs`: a callee whose turn comes after it is not read.
  const until = Date.now() + timeoutMs;
  const reads: DestinationReads = new Map();
  await pool(servers, concurrency, async (w) => {
    const left = until - Date.now();
    reads.set(
      w.ref,
      left > 0 ? await readDestination(runner, w, left) : { error: `metrics of ${w.ref} not read: no time left in the read` },
    );
  });
  // In the callees' order, whatever order the reads ended in.
  return new Map(servers.map((w) => [w.ref, reads.get(w.ref)!]));
}

/** Each declared call's verdict from the two reads; calls without traffic in between are unverified, and say so. */
export function judgeCalls(
  calls: readonly Edge[],
  byRef: ReadonlyMap<string, Workload>,
  before: DestinationReads,
  after: DestinationReads,
  elapsedMs: number,
): CallResult[] {
  return calls.map((call): CallResult => {
    const client = byRef.get(call.from)!;
    const server = byRef.get(call.to)!;
    const unverified = (evidence: string): CallResult => ({ ...call, observed: null, verdict: "unverified", evidence });
    if (!server.sidecar) return unverified(`${server.ref} has no sidecar, so nothing counts what it receives`);
    if (!client.sidecar) return unverified(`${client.ref} has no sidecar, so Istio counts its calls as from unknown`);
    const b = before.get(server.ref) ?? { error: `${server.ref} was not read` };
    const a = after.get(server.ref) ?? { error: `${server.ref} was not read` };
    if ("error" in b) return unverified(b.error);
    if ("error" in a) return unverified(a.error);
    const growth = counterGrowth(b.get(client.ref) ?? new Map<string, number>(), a.get(client.ref) ?? new Map<string, number>());
    if (growth === undefined) return unverified(COUNTERS_WENT_DOWN(server.ref));
    const mtls = growth.get("mutual_tls") ?? 0;
    const plain = [...growth].filter(([policy]) => policy !== "mutual_tls").reduce((sum, [, n]) => sum + n, 0);
    const seen = `${server.ref} counted +${mtls} mutual_tls and +${plain} without mTLS from ${client.ref} in ${(elapsedMs / 1000).toFixed(0)}s`;
    if (mtls === 0 && plain === 0) {
      return unverified(`no traffic from ${client.ref} to ${server.ref} during the run (${(elapsedMs / 1000).toFixed(0)}s)`);
    }
    if (call.expect === "refused")
      return {
        ...call,
        observed: plain > 0 ? "plaintext" : "mtls",
        verdict: "contradicts",
        evidence: `${seen}, but the model expects the call refused`,
      };
    const observed = plain > 0 ? "plaintext" : "mtls";
    return { ...call, observed, verdict: observed === call.expect ? "holds" : "contradicts", evidence: seen };
  });
}
