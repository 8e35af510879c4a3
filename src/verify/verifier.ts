import type { Edge } from "../model/expectations";
import { groupBy } from "../model/groupBy";
import type { Plan } from "../model/plan";
import type { Rollout, Workload } from "../model/rollout";
import type { WorkloadStatus } from "../model/liveModes";
import type { ChainHop } from "./evidence";
import { Observation, Observed, observeEdge, ProbeTarget, ProbeTiming, type ServerPods } from "./observe";
import { pause } from "../cluster/pause";
import { CallResult, DestinationReads, judgeCalls, readDestinations } from "./calls";

/** Calls whose callees were not read, and why. */
const notRead = (calls: readonly Edge[], why: string): DestinationReads => new Map(calls.map((c) => [c.to, { error: `not read: ${why}` }]));

/** A read of the callees' counters at the start and the end of the run: short, so the run stays within its deadline. */
const CALL_READ_MS = 10_000;
import { boundedRunner, KubectlRunner } from "../cluster/runner";
import { pool } from "../cluster/pool";

/** `unverifiable`: no evidence on this cluster can decide it (said after the first round that counts, then not probed again). */
export type EdgeVerdict = "holds" | "contradicts" | "inconclusive" | "unverifiable";

export interface EdgeResult extends Edge {
  /** Other probe workloads of the same class (with or without sidecar) this probe stands for: the model expects the same of them. */
  standsFor: string[];
  observed: Observed | null;
  verdict: EdgeVerdict;
  evidence: string;
  /** Consecutive rounds on which the observation matched the expectation. */
  streak: number;
  /** Upstream hops (fake-service's report) that contradict the declared calls. */
  brokenHops: string[];
  /** Why the stage accepts it unverifiable (`acknowledgeUnverifiable`), when it does. */
  acknowledged?: string;
}

export interface VerificationResult {
  stage: string;
  outcome: "pass" | "fail" | "inconclusive";
  /** Every edge of the expectation matrix; `edges` are the ones probed for them. */
  matrixEdges: number;
  /** When the last probe had ended (epoch ms). */
  endedAt: number;
  /** The signal that ended the run early, if one did. */
  interrupted?: string;
  /** The declared calls, judged from what the callees' sidecars counted during the run. */
  calls: CallResult[];
  /**
   * Workloads to which the cluster, as read before the probes, does not give the stage's modes (its policies are
   * not the stage's, Istio applies an older one, a pod lacks its sidecar, the workload is not there): each fails the
   * verification, and nothing is probed.
   */
  liveDiffering: WorkloadStatus[];
  rounds: number;
  elapsedMs: number;
  requiredStreak: number;
  edges: EdgeResult[];
}

export interface VerifyOptions {
  /** Consecutive matching rounds that make an edge hold. */
  requiredStreak: number;
  /** The whole run ends by then, held or not. */
  timeoutMs: number;
  /** At most this many servers are probed at once; one server's edges run one after another. */
  concurrency: number;
  /** The least time between the starts of two rounds. */
  roundIntervalMs: number;
  /**
   * Rounds that start within this time of the start are probed but not counted: istiod pushes a
   * change after a debounce, and an edge whose answer did not change could otherwise pass on the
   * configuration the stage replaces.
   */
  settleMs: number;
  timing: ProbeTiming;
  /** `classes`: one probe per target port and client class (the model's outcome depends on nothing else); `full`: every pair. */
  matrix?: "classes" | "full";
  /** Ends the run early (Ctrl-C): no new call starts, and the result says so. */
  signal?: AbortSignal;
  /** A declared call without traffic during the run leaves the verification inconclusive (by default it is reported only). */
  requireCalls?: boolean;
  /** After each probe's observation. */
  onProbe?: () => void;
  /**
   * The cluster as read before the run (src/cluster/readLive.ts): the workloads whose live modes differ from the
   * stage's (src/model/liveModes.ts). When none do, every pod runs a sidecar exactly where the rollout says.
   */
  live?: {
    differing: WorkloadStatus[];
    /** Each workload's live pods (`namespace/name`): the sidecars of the servers' pods with one are read for evidence. */
    pods?: Map<string, ServerPods>;
  };
  onRound?: (progress: {
    round: number;
    held: number;
    total: number;
    contradicting: number;
    inconclusive: number;
    unverifiable: number;
    elapsedMs: number;
  }) => void;
}

