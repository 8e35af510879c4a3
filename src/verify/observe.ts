import type { Edge, Outcome } from "../model/expectations";
import type { Workload } from "../model/rollout";
import { ChainHop, classifyProbe, counterGrowth, countsFromSource, echoedXfcc, fakeServiceHops, xfccClientUri } from "./evidence";
import { kubectlFailure } from "../cluster/failure";
import { podOf } from "../cluster/podOf";
import type { KubectlRunner, RunResult } from "../cluster/runner";

export type Observed = Outcome | "inconclusive";

export interface Observation {
  observed: Observed;
  /** What the verdict rests on, or why there is none. */
  evidence: string;
  /** The upstream calls a fake-service server reported making. */
  chain?: ChainHop[];
}

export interface ProbeTarget {
  edge: Edge;
  client: Workload;
  server: Workload;
}

export interface ProbeTiming {
  /** curl's own --max-time, in seconds. */
  curlMaxTimeSeconds: number;
  /** How long one kubectl call may take, curl included. */
  callTimeoutMs: number;
  /** No call may run past this moment (epoch ms). */
  deadline?: number;
}

/** The time one more call may take, or 0 when the deadline has passed. */
function timeLeft(timing: ProbeTiming): number {
  const untilDeadline = timing.deadline === undefined ? Infinity : timing.deadline - Date.now();
  return Math.max(0, Math.min(timing.callTimeoutMs, untilDeadline));
}

const DEADLINE_PASSED = "the deadline passed before the probe could run";

/** A call the run's deadline cut short, not its own timeout: it observed nothing about the edge. */
function cutByDeadline(result: RunResult, timeout: number, timing: ProbeTiming): boolean {
  return result.timedOut && timeout < timing.callTimeoutMs;
}

/** The kubectl arguments of one probe: curl from the client's container to the service port. */
export function probeArgs(target: ProbeTarget, timing: ProbeTiming): string[] {
  const { client, server, edge } = target;
  return [
    "exec",
    "-n",
    client.namespace,
    podOf(client),
    "-c",
    client.container,
    "--",
    "curl",
    "-sS",
    "--max-time",
    String(timing.curlMaxTimeSeconds),
    "-w",
    "\\n%{http_code}",
    `http://${edge.host}:${edge.port}${server.probePath}`,
  ];
}

/** The kubectl arguments that read a server sidecar's Istio metrics. */
export function statsArgs(server: Pick<Workload, "namespace" | "name" | "kind">): string[] {
  return ["exec", "-n", server.namespace, podOf(server), "-c", "istio-proxy", "--", "pilot-agent", "request", "GET", "stats/prometheus"];
}

type CountsRead = { counts: Map<string, number>; error?: undefined } | { counts?: undefined; error: string };

async function readCounts(runner: KubectlRunner, target: ProbeTarget, timing: ProbeTiming): Promise<CountsRead> {
  const timeout = timeLeft(timing);
  if (timeout === 0) return { error: DEADLINE_PASSED };
  const result = await runner(statsArgs(target.server), timeout);
  if (cutByDeadline(result, timeout, timing)) return { error: DEADLINE_PASSED };
  if (result.exitCode !== 0) return { error: `metrics of ${target.server.ref} unreadable: ${kubectlFailure(result, timeout)}` };
  if (result.truncated) return { error: `metrics of ${target.server.ref} exceed what the verifier reads` };
  const read = countsFromSource(result.stdout, target.client);
  return "error" in read ? { error: `metrics of ${target.server.ref} unusable: ${read.error}` } : { counts: read.counts };
}

/**
 * Observes one edge. With sidecars on both ends the verdict needs evidence of mTLS: the XFCC
 * header httpbin echoes, else the server sidecar's destination-side counters for this client,
 * read before and after the probe (the verifier probes one server at a time for that reason).
 * `undefined` when the deadline left no time to observe anything.
 */
export async function observeEdge(runner: KubectlRunner, target: ProbeTarget, timing: ProbeTiming): Promise<Observation | undefined> {
  const { client, server } = target;
  const bothMeshed = client.sidecar && server.sidecar;
  const before = bothMeshed ? await readCounts(runner, target, timing) : undefined;

  const timeout = timeLeft(timing);
  // Out of time: say what used it up if a call hung, else report nothing new for this round.
  if (timeout === 0)
    return before?.error && before.error !== DEADLINE_PASSED ? { observed: "inconclusive", evidence: before.error } : undefined;
  const result = await runner(probeArgs(target, timing), timeout);
  if (cutByDeadline(result, timeout, timing)) return undefined;
  const probe = classifyProbe(result, timeout, client.sidecar);
  if (probe.kind === "inconclusive") return { observed: "inconclusive", evidence: probe.reason };
  if (probe.kind === "refused") return { observed: "refused", evidence: probe.evidence };

  const chain = fakeServiceHops(probe.body);
  const withChain = (o: Observation): Observation => (chain && chain.length > 0 ? { ...o, chain } : o);
  // httpbin's echo is direct evidence, whatever the rollout says about sidecars.
  const xfcc = echoedXfcc(probe.body);
  if (typeof xfcc === "string") {
    return withChain({ observed: "mtls", evidence: `HTTP ${probe.status}; X-Forwarded-Client-Cert URI=${xfccClientUri(xfcc) ?? "?"}` });
  }
  if (xfcc === null) return withChain({ observed: "plaintext", evidence: `HTTP ${probe.status}; no X-Forwarded-Client-Cert echoed` });
  if (!client.sidecar) return withChain({ observed: "plaintext", evidence: `HTTP ${probe.status}; the client has no sidecar` });
  if (!server.sidecar) return withChain({ observed: "plaintext", evidence: `HTTP ${probe.status}; the server has no sidecar` });

  const after = await readCounts(runner, target, timing);
  if (after.error === DEADLINE_PASSED) return undefined;
  if (!before?.counts || !after.counts) {
    return withChain({
      observed: "inconclusive",
      evidence: `HTTP ${probe.status}; no evidence obtainable: ${before?.error ?? after.error}`,
    });
  }
  const growth = counterGrowth(before.counts, after.counts);
  const mtls = growth.get("mutual_tls") ?? 0;
  const other = [...growth].filter(([policy]) => policy !== "mutual_tls").reduce((sum, [, n]) => sum + n, 0);
  const source = `${client.namespace}/${client.name}`;
  if (mtls > 0 && other === 0) {
    return withChain({ observed: "mtls", evidence: `HTTP ${probe.status}; ${server.ref} counted +${mtls} mutual_tls from ${source}` });
  }
  if (other > 0 && mtls === 0) {
    return withChain({
      observed: "plaintext",
      evidence: `HTTP ${probe.status}; ${server.ref} counted +${other} without mTLS from ${source}`,
    });
  }
  return withChain({
    observed: "inconclusive",
    evidence:
      mtls > 0
        ? `HTTP ${probe.status}; ${server.ref} counted both mTLS and plaintext requests from ${source}`
        : `HTTP ${probe.status}; no evidence obtainable: ${server.ref} counted no request from ${source}`,
  });
}
