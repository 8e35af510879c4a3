import type { PeerAuthentication, Rollout } from "./rollout";

/** Stage k applies the policies of stages 1..k; a later declaration of the same namespace/name replaces the earlier one. */
export function policiesInForceAt(
  rollout: Pick<Rollout, "stages">,
  stageIndex: number,
): { policy: PeerAuthentication; definedIn: string }[] {
  const byId = new Map<string, { policy: PeerAuthentication; definedIn: string }>();
  for (const stage of rollout.stages.slice(0, stageIndex + 1)) {
    for (const policy of stage.peerAuthentications) byId.set(`${policy.namespace}/${policy.name}`, { policy, definedIn: stage.name });
  }
  return [...byId.values()];
}
