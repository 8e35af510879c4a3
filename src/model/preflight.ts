/**
 * The pre-flight gate's model: which workload ports a stage tightens to STRICT, and the verdict on
 * the plaintext traffic observed at them. Pure; src/preflight gathers the evidence.
 */
import { buildPlan } from "./plan";
import type { PlaintextAcknowledgement, Rollout } from "./rollout";

export interface Target {
  /** `namespace/workload` */
  workload: string;
  namespace: string;
  name: string;
  /** The workload ports that turn STRICT at this stage. */
  ports: number[];
}

/** Ports STRICT at `stage` and not STRICT at `previous`; with no previous stage, every STRICT port. */
export function tightenedTargets(rollout: Rollout, stage: string, previous: string | null): Target[] {
  const now = buildPlan(rollout, stage);
  const before = previous === null ? undefined : buildPlan(rollout, previous);
  const wasStrict = new Set(
    (before?.workloads ?? []).flatMap((w) =>
      Object.entries(w.ports)
        .filter(([, mode]) => mode === "STRICT")
        .map(([port]) => `${w.namespace}/${w.name}:${port}`),
    ),
  );
  return now.workloads.flatMap((w) => {
    const ports = Object.entries(w.ports)
      .filter(([port, mode]) => mode === "STRICT" && !wasStrict.has(`${w.namespace}/${w.name}:${port}`))
      .map(([port]) => Number(port));
    return ports.length === 0 ? [] : [{ workload: `${w.namespace}/${w.name}`, namespace: w.namespace, name: w.name, ports }];
  });
}

/** Plaintext seen arriving at a workload during the window, by caller (`unknown` when the metric cannot name it). */
export interface PlaintextCaller {
  source: string;
  requests: number;
  connections: number;
}

/** What was observed at one target: the callers, or why there is no evidence. */
export type TargetEvidence = { callers: PlaintextCaller[]; via: string } | { error: string };

export interface TargetVerdict extends Target {
  verdict: "pass" | "fail" | "inconclusive";
  callers: PlaintextCaller[];
  evidence: string;
  /** The stage accepts plaintext here, for this reason: reported, and it does not stop the update. */
  acknowledged?: string;
}

export interface GateResult {
  stage: string;
  previous: string | null;
  outcome: "pass" | "fail" | "inconclusive";
  targets: TargetVerdict[];
}

export function judgeTargets(
  stage: string,
  previous: string | null,
  targets: Target[],
  evidence: Map<string, TargetEvidence>,
  acknowledged: readonly PlaintextAcknowledgement[],
): GateResult {
  const verdicts = targets.map((t): TargetVerdict => {
    const seen = evidence.get(t.workload) ?? { error: "no evidence gathered" };
    const ack = acknowledged.find((a) => t.ports.some((p) => a.target === `${t.workload}:${p}`));
    const base = { ...t, ...(ack ? { acknowledged: ack.reason } : {}) };
    if ("error" in seen) return { ...base, verdict: "inconclusive", callers: [], evidence: seen.error };
    const callers = seen.callers.filter((c) => c.requests > 0 || c.connections > 0);
    if (callers.length === 0) return { ...base, verdict: "pass", callers, evidence: `no plaintext in the window (${seen.via})` };
    const who = callers.map((c) => `${c.source} (${c.requests} requests, ${c.connections} connections)`).join(", ");
    return { ...base, verdict: "fail", callers, evidence: `plaintext from ${who} (${seen.via})` };
  });
  const blocking = verdicts.filter((v) => v.acknowledged === undefined);
  const outcome = blocking.some((v) => v.verdict === "fail")
    ? "fail"
    : blocking.some((v) => v.verdict === "inconclusive")
      ? "inconclusive"
      : "pass";
  return { stage, previous, outcome, targets: verdicts };
}
