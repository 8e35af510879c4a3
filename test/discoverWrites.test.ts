/**
 * What discover writes loads as what it says, whatever the cluster holds: no character a terminal or an editor would
 * obey in the file (escaped, and said so), an object the file cannot hold left out with the reason, stages grouped
 * rather than more than a rollout may have, and a mesh larger than a rollout refused with exit 3. The clusters are
 * the lab's objects (test/support/labCluster.ts) multiplied, or changed where the API allows what the file does not.
 */
import { describe, expect, it } from "vitest";
import YAML from "yaml";
import type { KubectlRunner } from "../src/cluster/runner";
import { discover, type DiscoverResult } from "../src/discover/run";
import { checkRollout, isBlocking } from "../src/model/rules";
import { ROLLOUT_LIMITS } from "../src/model/rollout";
import { loadRollout, parseRolloutYaml } from "../src/rollout/load";
import { answerFromLists } from "./support/kubectlFromLists";
import { clusterOf, generatedMesh, type ClusterLists } from "./support/labCluster";

type Item = Record<string, any>;

/** What a terminal obeys or reorders (src/model/text.ts TERMINAL_UNSAFE): none may be in a file discover writes. */
const UNSAFE = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;

const runnerOf =
  (lists: ClusterLists): KubectlRunner =>
  async (args) => ({ ...answerFromLists(args, (l) => lists[l]), timedOut: false });

async function discovered(lists: ClusterLists, prometheus?: { url: string; fetch: typeof fetch }): Promise<DiscoverResult> {
  return discover({
    runner: runnerOf(lists),
    meshRootNamespace: "istio-system",
    callTimeoutMs: 30_000,
    ...(prometheus ? { prometheus: { access: prometheus.url, fetch: prometheus.fetch, windowSeconds: 3600 } } : {}),
  });
}

