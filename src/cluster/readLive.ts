/**
 * The one reading of the live cluster that status, the gate's `--previous live` and verify share: the
 * PeerAuthentications, controllers and pods of a rollout's namespaces and the mesh root, resolved by the model's
 * live semantics on the ports the rollout declares for each of its workloads.
 */
import { liveStateOf } from "./liveMesh";
import { boundedRunner, KubectlRunner } from "./runner";
import { LIVE_MODE_KINDS, readSnapshot } from "./snapshot";
import { liveKey, type LiveState } from "../model/live";
import type { Rollout } from "../model/rollout";

/** The live state of a rollout's mesh: every declared workload's modes resolved on the ports the rollout declares. */
export async function readLiveState(
  rollout: Rollout,
  runner: KubectlRunner,
  timeoutMs: number,
): Promise<LiveState | { error: string; setup?: boolean }> {
  const snapshot = await readSnapshot(boundedRunner(runner), {
    namespaces: [rollout.meshRootNamespace, ...rollout.namespaces.map((n) => n.name), ...rollout.workloads.map((w) => w.namespace)],
    meshRootNamespace: rollout.meshRootNamespace,
    kinds: LIVE_MODE_KINDS,
    timeoutMs,
  });
  if ("error" in snapshot) return snapshot;
  const ports = new Map(rollout.workloads.map((w) => [liveKey(w.kind, w.ref), w.containerPorts]));
  return liveStateOf(snapshot, { meshRootNamespace: rollout.meshRootNamespace, portsOf: (ref, kind) => ports.get(liveKey(kind, ref)) });
}
