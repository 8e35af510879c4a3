/**
 * `mtls-rollout status`: one reading of the cluster (its PeerAuthentications, controllers and pods in the rollout's
 * namespaces and the mesh root), against the rollout. A thin shell over src/cluster (the read), the model's live
 * semantics and compare.ts (the verdict).
 */
import { readLiveState } from "../cluster/readLive";
import type { KubectlRunner } from "../cluster/runner";
import type { Rollout } from "../model/rollout";
import { compareWithRollout, Status } from "./compare";

export async function clusterStatus(
  rollout: Rollout,
  runner: KubectlRunner,
  timeoutMs: number,
  stage?: string,
): Promise<Status | { error: string; setup?: boolean }> {
  const live = await readLiveState(rollout, runner, timeoutMs);
  return "error" in live ? live : compareWithRollout(rollout, live, { stage });
}
