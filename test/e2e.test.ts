import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import * as YAML from "yaml";
import { skipReason } from "../e2e/run";
import { OUT_OF_BAND_POLICY, walkLab, WalkStack } from "../e2e/walk";
import { policyOf } from "../src/manifests/parse";
import { buildPlan, policiesInForce } from "../src/model/plan";
import { loadRollout } from "../src/rollout/load";
import { tempFile } from "./support/files";

const ROOT = path.join(__dirname, "..");
const STAGES = ["permissive", "purchase-history-strict", "istioinaction-strict", "mesh-strict"];

/** An Automation API stack and a kubectl that record what the walk does; `upFails` decides each `up`. */
function stubs(upFails: (stage: string, outOfBand: boolean) => string | undefined) {
  const calls: string[] = [];
  let stage = "";
  let outOfBand = false;
  const stack: WalkStack = {
    setAllConfig: async (c) => {
      stage = c["mtls-rollout:stage"].value;
      expect(c).toMatchObject({ "mtls-rollout:installIstio": { value: "true" }, "mtls-rollout:kubeContext": { value: "kind-mtls-lab" } });
    },
    up: async ({ onOutput }) => {
      calls.push(`up ${stage}${outOfBand ? " (out-of-band policy)" : ""}`);
      onOutput(`Updating (${stage})\n`);
      const failure = upFails(stage, outOfBand);
      if (failure) throw new Error(failure);
      return { summary: { result: "succeeded" } };
    },
    destroy: async () => {
      calls.push("destroy");
      return {};
    },
  };
  const kubectl = async (args: string[], stdin: string) => {
    calls.push(`kubectl ${args[0]}`);
    expect(stdin).toBe(OUT_OF_BAND_POLICY);
    outOfBand = args[0] === "apply";
  };
  return { stack, calls, options: { stages: STAGES, kubeContext: "kind-mtls-lab", kubectl, log: () => {} } };
}

// What the Automation API reports when the verification Command exits 1 (its output ends with the summary).
const verificationFailure = (stage: string) =>
  `code: 255\n stdout: ... error: exit status 1: running "node ...":\nFAIL: stage ${stage}: 8 edges, 7 hold, 1 contradict, 0 inconclusive (3 rounds, 9.1s)`;