describe("what discover writes", () => {
  it("escapes what a terminal would obey in names and metric labels it quotes, and says so", async () => {
    const lab = loadRollout();
    const lists = clusterOf(lab, "permissive");
    // Istio's metrics name a caller by its labels, which any pod can set: here one that clears the screen and reverses text.
    const evil = "x\u001b[2J\u202eevil";
    const answer = JSON.stringify({
      status: "success",
      data: {
        resultType: "vector",
        result: [
          {
            metric: {
              source_workload: evil,
              source_workload_namespace: "batch",
              destination_workload: "web-api",
              destination_workload_namespace: "istioinaction",
              connection_security_policy: "none",
            },
            value: [1764480000, "12"],
          },
        ],
      },
    });
    const fetch = (async () =>
      new Response(answer, { status: 200, headers: { "content-type": "application/json" } })) as typeof globalThis.fetch;
    const result = await discovered(lists, { url: "http://prometheus:9090", fetch });
    if (!("yaml" in result)) throw new Error(JSON.stringify(result));
    expect(result.yaml).not.toMatch(UNSAFE);
    expect(result.yaml).toContain("  # called by batch/x\\u001b[2J\\u202eevil, which is not in this file");
    expect(result.yaml).toMatch(
      /# Characters a terminal would obey, found in names or labels read, are written as \\uXXXX in \d+ comment lines?\./,
    );
    parseRolloutYaml(result.yaml, "discovered.yaml");
  });

  it("leaves out a workload whose pod template has more labels than a mapping of the file may hold, saying why", async () => {
    const lists = clusterOf(generatedMesh(1, 2), null);
    const labels = Object.fromEntries(Array.from({ length: 10_001 }, (_, i) => [`l${i}`, "v"]));
    const c = lists.controllers.find((x) => x.metadata.name === "w1")!;
    c.spec.template.metadata.labels = { ...labels, app: "w1" };
    const result = await discovered(lists);
    if (!("yaml" in result)) throw new Error(JSON.stringify(result));
    expect(result.yaml).toContain(
      "#   - Deployment ns0/w1: its pod template has 10002 labels, more than the 10000 a mapping of a rollout file may have",
    );
    const rollout = parseRolloutYaml(result.yaml, "discovered.yaml");
    expect(rollout.workloads.map((w) => w.ref)).toContain("ns0/w0");
    expect(rollout.workloads.map((w) => w.ref)).not.toContain("ns0/w1");
  });

  it("leaves out a label key or value Kubernetes would not take, which a stand-in cluster may still answer", async () => {
    const lists = clusterOf(generatedMesh(1, 2), null);
    lists.controllers.find((x) => x.metadata.name === "w1")!.spec.template.metadata.labels = JSON.parse('{"app":"w1","__proto__":"x"}');
    const result = await discovered(lists);
    if (!("yaml" in result)) throw new Error(JSON.stringify(result));
    expect(result.yaml).toContain(
      '#   - Deployment ns0/w1: its pod template has the label key "__proto__", which is no Kubernetes label key',
    );
    parseRolloutYaml(result.yaml, "discovered.yaml");
  });

  it("groups namespaces into stages when there are more than a rollout has stages for, and the file passes check", async () => {
    const namespaces = ROLLOUT_LIMITS.stages; // one more than the 497 namespace stages a rollout has room for
    const result = await discovered(clusterOf(generatedMesh(namespaces, 1), null));
    if (!("yaml" in result)) throw new Error(JSON.stringify(result));
    const file = YAML.parse(result.yaml);
    expect(file.stages.length).toBeLessThanOrEqual(ROLLOUT_LIMITS.stages);
    expect(file.stages[1]).toMatchObject({ name: "mesh-permissive" });
    expect(file.stages[2]).toMatchObject({
      name: "namespaces-strict-1",
      description: expect.stringMatching(/^STRICT for 2 namespaces \(ns0, ns1\): 2 workloads with a sidecar$/),
    });
    expect(file.stages.at(-1)).toMatchObject({ name: "mesh-strict" });
    expect(result.yaml).toContain(
      "#   - proposed stages: 500 namespaces to make STRICT, more than the 497 stages a rollout has room for: 2 namespaces a stage, those with sidecars only and no plaintext first",
    );
    const rollout = parseRolloutYaml(result.yaml, "discovered.yaml");
    expect(rollout.stages.flatMap((s) => s.peerAuthentications).filter((p) => p.mode === "STRICT" && p.selector === null)).toHaveLength(
      namespaces + 1,
    );
    expect(checkRollout(rollout).filter(isBlocking)).toEqual([]);
  }, 60_000);

  it("fixes stage current in one pass: 300 policies naming a port no container declares, each on its own workload", async () => {
    const lists = clusterOf(generatedMesh(1, 300), null);
    lists.peerauthentications = Array.from({ length: 300 }, (_, i) => ({
      apiVersion: "security.istio.io/v1",
      kind: "PeerAuthentication",
      metadata: { name: `w${i}-admin`, namespace: "ns0", creationTimestamp: "2026-01-01T00:00:00Z" },
      spec: { selector: { matchLabels: { app: `w${i}` } }, mtls: { mode: "STRICT" }, portLevelMtls: { "9901": { mode: "PERMISSIVE" } } },
    }));
    const result = await discovered(lists);
    if (!("yaml" in result)) throw new Error(JSON.stringify(result));
    const rollout = parseRolloutYaml(result.yaml, "discovered.yaml");
    expect(rollout.stages[0].peerAuthentications).toHaveLength(300);
    expect(rollout.workloads.filter((w) => w.containerPorts.includes(9901))).toHaveLength(300);
    expect(
      result.yaml.match(/# port 9901: no container declares it, but ns0\/w\d+-admin sets it in portLevelMtls, so it is listed/g),
    ).toHaveLength(300);
    expect(checkRollout(rollout).filter(isBlocking)).toEqual([]);
  });

  it("exits 3, not 2, for a mesh larger than a rollout can hold, and names --namespace as the way", async () => {
    // Controllers only (no pods, no Services): the count is what matters, and reading them is cheap.
    const lists = clusterOf(generatedMesh(1, 1), null);
    const one = lists.controllers[0];
    lists.controllers = Array.from({ length: ROLLOUT_LIMITS.workloads }, (_, i) => {
      const c: Item = structuredClone(one);
      c.metadata.name = `w${i}`;
      c.metadata.namespace = `ns${i % 50}`;
      return c;
    });
    lists.namespaces = [
      ...lists.namespaces.filter((n) => n.metadata.name === "istio-system"),
      ...Array.from({ length: 50 }, (_, n) => {
        const ns: Item = structuredClone(lists.namespaces.find((x) => x.metadata.name === "ns0")!);
        ns.metadata.name = `ns${n}`;
        ns.metadata.labels = { "kubernetes.io/metadata.name": `ns${n}`, "istio-injection": "enabled" };
        return ns;
      }),
    ];
    lists.pods = [];
    lists.services = [];
    expect(await discovered(lists)).toEqual({
      kind: "cluster",
      error:
        "the cluster has 10,000 workloads in these namespaces; with the probe kit's client outside the mesh a rollout holds at most 9,999: discover part of the mesh with --namespace",
    });
  }, 60_000);
});
