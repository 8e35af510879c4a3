/**
 * A team's own mesh, walked from discover through status and verify at each stage, as issue 19 found it impassable:
 * 3 namespaces, 11 workloads. A PostgreSQL StatefulSet on `tcp-postgres`, Redis on `redis`, a fluent-bit forward
 * DaemonSet on `tcp-forward` 24224 without a sidecar, a Deployment with one pod injected and one not, a workload
 * with two Services. Its objects are the lab's recorded `kubectl get -o json` objects (test/support/labCluster.ts,
 * test/fixtures/cluster, schema-checked in test/clusterFixtures.test.ts) made into this mesh; the probes answer as
 * such servers do (test/realServers.test.ts measured it: PostgreSQL and Redis close on curl's request without a
 * byte), and sidecars the stack does not own report no listener counter and write no access log (Istio's default).
 */
import { describe, expect, it } from "vitest";
import * as commands from "../src/cli/commands";
import type { CommandContext } from "../src/cli/command";
import type { KubectlRunner } from "../src/cluster/runner";
import { readLiveState } from "../src/cluster/readLive";
import { discover } from "../src/discover/run";
import { buildPlan } from "../src/model/plan";
import type { Rollout } from "../src/model/rollout";
import { compareWithRollout } from "../src/status/compare";
import { loadRollout, parseRolloutYaml } from "../src/rollout/load";
import { answerKubectl, clusterState, type ClusterState, type Counters } from "./support/fakeCluster";
import { tempFile } from "./support/files";
import { answerFromLists } from "./support/kubectlFromLists";
import { clusterOf, policiesAt, type ClusterLists } from "./support/labCluster";

/** The mesh as it runs, written as a rollout file only to generate its objects from: every workload someone else's. */
const TRUTH = loadRollout(
  tempFile("truth.yaml", [
    "namespaces:",
    "  - { name: data, injection: true, existing: true }",
    "  - { name: logging, injection: false, existing: true }",
    "  - { name: web, injection: true, existing: true }",
    "workloads:",
    "  - { name: postgres, namespace: data, kind: StatefulSet, deploy: false, sidecar: true, service: { ports: [ { name: tcp-postgres, port: 5432 } ] } }",
    "  - { name: redis, namespace: data, deploy: false, sidecar: true, service: { ports: [ { name: redis, port: 6379 } ] } }",
    "  - { name: billing, namespace: data, deploy: false, sidecar: true, service: { ports: [ { name: http, port: 80, targetPort: 8080 } ] } }",
    "  - { name: fluent-bit, namespace: logging, kind: DaemonSet, deploy: false, sidecar: false, service: { ports: [ { name: tcp-forward, port: 24224 } ] } }",
    "  - { name: log-shipper, namespace: logging, deploy: false, sidecar: false, service: { ports: [ { name: http, port: 8080 } ] } }",
    "  - { name: frontend, namespace: web, deploy: false, sidecar: true, service: { ports: [ { name: http, port: 80, targetPort: 8080 } ] } }",
    "  - { name: api, namespace: web, deploy: false, sidecar: partial, service: { ports: [ { name: http, port: 8080 } ] } }",
    "  - { name: catalog, namespace: web, deploy: false, sidecar: true, service: { ports: [ { name: http, port: 8080 } ] } }",
    "  - { name: cart, namespace: web, deploy: false, sidecar: true, service: { ports: [ { name: http, port: 8080 } ] } }",
    "  - { name: checkout, namespace: web, deploy: false, sidecar: true, service: { ports: [ { name: http, port: 8080 } ] } }",
    "  - { name: search, namespace: web, deploy: false, sidecar: true, service: { ports: [ { name: grpc, port: 9090 } ] } }",
    "stages:",
    "  - name: as-it-runs",
    "    peerAuthentications: [ { name: default, namespace: istio-system, mode: PERMISSIVE } ]",
  ]),
);

/** Its objects: two pods of each workload (a DaemonSet's one), one of api's without a sidecar, catalog behind a second Service. */
function meshObjects(rollout: Rollout, stage: string | null): ClusterLists {
  const lists = clusterOf(rollout, stage, { withoutSidecar: { "web/api": 1 }, replicas: 2 });
  const catalog = lists.services.find((s) => s.metadata.name === "catalog" && s.metadata.namespace === "web")!;
  const second = structuredClone(catalog);
  second.metadata.name = "catalog-admin";
  second.metadata.uid = `${catalog.metadata.uid.slice(0, -4)}beef`;
  second.spec.ports = [{ name: "http-admin", port: 9000, protocol: "TCP", targetPort: 8080 }];
  lists.services.push(second);
  return lists;
}

