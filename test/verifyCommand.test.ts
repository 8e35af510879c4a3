// The verification Command's shell script as the stack runs it, against the fake kubectl: its own file, so that
// its two runs (one waits out its deadline) overlap with the other process tests.
import { spawn } from "node:child_process";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { CLI_ENTRY, VERIFY_COMMAND } from "../src/components/verification";
import { buildPlan } from "../src/model/plan";
import { LAB_ROLLOUT_PATH, loadRollout } from "../src/rollout/load";
import { clusterState } from "./support/fakeCluster";
import { policiesAt } from "./support/labCluster";
import { FAKE_KUBECTL } from "./support/fakeKubectlBuild";
import { tempFile } from "./support/files";

const lab = loadRollout();

/** The state file the fake kubectl answers from: a cluster that behaves as `stage` does, with the policies of `policies`. */
function clusterStateFile(stage: string, policies = stage): string {
  return tempFile(
    "state.json",
    JSON.stringify({ ...clusterState(lab, buildPlan(lab, stage)), peerAuthentications: policiesAt(lab, policies) }),
  );
}

// The two runs at once: each mostly waits on its rounds.
describe.concurrent("the verification Command's script, run by /bin/sh as @pulumi/command's local provider runs it", () => {
  function runScript(clusterStage: string, timeoutSeconds: number): Promise<{ status: number | null; stdout: string }> {
    // The stage's policies on the cluster, whose sidecars may not enforce them yet: the probes decide.
    const stateFile = clusterStateFile(clusterStage, "mesh-strict");
    const shell = spawn("/bin/sh", ["-c", VERIFY_COMMAND], {
      cwd: path.dirname(stateFile),
      env: {
        ...process.env,
        KUBECTL: FAKE_KUBECTL,
        FAKE_CLUSTER_STATE: stateFile,
        MTLS_ROLLOUT_CLI: path.join(__dirname, "..", CLI_ENTRY),
        MTLS_ROLLOUT_STAGE: "mesh-strict",
        MTLS_ROLLOUT_FILE: LAB_ROLLOUT_PATH,
        MTLS_ROLLOUT_VERIFY_TIMEOUT: String(timeoutSeconds),
        // Rounds count from the start: the fake cluster has nothing to push.
        MTLS_ROLLOUT_VERIFY_SETTLE: "0",
      },
    });
    let stdout = "";
    shell.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString("utf8")));
    const killer = setTimeout(() => shell.kill("SIGKILL"), 60_000);
    return new Promise((resolve) =>
      shell.on("close", (status) => {
        clearTimeout(killer);
        resolve({ status, stdout });
      }),
    );
  }

  it("succeeds, printing the summary last, when the cluster holds the stage", async () => {
    const result = await runScript("mesh-strict", 30);
    expect(result.status).toBe(0);
    expect(result.stdout.trim().split("\n").pop()).toMatch(/^PASS: stage mesh-strict: 8 edges, 8 hold/);
  });

  // The verifier probes a contradicting edge until the deadline (it may still be converging): a short one here,
  // room for two rounds of probes and the declared calls' read after them, on a loaded machine too.
  it("fails (and so fails pulumi up) when the cluster contradicts the stage", async () => {
    const result = await runScript("istioinaction-strict", 6);
    expect(result.status).toBe(1);
    expect(result.stdout.trim().split("\n").pop()).toMatch(/^FAIL: stage mesh-strict: 8 edges, 7 hold, 1 contradict, 0 inconclusive/);
  });
});
