import { closestName, someNames } from "./suggest";
import { type Coverage, coverageOf } from "./coverage";
import { InputError, Problem, describeValue } from "./errors";
import { Edge, edgesTo } from "./expectations";
import { clientTlsOf } from "./rollout";
import type {
  BrokenCallAcknowledgement,
  FindingAcknowledgement,
  PeerAuthentication,
  PortAcknowledgement,
  Rollout,
  Stage,
  Workload,
} from "./rollout";
import { evaluateStage, Violation } from "./rules";
import {
  acknowledgementsInForceAt,
  DormantPolicy,
  dormantPoliciesAt,
  findingAcknowledgementsAt,
  policiesInForceAt,
  unverifiableAcknowledgementsAt,
} from "./stages";
import type { MtlsMode, ResolvedMode } from "./schema";
import { EffectiveWorkload, Scope, scopeOf } from "./semantics";

export interface PlannedPolicy {
  namespace: string;
  name: string;
  selector: Record<string, string> | null;
  mode: MtlsMode;
  portLevelMtls: Record<string, MtlsMode>;
  scope: Scope;
  /** The stage whose declaration of this policy is in force. */
  definedIn: string;
  /** The accepted reason for a DISABLE, from the rollout file's allowDisable. */
  allowDisable?: string;
  /** It was on the cluster before the rollout: the stack adopts it and never deletes it. */
  existing?: true;
}

export interface PlannedWorkload {
  namespace: string;
  name: string;
  sidecar: boolean;
  mode: ResolvedMode | null;
  ports: Record<string, ResolvedMode>;
  probe: boolean;
  /** Only some of its pods run a sidecar (`sidecar: partial`): `mode` and `ports` are theirs, the others have none. */
  partial?: true;
}

export interface Plan {
  stage: string;
  description?: string;
  meshRootNamespace: string;
  peerAuthentications: PlannedPolicy[];
  workloads: PlannedWorkload[];
  /** Every probe workload to every Service port of every other workload: what verification checks. */
  expectations: Edge[];
  /** The rollout's declared `calls`, with the same verdicts. */
  calls: Edge[];
  warnings: Problem[];
  /** The guardrail rules' findings for this stage. */
  violations: Violation[];
  /** Policies of later stages, declared without effect so that moving between stages only updates objects. */
  dormant: DormantPolicy[];
  /** Declared calls this stage, or an earlier one, accepts to break. */
  acknowledgeBrokenCalls: BrokenCallAcknowledgement[];
  /** Guardrail findings this stage, or an earlier one, accepts (the cluster as discover found it). */
  acknowledgeFindings: FindingAcknowledgement[];
  /** Workload ports whose edges this stage, or an earlier one, accepts to pass without proof (verify's `unverifiable`). */
  acknowledgeUnverifiable: PortAcknowledgement[];
  /** Workload ports this stage accepts finding plaintext at (the pre-flight gate). */
  acknowledgePlaintext: PortAcknowledgement[];
  /** The ports of workloads with a sidecar that are STRICT, and what keeps each other one open. */
  coverage: Coverage;
}

function unknownStageHint(rollout: Rollout, name: string): string {
  const names = rollout.stages.map((s) => s.name);
  const closest = closestName(name, names);
  return `${closest !== undefined ? `did you mean ${describeValue(closest)}? ` : ""}the rollout has ${someNames(names)}`;
}

export function findStage(rollout: Rollout, name: string): { stage: Stage; index: number } {
  const index = rollout.stages.findIndex((s) => s.name === name);
  if (index < 0) {
    throw new InputError([{ path: "stage", message: `unknown stage ${describeValue(name)}; ${unknownStageHint(rollout, name)}` }]);
  }
  return { stage: rollout.stages[index], index };
}

/** The policies in force at a stage, with the stage whose declaration of each is in force. */
export function policiesInForce(rollout: Rollout, stageName: string): { policy: PeerAuthentication; definedIn: string }[] {
  return policiesInForceAt(rollout, findStage(rollout, stageName).index);
}

function plannedWorkload(e: EffectiveWorkload<Workload>): PlannedWorkload {
  const w = e.workload;
  return {
    namespace: w.namespace,
    name: w.name,
    sidecar: w.sidecar,
    mode: e.mode,
    ports: Object.fromEntries([...e.ports].map(([port, mode]) => [String(port), mode])),
    probe: w.probe,
    ...(w.partial ? { partial: true as const } : {}),
  };
}

/** Everything a stage means: its policies, the effective modes, and the expected outcome of every edge. */
export function buildPlan(rollout: Rollout, stageName: string): Plan {
  const { stage, index: stageIndex } = findStage(rollout, stageName);
  const inForce = policiesInForceAt(rollout, stageIndex);
  const acknowledgeBrokenCalls = acknowledgementsInForceAt(rollout, stageIndex);
  const acknowledgeFindings = findingAcknowledgementsAt(rollout, stageIndex);
  // The rules' own index and effective modes: a 10,000-workload stage is resolved once.
  const { violations, index, effective } = evaluateStage({
    stage: stage.name,
    meshRootNamespace: rollout.meshRootNamespace,
    policies: inForce.map((p) => p.policy),
    workloads: rollout.workloads,
    acknowledgeBrokenCalls,
    acknowledgeFindings,
    clientTls: clientTlsOf(rollout),
  });
  if (index.problems.length > 0) {
    throw new InputError(index.problems);
  }
  const probes = rollout.workloads.filter((w) => w.probe);
  const expectations = probes.flatMap((client) =>
    effective.filter((server) => server.workload !== client).flatMap((server) => edgesTo(client, server, index)),
  );
  const byRef = new Map(effective.map((e) => [e.workload.ref, e]));
  // At the first stage (the cluster as found), a call Prometheus saw otherwise than the model expects it is expected as
  // seen, with both said: what the cluster does there is a fact, where the model misses something of it.
  const asSeen = (client: Workload, edge: Edge): Edge => {
    const seen = stageIndex === 0 ? client.observedCalls?.[edge.to] : undefined;
    if (!seen || seen.observed === edge.expect) return edge;
    return {
      ...edge,
      expect: seen.observed,
      reason: `Prometheus saw ${seen.observed} (${seen.requests} requests) where the model expects ${edge.expect} (${edge.reason})`,
    };
  };
  const calls = rollout.workloads.flatMap((client) =>
    client.calls.flatMap((to) => edgesTo(client, byRef.get(to)!, index).map((e) => asSeen(client, e))),
  );
  return {
    stage: stage.name,
    description: stage.description,
    meshRootNamespace: rollout.meshRootNamespace,
    peerAuthentications: inForce.map(({ policy, definedIn }) => ({
      namespace: policy.namespace,
      name: policy.name,
      selector: policy.selector,
      mode: policy.mode,
      portLevelMtls: Object.fromEntries(Object.entries(policy.portLevelMtls ?? {})),
      scope: scopeOf(policy, rollout.meshRootNamespace),
      definedIn,
      ...(policy.allowDisable !== undefined ? { allowDisable: policy.allowDisable } : {}),
      ...(policy.existing ? { existing: true as const } : {}),
    })),
    workloads: effective.map(plannedWorkload),
    expectations,
    calls,
    warnings: rollout.warnings,
    violations,
    dormant: dormantPoliciesAt(rollout, stageIndex),
    acknowledgeBrokenCalls,
    acknowledgeFindings,
    acknowledgeUnverifiable: unverifiableAcknowledgementsAt(rollout, stageIndex),
    acknowledgePlaintext: stage.acknowledgePlaintext,
    coverage: coverageOf(effective),
  };
}