const runnerOf =
  (lists: ClusterLists): KubectlRunner =>
  async (args) => ({ ...answerFromLists(args, (l) => lists[l]), timedOut: false });

async function discovered(): Promise<{ rollout: Rollout; yaml: string }> {
  const r = await discover({
    runner: runnerOf(meshObjects(TRUTH, "as-it-runs")),
    meshRootNamespace: "istio-system",
    callTimeoutMs: 10_000,
  });
  if (!("yaml" in r)) throw new Error(JSON.stringify(r));
  return { yaml: r.yaml, rollout: parseRolloutYaml(r.yaml, "discovered.yaml") };
}

/** The cluster for verify at `stage` of the discovered rollout: its objects with the probe kit, the stage's policies. */
function verifyCluster(rollout: Rollout, stage: string, tweak: (s: ClusterState) => void = () => {}): ClusterState {
  const { peerauthentications: _, ...lists } = meshObjects(rollout, null);
  const state: ClusterState = {
    ...clusterState(rollout, buildPlan(rollout, stage)),
    lists,
    peerAuthentications: policiesAt(rollout, stage),
    noAccessLog: true,
  };
  // PostgreSQL, Redis and fluent-bit's forward input close on curl's request without a byte.
  for (const ref of ["data/postgres", "data/redis", "logging/fluent-bit"]) state.workloads[ref].kind = "closes";
  tweak(state);
  return state;
}

async function verify(file: string, stage: string, state: ClusterState, timeout = 20) {
  let stdout = "";
  let stderr = "";
  let code = -1;
  const counters: Counters = {};
  const context: CommandContext = {
    io: { stdout: (t) => (stdout += t), stderr: (t) => (stderr += t), interactive: false, env: {} },
    setExit: (c) => (code = c),
    kubectl: () => async (args) => answerKubectl(args, state, counters),
  };
  await commands.verify({ stage, rollout: file, timeout, rounds: 1, concurrency: 4, settle: 0, matrix: "classes", json: true }, context);
  const result = JSON.parse(stdout) as {
    outcome: string;
    summary: string;
    edges: { from: string; to: string; observed: string; verdict: string; evidence: string }[];
  };
  return { code, stderr, result, verdicts: (v: string) => result.edges.filter((e) => e.verdict === v).map((e) => `${e.from} -> ${e.to}`) };
}

