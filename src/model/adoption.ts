/**
 * What adopting the policies a rollout marks `existing: true` does to the cluster, judged from one reading of it
 * before the program declares them. Pulumi imports each one (its `import` option) and then applies the stage's spec
 * over it; for a custom resource its own preview cannot show the live spec beside the declared one (the Kubernetes
 * provider's Read keeps only apiVersion, kind and name as an imported custom resource's inputs), so the program says
 * what changes, and refuses what would change unseen: a policy that is no longer as the file found it, or gone. Pure.
 */
import type { LivePolicy } from "./live";
import { policyChanges } from "./policyChanges";
import type { PeerAuthentication } from "./rollout";

export interface AdoptedPolicy {
  /** As the stage declares it (in force, or in its dormant form once retired). */
  declared: PeerAuthentication;
  /** As the rollout's first stage found it on the cluster (`existing: true`). */
  asFound?: PeerAuthentication;
}

export type AdoptionFinding =
  /** Not on the cluster: there is nothing to import, and the stage's idea of the mesh is wrong. */
  | { kind: "absent"; namespace: string; name: string }
  /** Not yet the stack's, and changed since it was found: its spec would be replaced by one nobody reviewed it against. */
  | { kind: "stale"; namespace: string; name: string; differences: string[] }
  /** Imported by this `up`, then changed as listed (nothing: taken as it is). */
  | { kind: "import"; namespace: string; name: string; changes: string[] }
  /** The stack wrote it already: Pulumi's own diff, after its refresh, shows any change. */
  | { kind: "held"; namespace: string; name: string };

const keyOf = (p: { namespace: string; name: string }) => `${p.namespace}/${p.name}`;

export function reviewAdoption(adopted: readonly AdoptedPolicy[], live: readonly LivePolicy[], stage: string): AdoptionFinding[] {
  const onCluster = new Map(live.map((l) => [keyOf(l.policy), l]));
  return adopted.map(({ declared, asFound }): AdoptionFinding => {
    const where = { namespace: declared.namespace, name: declared.name };
    const found = onCluster.get(keyOf(declared));
    if (!found) return { kind: "absent", ...where };
    // A policy an mtls-rollout stack wrote carries its stage annotation: it is past its adoption.
    if (found.managed) return { kind: "held", ...where };
    const differences = asFound ? policyChanges(found.policy, asFound, "as found") : [];
    if (differences.length > 0) return { kind: "stale", ...where, differences };
    return { kind: "import", ...where, changes: policyChanges(found.policy, declared, `stage ${stage}`) };
  });
}

/**
 * One line per finding the program must stop on, naming the policy and the way on; none when adoption may go on.
 * `firstStage` holds the policies as found; `statusCommand` shows every difference between the cluster and the rollout.
 */
export function adoptionRefusals(findings: readonly AdoptionFinding[], firstStage: string, statusCommand: string): string[] {
  return findings.flatMap((f) => {
    const id = `${f.namespace}/${f.name}`;
    if (f.kind === "absent")
      return [
        `${id}: stage ${firstStage} marks it existing: true (adopted), but it is not on the cluster, so there is nothing to import: declare the stage as the cluster is (${statusCommand} shows how it differs)`,
      ];
    if (f.kind === "stale")
      return [
        `${id}: changed on the cluster since stage ${firstStage} recorded it (${f.differences.join("; ")}): adopting it would write this stage's spec over one nobody reviewed it against; put it back, or declare it in stage ${firstStage} as it is now (${statusCommand} shows every difference)`,
      ];
    return [];
  });
}
