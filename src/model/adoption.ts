/**
 * What adopting the policies a rollout marks `existing: true` does to the cluster, judged from one reading of it
 * before the program declares them. Pulumi imports each one it does not hold yet (its `import` option) and then
 * applies the stage's spec over it; for a custom resource its own preview cannot show the live spec beside the
 * declared one (the Kubernetes provider's Read keeps only apiVersion, kind and name as an imported custom resource's
 * inputs), so the program says what changes, and refuses what would change unseen: a policy no longer as the file
 * found it, one another mtls-rollout stack wrote, or one that is gone. Pure.
 */
import type { LivePolicy } from "./live";
import { policyChanges } from "./policyChanges";
import type { PeerAuthentication } from "./rollout";

export interface AdoptedPolicy {
  /** As the stage declares it (in force, or in its dormant form once retired). */
  declared: PeerAuthentication;
  /** Retired: the stage declares it dormant, without effect. */
  dormant: boolean;
  /** As the rollout's first stage found it on the cluster (`existing: true`), with its `takeOver` if any. */
  asFound?: PeerAuthentication;
}

export type AdoptionFinding =
  /** In force, and not on the cluster: there is nothing to import, and the stage's idea of the mesh is wrong. */
  | { kind: "absent"; namespace: string; name: string }
  /** Retired, and not on the cluster: declared again in its dormant form, which changes no mode. */
  | { kind: "recreate"; namespace: string; name: string }
  /** Another mtls-rollout stack wrote it, and the file does not take it over: the two stacks would fight over it. */
  | { kind: "owned"; namespace: string; name: string; stack: string }
  /** Not yet this stack's, and changed since it was found: its spec would be replaced by one nobody reviewed it against. */
  | { kind: "stale"; namespace: string; name: string; differences: string[] }
  /** Imported (if Pulumi's state does not hold it) and then changed as listed: nothing, taken as it is. */
  | { kind: "import"; namespace: string; name: string; changes: string[] }
  /** This stack wrote it (or an mtls-rollout version that did not say which stack): changed as listed by this `up`. */
  | { kind: "held"; namespace: string; name: string; changes: string[] };

const keyOf = (p: { namespace: string; name: string }) => `${p.namespace}/${p.name}`;

/** `stacks`: this stack, as STACK_ANNOTATION names it, and the names it had before. */
export function reviewAdoption(
  adopted: readonly AdoptedPolicy[],
  live: readonly LivePolicy[],
  stage: string,
  stacks: readonly string[],
): AdoptionFinding[] {
  const ours = new Set(stacks);
  const onCluster = new Map(live.map((l) => [keyOf(l.policy), l]));
  return adopted.map(({ declared, dormant, asFound }): AdoptionFinding => {
    const where = { namespace: declared.namespace, name: declared.name };
    const found = onCluster.get(keyOf(declared));
    if (!found) return dormant ? { kind: "recreate", ...where } : { kind: "absent", ...where };
    const changes = policyChanges(found.policy, declared, `stage ${stage}`);
    // Written by an mtls-rollout stack: this one (its state holds it, or held it before a destroy left it behind), or
    // a version from before policies named their stack, whose writer cannot be told.
    if (found.managed && (found.stack === undefined || ours.has(found.stack))) return { kind: "held", ...where, changes };
    if (found.stack !== undefined && !ours.has(found.stack) && asFound?.takeOver === undefined)
      return { kind: "owned", ...where, stack: found.stack };
    const differences = asFound ? policyChanges(found.policy, asFound, "as found") : [];
    if (differences.length > 0) return { kind: "stale", ...where, differences };
    return { kind: "import", ...where, changes };
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
        `${id}: stage ${firstStage} marks it existing: true (adopted), but it is not on the cluster, so there is nothing to import: put it back, or declare the stages as the cluster is (${statusCommand} shows how it differs)`,
      ];
    if (f.kind === "owned")
      return [
        `${id}: written by the mtls-rollout stack ${f.stack}: adopting it here would have two stacks put back their own specs in turn; destroy or hand over that stack first, then say takeOver: "<reason>" on it in stage ${firstStage} (if that is this stack under a former name, after pulumi stack rename or a move, set mtls-rollout:formerStacks to ${f.stack})`,
      ];
    if (f.kind === "stale")
      return [
        `${id}: changed on the cluster since stage ${firstStage} recorded it (${f.differences.join("; ")}): adopting it would write this stage's spec over one nobody reviewed it against; put it back, or declare it in stage ${firstStage} as it is now (${statusCommand} shows every difference)`,
      ];
    return [];
  });
}

/** What the program says of each finding it goes on with: what this `up` does to the policy on the cluster. */
export function adoptionNotes(findings: readonly AdoptionFinding[]): string[] {
  return findings.flatMap((f) => {
    const id = `${f.namespace}/${f.name}`;
    if (f.kind === "recreate")
      return [`${id}: retired and gone from the cluster: declared again in its dormant form, which changes no mode`];
    if (f.kind === "import")
      return [
        f.changes.length === 0
          ? `${id}: adopted (= import) as it is on the cluster`
          : `${id}: adopted (= import), then this up changes it on the cluster: ${f.changes.join("; ")}`,
      ];
    if (f.kind === "held" && f.changes.length > 0) return [`${id}: this up changes it on the cluster: ${f.changes.join("; ")}`];
    return [];
  });
}