// Each step reads the mesh afresh: they run at once, each mostly waiting on its rounds.
describe.concurrent("a team's own mesh, from discover to the last stage", () => {
  it("discover reads it whole: the partly injected api as such, both of catalog's Services, stages that can pass", async () => {
    const { rollout, yaml } = await discovered();
    const refs = rollout.workloads.filter((w) => !w.probe).map((w) => w.ref);
    expect(refs).toHaveLength(11);
    expect(rollout.workloads.find((w) => w.ref === "web/api")).toMatchObject({ sidecar: true, partial: true });
    expect(rollout.workloads.find((w) => w.ref === "logging/fluent-bit")).toMatchObject({ sidecar: false, kind: "DaemonSet" });
    expect(rollout.workloads.find((w) => w.ref === "web/catalog")!.services.map((x) => `${x.name}:${x.ports[0].port}`)).toEqual([
      "catalog:8080",
      "catalog-admin:9000",
    ]);
    // Both are probed: the second Service's port too.
    const catalogEdges = buildPlan(rollout, "web-strict").expectations.filter((e) => e.to === "web/catalog");
    expect([...new Set(catalogEdges.map((e) => `${e.host}:${e.port}`))]).toEqual(["catalog.web:8080", "catalog-admin.web:9000"]);
    expect(yaml).toContain("    services:\n      - name: catalog\n");
    expect(rollout.stages.map((s) => s.name)).toEqual(["current", "data-strict", "web-strict", "mesh-strict"]);
    // web-strict and mesh-strict hold api back, PERMISSIVE, until it is restarted.
    expect(rollout.stages[2].peerAuthentications.map((p) => `${p.namespace}/${p.name} ${p.mode}`)).toEqual([
      "web/default STRICT",
      "web/api-until-restart PERMISSIVE",
    ]);
  });

  it("status: in sync at current, the api's pod without a sidecar as declared", async () => {
    const { rollout } = await discovered();
    const lists = meshObjects(TRUTH, "as-it-runs");
    const live = await readLiveState(rollout, runnerOf(lists), 10_000);
    if ("error" in live) throw new Error(live.error);
    const status = compareWithRollout(rollout, live);
    expect(status.policiesAt).toBe("current");
    expect(status.workloads.filter((w) => !w.matches && !w.missing)).toEqual([]);
  });

  it("verify passes at current, which changes nothing: TCP servers that close read from their counters or their pods", async () => {
    const { rollout, yaml } = await discovered();
    const file = tempFile("mesh.yaml", yaml);
    const run = await verify(file, "current", verifyCluster(rollout, "current"));
    expect(run.code, `${run.stderr}${JSON.stringify(run.result.edges, null, 1)}`).toBe(0);
    expect(run.verdicts("holds").length).toBe(run.result.edges.length);
    const fluent = run.result.edges.find((e) => e.to === "logging/fluent-bit" && e.from === "mtls-rollout-probes/mtls-probe")!;
    expect(fluent.evidence).toMatch(
      /the application closed the connection, which reached it in plaintext \(no pod of logging\/fluent-bit runs a sidecar/,
    );
  });

  it("verify at data-strict: refusals at sidecars the stack does not own are unverifiable until access logs are on", async () => {
    const { rollout, yaml } = await discovered();
    const file = tempFile("mesh.yaml", yaml);
    const bare = await verify(file, "data-strict", verifyCluster(rollout, "data-strict"));
    expect(bare.code).toBe(3);
    expect(bare.verdicts("unverifiable").sort()).toEqual([
      "mtls-rollout-probes/mtls-probe -> data/postgres",
      "mtls-rollout-probes/mtls-probe -> data/redis",
    ]);
    expect(bare.verdicts("contradicts")).toEqual([]);
    // With the stack's mtls-rollout:accessLogs, their sidecars log the refused connections.
    const logged = await verify(
      file,
      "data-strict",
      verifyCluster(rollout, "data-strict", (s) => (s.noAccessLog = false)),
    );
    expect(logged.code, logged.stderr).toBe(0);
  });

  it("verify at web-strict and mesh-strict passes, api held back and judged by the pod that took each probe", async () => {
    const { rollout, yaml } = await discovered();
    const file = tempFile("mesh.yaml", yaml);
    for (const stage of ["web-strict", "mesh-strict"]) {
      const onPlainPod = await verify(
        file,
        stage,
        verifyCluster(rollout, stage, (s) => {
          s.noAccessLog = false;
          s.answeredWithoutSidecar = ["web/api"];
          // Its pod with a sidecar counts what it takes (frontend calls it): its metrics are on.
          s.traffic = [{ from: "web/frontend", to: "web/api", policy: "mutual_tls" }];
        }),
      );
      expect(onPlainPod.code, `${stage}: ${onPlainPod.result.summary}`).toBe(0);
      const api = onPlainPod.result.edges.find((e) => e.to === "web/api" && e.from === "web/mtls-probe")!;
      expect(api).toMatchObject({ verdict: "holds" });
      expect(api.evidence).toMatch(/none of the 1 pods of web\/api with a sidecar counted it: one of its 1 pods without a sidecar took it/);
      const outside = (to: string) => onPlainPod.result.edges.find((e) => e.from === "mtls-rollout-probes/mtls-probe" && e.to === to)!;
      // The client without a sidecar: refused by the STRICT sidecars, served by api's pod without one.
      expect(outside("web/checkout")).toMatchObject({ observed: "refused", verdict: "holds" });
      expect(outside("web/api")).toMatchObject({ observed: "plaintext", verdict: "holds" });
      expect(outside("logging/fluent-bit")).toMatchObject({ observed: "plaintext", verdict: "holds" });
      if (stage === "mesh-strict") expect(outside("data/postgres")).toMatchObject({ observed: "refused", verdict: "holds" });
    }
  });
});
