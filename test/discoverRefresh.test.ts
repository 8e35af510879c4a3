/**
 * Discovering a cluster an mtls-rollout stack manages (issue 20, point 6): without its rollout file, discover says
 * so in the header and names the stack's policies (in force, adopted, dormant), never advising a rename; with it
 * (`--rollout`), it writes that rollout back, its stages and comments as they are, with the cluster's facts and the
 * stage the cluster is at. The cluster is the lab's stack at a stage (test/support/labCluster.ts: the stack's own
 * manifests, as the API server returns them).
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import * as YAML from "yaml";
import type { KubectlRunner } from "../src/cluster/runner";
import { discover } from "../src/discover/run";
import { loadRollout, parseRolloutYaml } from "../src/rollout/load";
import { clusterOf, writeLists, type ClusterLists } from "./support/labCluster";
import { answerFromLists } from "./support/kubectlFromLists";
import { cli } from "./support/inProcessCli";
import { FAKE_KUBECTL } from "./support/fakeKubectlBuild";

const LAB_FILE = path.join(__dirname, "..", "stages", "lab.yaml");
const lab = loadRollout(LAB_FILE);
const runnerOf =
  (lists: ClusterLists): KubectlRunner =>
  async (args) => ({ ...answerFromLists(args, (l) => lists[l]), timedOut: false });
const labText = fs.readFileSync(LAB_FILE, "utf8");

describe("discover on a cluster an mtls-rollout stack manages", () => {
  it("says so without the stack's rollout: its policies named by stage, the stack's rollout to refresh instead", async () => {
    const result = await discover({ runner: runnerOf(clusterOf(lab, "purchase-history-strict")), callTimeoutMs: 5_000 });
    if (!("yaml" in result)) throw new Error(JSON.stringify(result));
    expect(result.yaml).toContain(
      "# WARNING: an mtls-rollout stack manages PeerAuthentications here. Its rollout file is the one to run: refresh it",
    );
    expect(result.yaml).toMatch(
      /#   - in force, created by the stack \(the stage that declares each\): istio-system\/default \(permissive\), istioinaction\/purchase-history-strict \(purchase-history-strict\)/,
    );
    expect(result.yaml).toMatch(
      /#   - dormant, for later stages of its rollout \(the first that declares each\): .*istioinaction\/default \(istioinaction-strict\)/,
    );
    expect(result.yaml).not.toMatch(/rename/);
  });

  it("names the stack its policies say wrote them (mtls-rollout.io/stack)", async () => {
    const lists = clusterOf(lab, "purchase-history-strict");
    for (const p of lists.peerauthentications) p.metadata.annotations["mtls-rollout.io/stack"] = "organization/mtls-rollout/lab";
    const result = await discover({ runner: runnerOf(lists), callTimeoutMs: 5_000 });
    if (!("yaml" in result)) throw new Error(JSON.stringify(result));
    expect(result.yaml).toContain("#   - written by the stack organization/mtls-rollout/lab\n");
  });

  it.each(["permissive", "purchase-history-strict", "mesh-strict"])(
    "writes the stack's rollout back with the stage the cluster is at (%s), IN SYNC",
    async (stage) => {
      const result = await discover({
        runner: runnerOf(clusterOf(lab, stage)),
        callTimeoutMs: 5_000,
        meshRootNamespace: lab.meshRootNamespace,
        namespaces: [...new Set([...lab.namespaces.map((n) => n.name), ...lab.workloads.map((w) => w.namespace)])],
        rollout: { text: labText, rollout: lab, path: LAB_FILE },
      });
      if (!("yaml" in result)) throw new Error(JSON.stringify(result));
      expect(result.summary).toBe(
        `refreshed the rollout: the cluster is at stage ${stage}; its facts of the cluster unchanged (see the file's header)`,
      );
      expect(result.yaml).toContain(`# The cluster is at stage ${stage}: IN SYNC (its policies and every workload's live modes).`);
      expect(result.yaml.split("\n")[0]).toBe("# yaml-language-server: $schema=../schema/rollout.schema.json");
      // The same rollout: its stages, workloads and comments as written.
      const refreshed = parseRolloutYaml(result.yaml, "refreshed");
      expect(refreshed.stages).toEqual(lab.stages);
      expect(refreshed.workloads).toEqual(lab.workloads);
      for (const line of labText.split("\n").filter((l) => /^\s*#/.test(l) && !l.includes("yaml-language-server")))
        expect(result.yaml).toContain(line);
    },
  );

  it("says where a drifted cluster stands, updates the facts it holds, and replaces its own block the next time", async () => {
    const lists = clusterOf(lab, "istioinaction-strict");
    lists.peerauthentications = lists.peerauthentications.filter((p) => p.metadata.name !== "purchase-history-strict");
    lists.destinationrules.push({
      apiVersion: "networking.istio.io/v1",
      kind: "DestinationRule",
      metadata: { name: "web-api", namespace: "istioinaction", creationTimestamp: "2026-11-02T10:00:00Z", uid: "dr-1" },
      spec: { host: "web-api", trafficPolicy: { tls: { mode: "ISTIO_MUTUAL" } } },
    });
    const request = {
      runner: runnerOf(lists),
      callTimeoutMs: 5_000,
      meshRootNamespace: lab.meshRootNamespace,
      namespaces: [...new Set([...lab.namespaces.map((n) => n.name), ...lab.workloads.map((w) => w.namespace)])],
    };
    const first = await discover({ ...request, rollout: { text: labText, rollout: lab, path: LAB_FILE } });
    if (!("yaml" in first)) throw new Error(JSON.stringify(first));
    expect(first.summary).toMatch(
      /^refreshed the rollout: the cluster is at no stage \(nearest: istioinaction-strict\); updated 1 DestinationRules/,
    );
    expect(first.yaml).toContain(
      "#   - missing istioinaction/purchase-history-strict: workload selecting app=purchase-history, mode STRICT",
    );
    expect(YAML.parse(first.yaml).destinationRules).toEqual([
      { name: "web-api", namespace: "istioinaction", host: "web-api", trafficPolicy: { tls: { mode: "ISTIO_MUTUAL" } } },
    ]);
    const again = await discover({ ...request, rollout: { text: first.yaml, rollout: parseRolloutYaml(first.yaml, "x"), path: LAB_FILE } });
    if (!("yaml" in again)) throw new Error(JSON.stringify(again));
    expect(again.yaml.split("mtls-rollout discover --rollout:").length).toBe(2);
    expect(again.summary).toMatch(/its facts of the cluster unchanged/);
  });

  it("is the CLI's discover --rollout, which refuses --prometheus and --namespace beside it", async () => {
    const dir = writeLists(fs.mkdtempSync(path.join(os.tmpdir(), "refresh-")), clusterOf(lab, "permissive"));
    const env = { KUBECTL: FAKE_KUBECTL, FAKE_KUBECTL_DIR: dir };
    const out = await cli(["discover", "--rollout", LAB_FILE], { env });
    expect(out.code).toBe(0);
    expect(out.stdout).toContain("# The cluster is at stage permissive: IN SYNC");
    const bad = await cli(["discover", "--rollout", LAB_FILE, "--namespace", "default"], { env });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("--namespace: does not go with --rollout");
  });
});
