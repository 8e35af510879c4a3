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
  const everAdopted = new Set<string>();
  for (const stage of rollout.stages.slice(0, stageIndex + 1)) {
    // A retired policy leaves the policies in force from its stage on (it stays on the cluster, dormant).
    for (const r of stage.retire ?? []) byId.delete(`${r.namespace}/${r.name}`);
    for (const policy of stage.peerAuthentications) {
      const id = `${policy.namespace}/${policy.name}`;
      if (policy.existing) everAdopted.add(id);
      // Adoption belongs to the object: a later declaration of an adopted policy is still of an adopted object.
      const adopted = everAdopted.has(id) && !policy.existing;
      // Server-side apply removes a field only its own manager set: a port entry of an adopted policy (its creator's)
      // that a later declaration leaves out would stay on the cluster. Said UNSET instead, it is the stack's and inherits.
      const before = byId.get(id)?.policy.portLevelMtls ?? {};
      const dropped = everAdopted.has(id) ? Object.keys(before).filter((port) => !(port in (policy.portLevelMtls ?? {}))) : [];
      const declared =
        dropped.length > 0
          ? {
              ...policy,
              portLevelMtls: {
                ...(policy.portLevelMtls ?? {}),
                ...Object.fromEntries(dropped.map((port) => [Number(port), "UNSET" as const])),
              },
            }
          : policy;
      byId.set(id, { policy: adopted ? { ...declared, existing: true } : declared, definedIn: stage.name });
    }
  }
  // Istio's order (the older first): an adopted policy was on the cluster before the stack created any, and a
  // discovered stage lists the cluster's in the order Istio applies them.
  const all = [...byId.values()];
  return [...all.filter((p) => p.policy.existing), ...all.filter((p) => !p.policy.existing)];
}

/** A policy of another stage, present on the cluster but without effect: a later stage's, or one retired. */
export interface DormantPolicy {
  namespace: string;
  name: string;
  /** Its first declaration has no selector. */
  wide: boolean;
  /** The stage that first declares it. */
  firstStage: string;
  /** It was adopted (on the cluster before the stack): retired, it stays there when the stack lets go. */
  adopted?: true;
}

/**
 * The policies a stage does not apply: those of later stages, and those an earlier stage retired. Declaring them
 * dormant, instead of leaving them out, makes every stage change an update of the same objects: Pulumi deletes only
 * after the whole program has run, so a policy left out would still be enforced while the stage's verification runs.
 */
export function dormantPoliciesAt(rollout: Pick<Rollout, "stages">, stageIndex: number): DormantPolicy[] {
  const inForce = new Set(policiesInForceAt(rollout, stageIndex).map(({ policy }) => `${policy.namespace}/${policy.name}`));
  const dormant = new Map<string, DormantPolicy>();
  for (const stage of rollout.stages) {
    for (const pa of stage.peerAuthentications) {
      const key = `${pa.namespace}/${pa.name}`;
      if (inForce.has(key)) continue;
      const known = dormant.get(key);
      if (!known) {
        dormant.set(key, {
          namespace: pa.namespace,
          name: pa.name,
          wide: pa.selector === null,
          firstStage: stage.name,
          ...(pa.existing ? { adopted: true as const } : {}),
        });
      } else if (pa.existing) known.adopted = true;
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

/**
 * Findings a stage accepts stay accepted in later stages, as the live policies that cause them stay in force; an
 * acceptance of a policy's finding ends where a later stage declares that policy again (or retires it): the stage
 * that rewrites a policy answers for it, so a new mistake in it is not accepted unseen.
 */
export function findingAcknowledgementsAt(rollout: Pick<Rollout, "stages">, stageIndex: number): FindingAcknowledgement[] {
  const byFinding = new Map<string, FindingAcknowledgement>();
  for (const stage of rollout.stages.slice(0, stageIndex + 1)) {
    const rewritten = new Set([
      ...stage.peerAuthentications.map((p) => `${p.namespace}/${p.name}`),
      ...(stage.retire ?? []).map((r) => `${r.namespace}/${r.name}`),
    ]);
    for (const [key, ack] of byFinding) if (rewritten.has(ack.resource)) byFinding.delete(key);
    for (const ack of stage.acknowledgeFindings ?? []) byFinding.set(`${ack.rule} ${ack.resource}`, ack);
  }
  return [...byFinding.values()];
}
