/**
 * The one reading of the live cluster that status, the gate's `--previous live` and verify share: the
 * PeerAuthentications, controllers and pods of a rollout's namespaces and the mesh root, resolved by the model's
 * live semantics on the ports the rollout declares for each of its workloads.
 */
import { liveStateOf } from "./liveMesh";
import { getList } from "./kubectlGet";
import { namespaceObjectSchema } from "./objects";
import { boundedRunner, KubectlRunner } from "./runner";
import { LIVE_MODE_KINDS, readSnapshot, type ClusterSnapshot } from "./snapshot";
import { liveKey, type LiveState, type MeshFacts } from "../model/live";
import { destinationRuleOf, type Rollout } from "../model/rollout";
import { destinationRuleFacts } from "./destinationRules";

/** The live state of a rollout's mesh: every declared workload's modes resolved on the ports the rollout declares. */
export async function readLiveState(
  rollout: Rollout,
  runner: KubectlRunner,
  timeoutMs: number,
): Promise<LiveState | { error: string; setup?: boolean }> {
  const snapshot = await readSnapshot(boundedRunner(runner), {
    namespaces: [rollout.meshRootNamespace, ...rollout.namespaces.map((n) => n.name), ...rollout.workloads.map((w) => w.namespace)],
    meshRootNamespace: rollout.meshRootNamespace,
    kinds: [...LIVE_MODE_KINDS, "destinationRules"],
    timeoutMs,
  });
  if ("error" in snapshot) return snapshot;
  // The namespaces' injection labels predict the sidecar of a workload no pod of which runs. Namespaces are read at the
  // cluster's scope, which an identity whose permissions stop at its namespaces may not: then the prediction is the
  // template's alone, and said so.
  const namespaceNotes: string[] = [];
  const namespaces = await getList(boundedRunner(runner), ["get", "namespaces", "-o", "json"], namespaceObjectSchema, timeoutMs);
  if ("error" in namespaces) {
    if (!namespaces.forbidden) return namespaces;
    namespaceNotes.push(
      "the namespaces' labels could not be read (not permitted): a workload no pod of which runs is judged from its pod template alone",
    );
  } else {
    const wanted = new Set([
      rollout.meshRootNamespace,
      ...rollout.namespaces.map((n) => n.name),
      ...rollout.workloads.map((w) => w.namespace),
    ]);
    snapshot.namespaces = namespaces.items.filter((n) => wanted.has(n.metadata.name));
  }
  return liveStateOfRollout(rollout, snapshot, namespaceNotes);
}

/** What Istio makes of `snapshot` for the rollout: its workloads' modes on the ports it declares, the mesh's facts. */
export function liveStateOfRollout(rollout: Rollout, snapshot: ClusterSnapshot, notes: string[] = []): LiveState {
  const ports = new Map(rollout.workloads.map((w) => [liveKey(w.kind, w.ref), w.containerPorts]));
  const facts = meshFacts(snapshot, rollout.meshRootNamespace);
  facts.facts.notes.push(...notes);
  // Istio's root, not the rollout's: a mesh-wide policy in the wrong namespace is namespace-wide, and the live modes say so.
  const live = liveStateOf(snapshot, {
    meshRootNamespace: facts.rootNamespace,
    portsOf: (ref, kind) => ports.get(liveKey(kind, ref)),
  });
  const rules = destinationRuleFacts(snapshot.destinationRules);
  facts.facts.notes.push(...rules.leftOut.map((l) => `${l}: the live client-side TLS leaves it out`));
  return {
    ...live,
    meshFacts: facts.facts,
    destinationRules: rules.rules.map((r) => destinationRuleOf(r, `DestinationRule ${r.namespace}/${r.name}`)),
  };
}

/** The root namespace Istio uses and what else the mesh config says, from the revisions' configs read. */
export function meshFacts(snapshot: ClusterSnapshot, assumedRoot: string): { rootNamespace: string; facts: MeshFacts } {
  const notes: string[] = snapshot.meshConfigNote ? [`${snapshot.meshConfigNote}: the root namespace is taken to be ${assumedRoot}`] : [];
  if (snapshot.injectorNote)
    notes.push(`${snapshot.injectorNote}: a workload no pod of which runs is judged by the istiod chart's injector selectors`);
  const roots = [...new Set(snapshot.meshConfigs.map((c) => c.rootNamespace ?? assumedRoot))];
  // Revisions that disagree on the root: each workload follows its own revision's, which the model does not follow.
  if (roots.length > 1)
    notes.push(`the revisions' mesh configs name different root namespaces (${roots.join(", ")}): ${assumedRoot} is assumed`);
  const rootNamespace = roots.length === 1 ? roots[0] : assumedRoot;
  const source = snapshot.meshConfigs.find((c) => (c.rootNamespace ?? assumedRoot) === rootNamespace)?.source;
  const enableAutoMtls = snapshot.meshConfigs.every((c) => c.enableAutoMtls !== false);
  // Istio honours only `.` and `*` there (push_context.go initDefaultExportMaps).
  const privateByDefault = snapshot.meshConfigs.some((c) => c.defaultDestinationRuleExportTo?.includes("."));
  return {
    rootNamespace,
    facts: {
      ...(source ? { source } : {}),
      enableAutoMtls,
      ...(privateByDefault ? { destinationRulesPrivateByDefault: true } : {}),
      notes,
    },
  };
}