/**
 * The edges to probe: every edge, or one per target port and client class, a probe in the server's
 * own namespace preferred (the likeliest to share its network policies), then the first declared.
 */
export function probedEdges(
  plan: Plan,
  byRef: ReadonlyMap<string, Workload>,
  matrix: "classes" | "full",
): { edge: Edge; standsFor: string[]; candidates: Edge[] }[] {
  if (matrix === "full") return plan.expectations.map((edge) => ({ edge, standsFor: [], candidates: [edge] }));
  const groups = new Map<string, Edge[]>();
  for (const edge of plan.expectations) {
    const key = `${edge.to} ${edge.host}:${edge.port} ${byRef.get(edge.from)!.sidecar}`;
    const group = groups.get(key);
    if (group) group.push(edge);
    else groups.set(key, [edge]);
  }
  return [...groups.values()].map((group) => {
    const serverNamespace = group[0].to.split("/")[0];
    const chosen = group.find((e) => e.from.split("/")[0] === serverNamespace) ?? group[0];
    // The others in order, should the chosen probe itself fail (its pod gone, no curl in it).
    const candidates = [chosen, ...group.filter((e) => e !== chosen)];
    return { edge: chosen, standsFor: candidates.slice(1).map((e) => e.from), candidates };
  });
}

/** Hops that break a declared call: a failed hop the model expects to work, or a working one it expects refused. */
export function brokenHops(chain: ChainHop[] | undefined, server: Workload, rollout: Rollout, calls: Edge[]): string[] {
  if (!chain) return [];
  const inNamespace = rollout.workloads.filter((w) => w.namespace === server.namespace);
  const byFakeName = (name: string, uri?: string) =>
    inNamespace.find((w) => w.name === name) ??
    inNamespace.find((w) => uri !== undefined && w.services.some((s) => new RegExp(`^https?://${s.name}(\\.|:|/|$)`).test(uri)));
  const problems: string[] = [];
  for (const hop of chain) {
    const from = byFakeName(hop.from);
    const to = byFakeName(hop.to, hop.uri);
    const ok = hop.code === 200 && !hop.error;
    const declared = from && to && calls.find((c) => c.from === from.ref && c.to === to.ref);
    const what = `${hop.from} -> ${hop.to}`;
    const failure = `${what} failed (${hop.code ?? "no code"}${hop.error ? `: ${hop.error}` : ""})`;
    if (!declared) {
      if (!ok) problems.push(`${failure}, an undeclared call`);
    } else if (declared.expect === "refused" && ok) problems.push(`${what} answered ${hop.code}, but the model expects it refused`);
    else if (declared.expect !== "refused" && !ok) problems.push(failure);
  }
  return problems;
}

function judge(edge: Edge, observation: Observation, hops: string[]): { matches: boolean; verdict: EdgeVerdict } {
  if (observation.observed === edge.expect && hops.length === 0) return { matches: true, verdict: "holds" };
  // Judged by the pod that took it: one without a sidecar (`sidecar: partial`) is outside the mesh, and plaintext is
  // what the model gives it. A port that should refuse never holds so: the guardrails keep partial workloads off STRICT.
  if (observation.byPodWithoutSidecar && observation.observed === "plaintext" && edge.expect !== "refused" && hops.length === 0) {
    return { matches: true, verdict: "holds" };
  }
  if (observation.observed === "inconclusive" || observation.observed === "unverifiable")
    return { matches: false, verdict: observation.observed };
  return { matches: false, verdict: "contradicts" };
}

/**
 * Probes every expectation edge of the plan in rounds until each has matched on `requiredStreak`
 * consecutive rounds, or the deadline passes. Istio pushes configuration asynchronously, so an edge
 * may change its answer between rounds; only a stable match holds.
 */
