import type { BrokenCallAcknowledgement, FindingAcknowledgement, PeerAuthentication, PortAcknowledgement, Rollout } from "./rollout";

/**
 * Stage k applies the policies of stages 1..k; a later declaration of the same namespace/name replaces the earlier one.
 * In the order Istio applies competing ones: the adopted first, as declared, then the stack's.
 */
export function policiesInForceAt(
  rollout: Pick<Rollout, "stages">,
  stageIndex: number,
): { policy: PeerAuthentication; definedIn: string }[] {
  const byId = new Map<string, { policy: PeerAuthentication; definedIn: string }>();
  for (const stage of rollout.stages.slice(0, stageIndex + 1)) {
    for (const policy of stage.peerAuthentications) {
      const id = `${policy.namespace}/${policy.name}`;
      // Adoption belongs to the object: a later declaration of an adopted policy is still of an adopted object.
      const adopted = byId.get(id)?.policy.existing && !policy.existing;
      byId.set(id, { policy: adopted ? { ...policy, existing: true } : policy, definedIn: stage.name });
    }
  }
  // Istio's order (the older first): an adopted policy was on the cluster before the stack created any, and a
  // discovered stage lists the cluster's in the order Istio applies them.
  const all = [...byId.values()];
  return [...all.filter((p) => p.policy.existing), ...all.filter((p) => !p.policy.existing)];
}

/** A policy of a later stage, present on the cluster but without effect until its stage. */
export interface DormantPolicy {
  namespace: string;
  name: string;
  /** Its first declaration has no selector. */
  wide: boolean;
  /** The stage that first declares it. */
  firstStage: string;
}

/**
 * The policies a stage does not apply yet. Declaring them dormant, instead of leaving them out, makes
 * every stage change an update of the same objects: Pulumi deletes only after the whole program has
 * run, so a policy left out would still be enforced while the stage's verification runs.
 */
export function dormantPoliciesAt(rollout: Pick<Rollout, "stages">, stageIndex: number): DormantPolicy[] {
  const inForce = new Set(policiesInForceAt(rollout, stageIndex).map(({ policy }) => `${policy.namespace}/${policy.name}`));
  const dormant = new Map<string, DormantPolicy>();
  for (const stage of rollout.stages.slice(stageIndex + 1)) {
    for (const pa of stage.peerAuthentications) {
      const key = `${pa.namespace}/${pa.name}`;
      if (!inForce.has(key) && !dormant.has(key)) {
        dormant.set(key, { namespace: pa.namespace, name: pa.name, wide: pa.selector === null, firstStage: stage.name });
      }
    }
  }
  return [...dormant.values()];
}

/** Acknowledged broken calls stay acknowledged in later stages, as the policies that break them stay in force. */
export function acknowledgementsInForceAt(rollout: Pick<Rollout, "stages">, stageIndex: number): BrokenCallAcknowledgement[] {
  const byCall = new Map<string, BrokenCallAcknowledgement>();
  for (const stage of rollout.stages.slice(0, stageIndex + 1)) {
    for (const ack of stage.acknowledgeBrokenCalls) byCall.set(`${ack.from} -> ${ack.to}`, ack);
  }
  return [...byCall.values()];
}

/** The stage before `stage` in the rollout, or null for the first (a fresh mesh is before it). */
export function stageBefore(rollout: Pick<Rollout, "stages">, stage: string): string | null {
  const index = rollout.stages.findIndex((s) => s.name === stage);
  return index > 0 ? rollout.stages[index - 1].name : null;
}

/** Unverifiable edges a stage accepts stay accepted in later stages: what decides them does not come with a stage. */
export function unverifiableAcknowledgementsAt(rollout: Pick<Rollout, "stages">, stageIndex: number): PortAcknowledgement[] {
  const byTarget = new Map<string, PortAcknowledgement>();
  for (const stage of rollout.stages.slice(0, stageIndex + 1)) {
    for (const ack of stage.acknowledgeUnverifiable) byTarget.set(ack.target, ack);
  }
  return [...byTarget.values()];
}

/** Findings a stage accepts stay accepted in later stages, as the live policies that cause them stay in force. */
export function findingAcknowledgementsAt(rollout: Pick<Rollout, "stages">, stageIndex: number): FindingAcknowledgement[] {
  const byFinding = new Map<string, FindingAcknowledgement>();
  for (const stage of rollout.stages.slice(0, stageIndex + 1)) {
    for (const ack of stage.acknowledgeFindings ?? []) byFinding.set(`${ack.rule} ${ack.resource}`, ack);
  }
  return [...byFinding.values()];
}
