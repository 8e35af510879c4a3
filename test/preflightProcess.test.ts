import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { buildPlan } from "../src/model/plan";
import { loadRollout } from "../src/rollout/load";
import { clusterState, ClusterState } from "./support/fakeCluster";
import { runCli, tempFile } from "./support/files";
import { FAKE_KUBECTL } from "./support/fakeKubectlBuild";

const lab = loadRollout();

function preflightAgainst(state: ClusterState, ...args: string[]) {
  const stateFile = tempFile("state.json", JSON.stringify(state));
  return runCli(["preflight", "--stage", "istioinaction-strict", "--window", "1", ...args], {
    cwd: path.dirname(stateFile),
    env: { KUBECTL: FAKE_KUBECTL, FAKE_CLUSTER_STATE: stateFile },
  });
}

describe("npx mtls-rollout preflight against an executable KUBECTL", () => {
  const atPrevious = () => clusterState(lab, buildPlan(lab, "purchase-history-strict"));

  it("exits 1 and names the callers when a workload about to go STRICT still receives plaintext", () => {
    const state = { ...atPrevious(), backgroundPlaintext: [{ to: "istioinaction/web-api", from: "legacy/batch-report" }] };
    const { code, stdout } = preflightAgainst(state, "--json");
    expect(code).toBe(1);
    const result = JSON.parse(stdout);
    expect(result.outcome).toBe("fail");
    expect(result.targets.map((t: { workload: string; verdict: string }) => [t.workload, t.verdict])).toEqual([
      ["istioinaction/web-api", "fail"],
      ["istioinaction/recommendation", "pass"],
    ]);
    expect(result.targets[0].callers).toEqual([{ source: "legacy/batch-report", requests: 1, connections: 0 }]);
    expect(result.summary).toBe(
      "PLAINTEXT: stage istioinaction-strict tightens 2 workloads against purchase-history-strict: 1 clear, 1 still receive plaintext, 0 without evidence",
    );
  });

  it("exits 0 when no plaintext arrives in the window", () => {
    const { code, stdout } = preflightAgainst(atPrevious());
    expect(code).toBe(0);
    expect(stdout.trim().split("\n").pop()).toMatch(/^CLEAR: stage istioinaction-strict tightens 2 workloads/);
  });

  it("exits 3 when a target's sidecar cannot be read", () => {
    const state = atPrevious();
    delete state.workloads["istioinaction/recommendation"];
    const { code, stdout } = preflightAgainst(state);
    expect(code).toBe(3);
    expect(stdout).toMatch(/istioinaction\/recommendation .*inconclusive .*sidecar of istioinaction\/recommendation unreachable/);
  });

  it("exits 2 for bad input", () => {
    expect(runCli(["preflight", "--stage", "mesh-strict", "--prometheus", "ftp://x"]).code).toBe(2);
    expect(runCli(["preflight", "--stage", "mesh-strict", "--previous", "nope"]).code).toBe(2);
  });
});
