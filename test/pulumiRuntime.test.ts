import { spawnSync } from "node:child_process";
import * as path from "node:path";
import { describe, expect, it } from "vitest";

const ROOT = path.join(__dirname, "..");

/** Loads index.ts through @pulumi/pulumi's own language-host `run()` in a fresh Node process. */
function runUnderPulumiRuntime(stage: string) {
  const result = spawnSync(process.execPath, [path.join(__dirname, "support", "runWithPulumiNodeRuntime.js"), ROOT, stage], {
    cwd: ROOT,
    encoding: "utf8",
    timeout: 120_000,
  });
  expect(result.stderr).toBe("");
  expect(result.status).toBe(0);
  // Without an engine, the program's log lines come to stdout before the harness' JSON.
  const lines = result.stdout.trimEnd().split("\n");
  return { ...JSON.parse(lines[lines.length - 1]), logged: lines.slice(0, -1) };
}

describe("index.ts under Pulumi's Node language host", () => {
  it("compiles with Pulumi's ts-node registration (type-checked, CommonJS) and declares the stage", () => {
    const run = runUnderPulumiRuntime("purchase-history-strict");
    expect(run.failure).toBeNull();
    expect(run.moduleSystem).toBe("commonjs+ts");
    expect(run.tsNode).toMatch(/ts-node/);
    expect(run.typescript).toMatch(/^5\./);
    expect(run.outputs).toEqual(["stage", "digest", "verification", "verifiedAt"]);
    expect(run.stage).toBe("purchase-history-strict");
    // The lab, which the stack deploys whole, is destroyed whole at any stage: nothing to say.
    expect(run.logged).toEqual([]);
    expect(run.registered).toContain("pulumi:pulumi:Stack mtls-rollout-dev");
    expect(run.registered).toContain("kubernetes:security.istio.io/v1:PeerAuthentication istioinaction/purchase-history-strict");
    expect(run.registered.filter((r: string) => r.startsWith("kubernetes:apps/v1:Deployment "))).toHaveLength(6);
  });

  it("ends with Pulumi's RunError naming the key and value when the stage does not exist", () => {
    const run = runUnderPulumiRuntime("no-such-stage");
    expect(run.failure).toEqual({
      runError: true,
      message:
        'mtls-rollout:stage: unknown stage "no-such-stage"; the rollout has permissive, purchase-history-strict, istioinaction-strict, mesh-strict',
    });
    expect(run.registered).toEqual(["pulumi:pulumi:Stack mtls-rollout-dev"]);
  });
});