export async function verifyPlan(plan: Plan, rollout: Rollout, runner: KubectlRunner, options: VerifyOptions): Promise<VerificationResult> {
  const started = Date.now();
  const liveDiffering = options.live?.differing ?? [];
  const facts = { sidecarsRead: options.live !== undefined && liveDiffering.length === 0 };
  if (liveDiffering.length > 0) {
    // What the probes would show is known: the cluster does not enforce this stage. Say so now, not at the deadline.
    const why = "not probed: the cluster does not give every workload this stage's modes (see Live state)";
    return {
      stage: plan.stage,
      outcome: "fail",
      matrixEdges: plan.expectations.length,
      endedAt: Date.now(),
      calls: judgeCalls(
        plan.calls,
        new Map(rollout.workloads.map((w) => [w.ref, w])),
        notRead(plan.calls, why),
        notRead(plan.calls, why),
        0,
      ),
      liveDiffering,
      rounds: 0,
      elapsedMs: Date.now() - started,
      requiredStreak: options.requiredStreak,
      edges: probedEdges(plan, new Map(rollout.workloads.map((w) => [w.ref, w])), options.matrix ?? "classes").map(
        ({ edge, standsFor }) => ({
          ...edge,
          standsFor,
          observed: null,
          verdict: "inconclusive" as const,
          evidence: why,
          streak: 0,
          brokenHops: [],
        }),
      ),
    };
  }
  const deadline = started + options.timeoutMs;
  const run = boundedRunner(runner);
  const byRef = new Map(rollout.workloads.map((w) => [w.ref, w]));
  const probed = probedEdges(plan, byRef, options.matrix ?? "classes");
  const serverPods = (ref: string) => {
    const pods = options.live?.pods?.get(ref);
    return pods ? { serverPods: pods } : {};
  };
  const targets: ProbeTarget[] = probed.map(({ edge }) => ({
    edge,
    client: byRef.get(edge.from)!,
    server: byRef.get(edge.to)!,
    ...serverPods(edge.to),
  }));
  const signal = options.signal;
  const results: EdgeResult[] = probed.map(({ edge, standsFor }) => ({
    ...edge,
    standsFor,
    observed: null,
    verdict: "inconclusive",
    evidence: "not probed before the deadline",
    streak: 0,
    brokenHops: [],
  }));

  // The callees' counters when the first round that counts starts (traffic before istiod pushed the stage is
  // the old stage's), and at the end: what the declared calls sent in between is the difference. Bounded by a
  // share of the run, and read alongside that round, so that a cluster that does not answer costs no probe time.
  const callRead = Math.min(options.timing.callTimeoutMs, CALL_READ_MS, Math.max(100, options.timeoutMs / 4));
  // The probes stop that much before the deadline when calls are declared, so that the callees' counters are read at
  // the end even when an edge contradicts until the deadline: a failing run is when that evidence matters most.
  const probeDeadline = plan.calls.length > 0 ? deadline - callRead : deadline;
  let callsBefore: Promise<DestinationReads> | undefined;
  let rounds = 0;
  // Each server's edges one after another, some servers at once; another probe of an edge's class keeps its server.
  const byServer = [
    ...groupBy(
      results.map((_, i) => i),
      (i) => targets[i].server.ref,
    ).values(),
  ];
  // An edge is done once it holds, or once as many rounds in a row that count found it unverifiable: what makes it so
  // is the cluster's (no listener counter, no access log), and --rounds of them show it is not the moment's.
  const unverifiableStreak = new Map<EdgeResult, number>();
  const unverifiable = new Set<EdgeResult>();
  // Edges that contradicted in a round that counts, with what was seen: an acknowledgement never covers them.
  const contradicted = new Map<EdgeResult, string>();
  const settled = (r: EdgeResult) => r.streak >= options.requiredStreak || unverifiable.has(r);
  while (results.some((r) => !settled(r)) && Date.now() < probeDeadline && !signal?.aborted) {
    const roundStarted = Date.now();
    rounds++;
    // Every edge, every round: an edge that held may still change while the push propagates.
    const counts = roundStarted >= started + options.settleMs;
    if (counts && !callsBefore) callsBefore = readDestinations(run, plan.calls, byRef, callRead, options.concurrency);

    await pool(byServer, options.concurrency, async (indices) => {
      for (const i of indices) {
        if (Date.now() >= probeDeadline || signal?.aborted) return;
        if (unverifiable.has(results[i])) continue;
        const observation = await observeEdge(run, targets[i], { ...options.timing, deadline: probeDeadline }, facts);
        if (!observation || signal?.aborted) return; // the last real observation stands
        options.onProbe?.();
        const hops = brokenHops(observation.chain, targets[i].server, rollout, plan.calls);
        const { matches, verdict } = judge(targets[i].edge, observation, hops);
        const r = results[i];
        r.observed = observation.observed;
        r.evidence = observation.evidence;
        r.brokenHops = hops;
        r.streak = matches ? r.streak + (counts ? 1 : 0) : 0;
        r.verdict = verdict;
        if (verdict === "contradicts" && counts && !contradicted.has(r)) contradicted.set(r, `round ${rounds}: ${observation.evidence}`);
        const inARow = verdict === "unverifiable" && counts ? (unverifiableStreak.get(r) ?? 0) + 1 : 0;
        unverifiableStreak.set(r, inARow);
        if (inARow >= options.requiredStreak) unverifiable.add(r);
        // Inconclusive from this probe: the next round asks another of its class, if there is one.
        const group = probed[i].candidates;
        if (verdict === "inconclusive" && group.length > 1) {
          const next = group[(group.indexOf(targets[i].edge) + 1) % group.length];
          targets[i] = { ...targets[i], edge: next, client: byRef.get(next.from)! };
          Object.assign(r, { from: next.from, standsFor: group.filter((e) => e !== next).map((e) => e.from) });
        }
      }
    });

    if (signal?.aborted) break;
    options.onRound?.({
      round: rounds,
      elapsedMs: Date.now() - started,
      total: results.length,
      held: results.filter((r) => r.streak >= options.requiredStreak).length,
      contradicting: results.filter((r) => r.verdict === "contradicts").length,
      inconclusive: results.filter((r) => r.verdict === "inconclusive").length,
      unverifiable: results.filter((r) => r.verdict === "unverifiable").length,
    });
    const wait = Math.min(options.roundIntervalMs - (Date.now() - roundStarted), probeDeadline - Date.now());
    if (results.some((r) => !settled(r)) && wait > 0) await pause(wait, signal);
  }

  const acknowledged = new Map(plan.acknowledgeUnverifiable.map((a) => [a.target, a.reason]));
  for (const r of results) {
    if (signal?.aborted && r.observed === null) r.evidence = `not probed: interrupted (${String(signal.reason)})`;
    if (r.verdict === "unverifiable" && contradicted.has(r)) {
      // Plaintext (or a refusal) it should not have had, seen earlier in the run: no acknowledgement covers that.
      r.evidence = `${r.evidence}; it contradicted its expectation earlier (${contradicted.get(r)})`;
    } else if (r.verdict === "unverifiable" && acknowledged.has(`${r.to}:${r.targetPort}`)) {
      r.acknowledged = acknowledged.get(`${r.to}:${r.targetPort}`);
    }
    if (r.verdict === "holds" && r.streak < options.requiredStreak) {
      // Matched, but not long enough to call it stable.
      r.verdict = "inconclusive";
      r.evidence = `${r.evidence} (matched on ${r.streak} of ${options.requiredStreak} consecutive rounds before the deadline)`;
    }
  }
  // The last read may not run past the deadline either.
  const left = Math.min(callRead, deadline - Date.now());
  const why = signal?.aborted ? "interrupted" : !callsBefore ? "the run ended within its settle time" : "the deadline passed";
  const callsAfter =
    signal?.aborted || !callsBefore || left <= 0
      ? notRead(plan.calls, why)
      : await readDestinations(run, plan.calls, byRef, left, options.concurrency);
  const calls = judgeCalls(plan.calls, byRef, (await callsBefore) ?? notRead(plan.calls, why), callsAfter, Date.now() - started);
  // Nothing probed is nothing observed: never a pass. A declared call that contradicts fails like an edge.
  const outcome =
    results.length === 0
      ? "inconclusive"
      : results.some((r) => r.verdict === "contradicts") || calls.some((c) => c.verdict === "contradicts")
        ? "fail"
        : results.some((r) => r.verdict === "inconclusive") ||
            results.some((r) => r.verdict === "unverifiable" && r.acknowledged === undefined) ||
            (options.requireCalls && calls.some((c) => c.verdict === "unverified"))
          ? "inconclusive"
          : "pass";
  return {
    stage: plan.stage,
    outcome,
    matrixEdges: plan.expectations.length,
    endedAt: Date.now(),
    calls,
    liveDiffering: [],
    ...(signal?.aborted ? { interrupted: String(signal.reason ?? "interrupted") } : {}),
    rounds,
    elapsedMs: Date.now() - started,
    requiredStreak: options.requiredStreak,
    edges: results,
  };
}
