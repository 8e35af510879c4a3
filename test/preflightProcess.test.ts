import { describe, expect, it } from "vitest";
import { buildPlan } from "../src/model/plan";
import { loadRollout } from "../src/rollout/load";
import { clusterState, ClusterState } from "./support/fakeCluster";
import { runCliAsync, tempFile } from "./support/files";
import { cli } from "./support/inProcessCli";
import { FAKE_KUBECTL } from "./support/fakeKubectlBuild";

const lab = loadRollout();

/** The gate with a window of a second; as a process (the bin's exit code) or in this process. */
function preflightAgainst(state: ClusterState, args: string[], run: typeof cli | typeof runCliAsync = cli) {
  const stateFile = tempFile("state.json", JSON.stringify(state));
  return run(["preflight", "--stage", "istioinaction-strict", "--window", "1", ...args], {
    env: { KUBECTL: FAKE_KUBECTL, FAKE_CLUSTER_STATE: stateFile },
  });
}

// At once: each mostly waits out its window between the sidecars' two reads.
describe.concurrent("npx mtls-rollout preflight against an executable KUBECTL", () => {
  const atPrevious = () => clusterState(lab, buildPlan(lab, "purchase-history-strict"));

  it("exits 1 and names the callers when a workload about to go STRICT still receives plaintext", async () => {
    const state = { ...atPrevious(), backgroundPlaintext: [{ to: "istioinaction/web-api", from: "legacy/batch-report" }] };
    const { code, stdout } = await preflightAgainst(state, ["--json"], runCliAsync);
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

  it("exits 0 when no plaintext arrives in the window", async () => {
    const { code, stdout } = await preflightAgainst(atPrevious(), []);
    expect(code).toBe(0);
    expect(stdout.trim().split("\n").pop()).toMatch(/^CLEAR: stage istioinaction-strict tightens 2 workloads/);
  });

  it("exits 3 when a target's sidecar cannot be read", async () => {
    const state = atPrevious();
    delete state.workloads["istioinaction/recommendation"];
    const { code, stdout } = await preflightAgainst(state, []);
    expect(code).toBe(3);
    expect(stdout).toMatch(/istioinaction\/recommendation .*inconclusive .*sidecar of istioinaction\/recommendation unreachable/);
  });

  it("exits 2 for bad input", async () => {
    expect((await cli(["preflight", "--stage", "mesh-strict", "--prometheus", "ftp://x"])).code).toBe(2);
    expect((await cli(["preflight", "--stage", "mesh-strict", "--previous", "nope"])).code).toBe(2);
  });
});
