/**
 * The pre-flight gate's model: which workload ports a stage tightens to STRICT, and the verdict on
 * the plaintext traffic observed at them. Pure; src/preflight gathers the evidence.
 */
import { liveKey, portModeOnEveryPod, type LiveState } from "./live";
import { buildPlan, policiesInForce } from "./plan";
import type { PortAcknowledgement, Rollout, WorkloadKind } from "./rollout";
import { PolicyIndex } from "./semantics";

export interface Target {
  /** `namespace/workload` */
  workload: string;
  namespace: string;
  name: string;
  kind: WorkloadKind;
  /** The workload ports that turn STRICT at this stage. */
  ports: number[];
  /**
   * Its ports that stay PERMISSIVE or DISABLE. Istio's metrics name no port, so plaintext seen at a
   * workload that keeps such a port cannot be pinned on the ports being tightened.
   */
  keepsPlaintextPorts: number[];
}

/**
 * What the cluster is at before the stage: a stage of the rollout, the live cluster as the model reads it (its
 * policies in Istio's order, dormant ones included, applied to the live pods), or nothing.
 */
export type Before = { stage: string } | { live: LiveState } | null;

/**
 * Ports STRICT at `stage` and not STRICT before it; with nothing before, every STRICT port. Against the live cluster
 * a port counts as STRICT before only when Istio makes it STRICT on every live pod of the workload: a pod without a
 * sidecar, or one another policy keeps open, leaves the port to the gate. A workload no pod of which runs counts by
 * what its template's pods would get: it receives nothing now, and its next pods get the stage's policies.
 */
export function tightenedTargets(rollout: Rollout, stage: string, before: Before): Target[] {
  const now = buildPlan(rollout, stage);
  let wasStrict: (w: Rollout["workloads"][number], port: number) => boolean;
  if (before !== null && "live" in before) {
    wasStrict = (w, port) => portModeOnEveryPod(before.live.workloads.get(liveKey(w.kind, w.ref)), port) === "STRICT";
  } else {
    const policiesBefore = before === null ? [] : policiesInForce(rollout, before.stage).map((p) => p.policy);
    const index = new PolicyIndex(policiesBefore, rollout.meshRootNamespace, "before");
    const strict = new Set(
      rollout.workloads.flatMap((w) =>
        [...index.effective(w).ports].filter(([, mode]) => mode === "STRICT").map(([port]) => `${w.ref}:${port}`),
      ),
    );
    wasStrict = (w, port) => strict.has(`${w.ref}:${port}`);
  }
  const byRef = new Map(rollout.workloads.map((w) => [w.ref, w]));
  return now.workloads.flatMap((w) => {
    const ref = `${w.namespace}/${w.name}`;
    const workload = byRef.get(ref)!;
    const strict = Object.entries(w.ports).filter(([, mode]) => mode === "STRICT");
    const ports = strict.filter(([port]) => !wasStrict(workload, Number(port))).map(([port]) => Number(port));
    const keepsPlaintextPorts = Object.entries(w.ports)
      .filter(([, mode]) => mode !== "STRICT")
      .map(([port]) => Number(port));
    return ports.length === 0
      ? []
      : [{ workload: ref, namespace: w.namespace, name: w.name, kind: workload.kind, ports, keepsPlaintextPorts }];
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

/**
 * What to do about plaintext Istio could not attribute. A client without a sidecar sends no peer metadata, so the
 * server's sidecar records it as `unknown`; its address is only in that sidecar's access log.
 */
function unknownCallerNextStep(t: Target): string {
  return (
    `: "unknown" is a client without a sidecar (it sends no peer metadata); its address is in ${t.workload}'s access log ` +
    `(kubectl logs -n ${t.namespace} ${t.kind.toLowerCase()}/${t.name} -c istio-proxy, where the mesh writes one). ` +
    `A scraper reading an application port directly (not Istio's merged metrics on 15020) or a kubelet probe Istio does not rewrite counts as unknown too. ` +
    `Bring it into the mesh, or acknowledge the port in acknowledgePlaintext`
  );
}

export function judgeTargets(
  stage: string,
  previous: string | null,
  targets: Target[],
  evidence: Map<string, TargetEvidence>,
  acknowledged: readonly PortAcknowledgement[],
): GateResult {
  const verdicts = targets.map((t): TargetVerdict => {
    const seen = evidence.get(t.workload) ?? { error: "no evidence gathered" };
    const ack = acknowledged.find((a) => t.ports.some((p) => a.target === `${t.workload}:${p}`));
    const base = { ...t, ...(ack ? { acknowledged: ack.reason } : {}) };
    if ("error" in seen) return { ...base, verdict: "inconclusive", callers: [], evidence: seen.error };
    const callers = seen.callers.filter((c) => c.requests > 0 || c.connections > 0);
    if (callers.length === 0) return { ...base, verdict: "pass", callers, evidence: `no plaintext in the window (${seen.via})` };
    const who = callers.map((c) => `${c.source} (${c.requests} requests, ${c.connections} connections)`).join(", ");
    if (t.keepsPlaintextPorts.length > 0) {
      return {
        ...base,
        verdict: "inconclusive",
        callers,
        evidence: `plaintext from ${who}, but ${t.workload} keeps port(s) ${t.keepsPlaintextPorts.join(", ")} open to plaintext and the metrics name no port (${seen.via})`,
      };
    }
    const nextStep = callers.some((c) => c.source === "unknown") ? unknownCallerNextStep(t) : "";
    return { ...base, verdict: "fail", callers, evidence: `plaintext from ${who} (${seen.via})${nextStep}` };
  });
  const blocking = verdicts.filter((v) => v.acknowledged === undefined);
  const outcome = blocking.some((v) => v.verdict === "fail")
    ? "fail"
    : blocking.some((v) => v.verdict === "inconclusive")
      ? "inconclusive"
      : "pass";
  return { stage, previous, outcome, targets: verdicts };
}