describe("the end-to-end walk", () => {
  it("ups every lab stage, then makes the cluster contradict the model and requires the rollback's verification to fail", async () => {
    const { stack, calls, options } = stubs((stage, outOfBand) => (outOfBand ? verificationFailure(stage) : undefined));
    await walkLab(stack, options);
    expect(calls).toEqual([
      "up permissive",
      "up purchase-history-strict",
      "up istioinaction-strict",
      "up mesh-strict",
      "kubectl apply",
      "up istioinaction-strict (out-of-band policy)",
      "kubectl delete",
      "destroy",
    ]);
  });

  it("fails when the contradicted update succeeds, and still cleans up", async () => {
    const { stack, calls, options } = stubs(() => undefined);
    await expect(walkLab(stack, options)).rejects.toThrow("an up whose expectations the cluster contradicts succeeded");
    expect(calls.slice(-2)).toEqual(["kubectl delete", "destroy"]);
  });

  it("fails when the update fails for another reason than the verification's contradiction", async () => {
    const { stack, options } = stubs((_, outOfBand) => (outOfBand ? "error: helm release istiod failed" : undefined));
    await expect(walkLab(stack, options)).rejects.toThrow("the up failed, but not on its verification's contradiction");
  });

  it("stops at the first stage whose up fails, and still destroys", async () => {
    const { stack, calls, options } = stubs((stage) => (stage === "istioinaction-strict" ? "update failed" : undefined));
    await expect(walkLab(stack, options)).rejects.toThrow("update failed");
    expect(calls).toEqual(["up permissive", "up purchase-history-strict", "up istioinaction-strict", "destroy"]);
  });

  it("uses an out-of-band policy that contradicts the model at the rollback stage, for the out-of-mesh sleep only", () => {
    const lab = loadRollout();
    const outOfBand = policyOf(YAML.parse(OUT_OF_BAND_POLICY), "out-of-band");
    const model = buildPlan(lab, "istioinaction-strict");
    const cluster = buildPlan(
      {
        ...lab,
        stages: [
          { ...lab.stages[2], peerAuthentications: [...policiesInForce(lab, "istioinaction-strict").map((p) => p.policy), outOfBand] },
        ],
      },
      "istioinaction-strict",
    );
    const differ = model.expectations.flatMap((e, i) =>
      e.expect === cluster.expectations[i].expect ? [] : [`${e.from} -> ${e.to}: ${e.expect} vs ${cluster.expectations[i].expect}`],
    );
    expect(differ).toEqual(["default/sleep -> default/httpbin: plaintext vs refused"]);
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

  it("names the missing Pulumi CLI when asked to run without one, and then fails rather than skips", () => {
    expect(skipReason({ PULUMI_E2E: "1", PATH: "/nonexistent" })).toBe("no Pulumi CLI on PATH");
    const run = spawnSync(process.execPath, ["--require", "tsx/cjs", path.join(ROOT, "e2e", "run.ts"), "own-mesh"], {
      cwd: ROOT,
      encoding: "utf8",
      env: { PATH: path.dirname(process.execPath), PULUMI_E2E: "1" },
    });
    expect(run.status).toBe(1);
    expect(run.stderr).toBe("e2e failed: cannot walk: no Pulumi CLI on PATH\n");
  });

  it("walks an own mesh only on a throwaway cluster where Istio and its Prometheus run already: the walk installs neither", () => {
    // A pulumi that answers, and a kubectl whose cluster has no istiod (the API server's NotFound).
    const bin = path.dirname(tempFile("pulumi", "#!/bin/sh\necho v3.248.0\n"));
    fs.chmodSync(path.join(bin, "pulumi"), 0o755);
    const kubectl = path.join(bin, "kubectl");
    fs.writeFileSync(
      kubectl,
      '#!/bin/sh\ncase "$*" in *"get deployment istiod"*) echo \'Error from server (NotFound): deployments.apps "istiod" not found\' >&2; exit 1;; esac\n',
      { mode: 0o755 },
    );
    const env = { PULUMI_E2E: "1", PATH: `${bin}:${process.env.PATH}`, KUBECTL: kubectl, KUBE_CONTEXT: "kind-own-mesh" };
    expect(skipReason(env, "own-mesh")).toBe(
      "no istiod and prometheus Deployments in istio-system (install Istio and its Prometheus addon first)",
    );
    expect(skipReason(env, "lab")).toBeUndefined();
    // A cluster with what the walk applies already: not a throwaway one.
    fs.writeFileSync(kubectl, "#!/bin/sh\nexit 0\n");
    expect(skipReason(env, "own-mesh")).toBe(
      "the cluster has PeerAuthentication istio-system/default, namespace shop, namespace legacy, namespace mtls-rollout-probes, ConfigMap istio-system/mtls-rollout-verified, which the walk would overwrite and delete: use a throwaway cluster",
    );
    // Not allowed to look: not a cluster the walk may take for a throwaway one.
    fs.writeFileSync(
      kubectl,
      '#!/bin/sh\ncase "$*" in *"get deployment istiod"*) exit 0;; esac\necho \'Error from server (Forbidden): namespaces "shop" is forbidden\' >&2; exit 1\n',
    );
    expect(skipReason(env, "own-mesh")).toBe(
      'cannot tell whether the cluster has PeerAuthentication istio-system/default: Error from server (Forbidden): namespaces "shop" is forbidden',
    );
    // Istio and Prometheus, and nothing of the walk's (the API server's NotFound for the rest).
    fs.writeFileSync(
      kubectl,
      '#!/bin/sh\ncase "$*" in *"get deployment istiod"*) exit 0;; esac\necho \'Error from server (NotFound): not found\' >&2; exit 1\n',
    );
    expect(skipReason(env, "own-mesh")).toBeUndefined();
  });
});
