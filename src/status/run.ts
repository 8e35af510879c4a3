/**
 * `mtls-rollout status`: the live PeerAuthentications, read once, against the rollout. A thin shell over
 * src/cluster (the read) and compare.ts (the verdict).
 */
import { getList } from "../cluster/kubectlGet";
import { peerAuthenticationObjectSchema } from "../cluster/objects";
import { boundedRunner, KubectlRunner } from "../cluster/runner";
import { PEER_AUTHENTICATIONS } from "../cluster/snapshot";
import { STAGE_ANNOTATION } from "../manifests/kubernetes";
import { isDormant, policyOf } from "../manifests/parse";
import type { Rollout } from "../model/rollout";
import { compareWithRollout, LivePolicy, Status } from "./compare";

export const LIVE_POLICY_ARGS = ["get", PEER_AUTHENTICATIONS, "--all-namespaces", "-o", "json"];

export async function readLivePolicies(runner: KubectlRunner, timeoutMs: number): Promise<LivePolicy[] | { error: string }> {
  const read = await getList(boundedRunner(runner), LIVE_POLICY_ARGS, peerAuthenticationObjectSchema, timeoutMs);
  if ("error" in read) return { error: read.error };
  return read.items.map((item) => {
    const policy = policyOf(item, `live ${item.metadata.namespace}/${item.metadata.name}`);
    return {
      policy,
      createdAt: item.metadata.creationTimestamp ?? "",
      dormant: isDormant(item, policy),
      managed: item.metadata.annotations?.[STAGE_ANNOTATION] !== undefined,
    };
  });
}

export async function clusterStatus(rollout: Rollout, runner: KubectlRunner, timeoutMs: number): Promise<Status | { error: string }> {
  const live = await readLivePolicies(runner, timeoutMs);
  return "error" in live ? live : compareWithRollout(rollout, live);
}
