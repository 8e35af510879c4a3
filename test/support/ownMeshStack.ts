/**
 * The own mesh of test/fixtures/rollouts/own-mesh.yaml as a stack runs it: bound to test/fixtures/cluster, whose
 * kube-system UID the fake kubectl answers (as discover prints it).
 */
import * as path from "node:path";

export const OWN_MESH = path.join(__dirname, "..", "fixtures", "rollouts", "own-mesh.yaml");
export const CLUSTER_UID = "6f1c2a4e-0b7d-4c55-9a31-000000000006";

/** A stack's config for `rollout` (the own mesh by default), bound to that cluster, at `stage` when given. */
export function boundConfig(rollout = OWN_MESH, stage?: string): Record<string, string> {
  return {
    ...(stage !== undefined ? { "mtls-rollout:stage": stage } : {}),
    "mtls-rollout:rollout": rollout,
    "mtls-rollout:preflight": "false",
    "mtls-rollout:kubeContext": "prod-eu",
    "mtls-rollout:clusterUid": CLUSTER_UID,
  };
}
