/**
 * A fingerprint of what a stage puts in force: its policies (as the model has them, in Istio's order) and the
 * namespaces whose policies the rollout reads. The destroy guard stores the first stage's at each `up`, and status
 * refuses to judge the cluster against a rollout file whose stage is not that one (an older checkout, a stage
 * rewritten since): a check against the wrong file would pass on the wrong evidence.
 */
import { createHash } from "node:crypto";
import { policiesInForce } from "./plan";
import type { Rollout } from "./rollout";

export function stagePoliciesDigest(rollout: Rollout, stage: string): string {
  const policies = policiesInForce(rollout, stage).map(({ policy: p }) => [
    p.namespace,
    p.name,
    p.selector,
    p.mode,
    p.portLevelMtls ?? null,
    p.existing === true,
  ]);
  const namespaces = [
    ...new Set([rollout.meshRootNamespace, ...rollout.namespaces.map((n) => n.name), ...rollout.workloads.map((w) => w.namespace)]),
  ].sort();
  return createHash("sha256")
    .update(JSON.stringify([policies, namespaces]))
    .digest("hex")
    .slice(0, 16);
}
