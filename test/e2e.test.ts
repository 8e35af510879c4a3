import { spawnSync } from "node:child_process";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { skipReason } from "../e2e/run";
import { walkLab, WalkStack } from "../e2e/walk";
import { parseRolloutYaml } from "../src/rollout/load";
import * as fs from "node:fs";
import { buildPlan } from "../src/model/plan";

const ROOT = path.join(__dirname, "..");

/** An Automation API stack that records what the walk asks, and fails the `up`s `failWhen` picks. */
function stubStack(failWhen: (config: Record<string, { value: string }>) => boolean) {
  const calls: string[] = [];
  let config: Record<string, { value: string }> = {};
  const stack: WalkStack = {
    setAllConfig: async (c) => {
      config = c;
    },
    up: async ({ onOutput }) => {
      const what = `up ${config["mtls-rollout:stage"].value}${config["mtls-rollout:rollout"] ? ` rollout=${config["mtls-rollout:rollout"].value}` : ""}`;
      calls.push(what);
      onOutput(`Updating (${what})\n`);
      if (failWhen(config)) throw new Error("error: update failed");
      return { summary: { result: "succeeded" } };
    },
    destroy: async () => {
      calls.push("destroy");
      return {};
    },
  };
  return { stack, calls, config: () => config };
}

const options = (log: string[] = []) => ({
  stages: ["permissive", "purchase-history-strict", "istioinaction-strict", "mesh-strict"],
  kubeContext: "kind-mtls-lab",
  wrongRollout: "e2e/wrong-expectations.yaml",
  log: (line: string) => log.push(line),
});

describe("the end-to-end walk", () => {
  it("ups every lab stage with Istio installed, then fails on wrong expectations, then destroys", async () => {
    const { stack, calls, config } = stubStack((c) => c["mtls-rollout:rollout"]?.value === "e2e/wrong-expectations.yaml");
    await walkLab(stack, options());
    expect(calls).toEqual([
      "up permissive",
      "up purchase-history-strict",
      "up istioinaction-strict",
      "up mesh-strict",
      "up mesh-strict rollout=e2e/wrong-expectations.yaml",
      "destroy",
    ]);
    expect(config()).toMatchObject({
      "mtls-rollout:installIstio": { value: "true" },
      "mtls-rollout:installPrometheus": { value: "true" },
      "mtls-rollout:kubeContext": { value: "kind-mtls-lab" },
    });
  });

  it("fails when the update with wrong expectations succeeds, and still destroys", async () => {
    const { stack, calls } = stubStack(() => false);
    await expect(walkLab(stack, options())).rejects.toThrow("an up whose expectations the cluster contradicts succeeded");
    expect(calls[calls.length - 1]).toBe("destroy");
  });

  it("stops at the first stage whose up fails, and still destroys", async () => {
    const { stack, calls } = stubStack((c) => c["mtls-rollout:stage"].value === "istioinaction-strict");
    await expect(walkLab(stack, options())).rejects.toThrow("update failed");
    expect(calls).toEqual(["up permissive", "up purchase-history-strict", "up istioinaction-strict", "destroy"]);
  });

  it("uses a rollout whose only difference from the lab is a wrong fact the verification must catch", () => {
    const wrong = parseRolloutYaml(fs.readFileSync(path.join(ROOT, "e2e", "wrong-expectations.yaml"), "utf8"), "wrong");
    const httpbin = wrong.workloads.find((w) => w.ref === "default/httpbin")!;
    expect(httpbin.service!.ports[0].targetPort).toBe(9999);
    // The model still expects httpbin to answer, which a go-httpbin listening on 8080 cannot.
    expect(
      buildPlan(wrong, "mesh-strict").expectations.find((e) => e.to === "default/httpbin" && e.from === "istioinaction/sleep")!.expect,
    ).toBe("mtls");
  });
});

describe("npm run e2e without a cluster", () => {
  it("says why it skipped and exits 0", () => {
    const run = spawnSync(process.execPath, ["--require", "tsx/cjs", path.join(ROOT, "e2e", "run.ts")], {
      cwd: ROOT,
      encoding: "utf8",
      env: { ...process.env, PULUMI_E2E: "" },
    });
    expect(run.status).toBe(0);
    expect(run.stdout).toBe("e2e skipped: PULUMI_E2E is not 1\n");
  });

  it("names the missing Pulumi CLI when asked to run without one", () => {
    expect(skipReason({ PULUMI_E2E: "1", PATH: "/nonexistent" })).toBe("no Pulumi CLI on PATH");
  });
});
