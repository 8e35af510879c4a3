/**
 * discover on meshes that are not the fixture's: each case changes a copy of test/fixtures/cluster's
 * objects (so they keep the API's shapes) and checks what discover makes of it, in-process.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import * as YAML from "yaml";
import type { KubectlRunner } from "../src/cluster/runner";
import { discover } from "../src/discover/run";
import { FOUND_ON_THE_CLUSTER } from "../src/discover/propose";
import { buildPlan } from "../src/model/plan";
import { checkRollout, isBlocking } from "../src/model/rules";
import { parseRolloutYaml } from "../src/rollout/load";
import { compareWithRollout } from "../src/status/compare";
import { readLiveState } from "../src/cluster/readLive";
import { answerFromLists, type ListName } from "./support/kubectlFromLists";

const CLUSTER = path.join(__dirname, "fixtures", "cluster");
type Item = Record<string, any>;
type Mesh = Record<ListName, Item[]>;
const load = (): Mesh =>
  Object.fromEntries(
    ["namespaces", "controllers", "services", "pods", "peerauthentications", "configmaps", "mutatingwebhookconfigurations"].map((n) => [
      n,
      JSON.parse(fs.readFileSync(path.join(CLUSTER, `${n}.json`), "utf8")).items,
    ]),
  ) as Mesh;

/** kubectl answering from `mesh` in-process, as the fake kubectl answers from List files. */
function runnerOf(mesh: Mesh): KubectlRunner {
  return async (args) => ({ ...answerFromLists(args, (list) => mesh[list]), timedOut: false });
}

async function discovered(mesh: Mesh, extra: { namespaces?: string[]; meshRootNamespace?: string } = {}) {
  const result = await discover({
    runner: runnerOf(mesh),
    meshRootNamespace: extra.meshRootNamespace ?? "istio-system",
    namespaces: extra.namespaces,
    callTimeoutMs: 5_000,
  });
  if ("error" in result) return { error: result.error, kind: result.kind };
  if ("interrupted" in result) throw new Error("discover was not interrupted");
  const rollout = parseRolloutYaml(result.yaml, "discovered.yaml");
  // Whatever the mesh, the file passes check and plans every stage.
  expect(checkRollout(rollout).filter(isBlocking)).toEqual([]);
  for (const s of rollout.stages) buildPlan(rollout, s.name);
  return { yaml: result.yaml, file: YAML.parse(result.yaml), rollout, mesh };
}

const policy = (namespace: string, name: string, created: string, spec: Item): Item => ({
  apiVersion: "security.istio.io/v1",
  kind: "PeerAuthentication",
  metadata: { name, namespace, creationTimestamp: created, uid: `0000-${namespace}-${name}` },
  spec,
});

describe("discover on other meshes", () => {
  it("never gives a new namespace-wide policy a name a live policy holds: the stage is left out, saying why", async () => {
    const mesh = load();
    mesh.peerauthentications = [
      policy("shop", "default", "2025-05-01T00:00:00Z", { selector: { matchLabels: { app: "frontend" } }, mtls: { mode: "PERMISSIVE" } }),
    ];
    const r = await discovered(mesh);
    if ("error" in r) throw new Error(r.error);
    // shop/default keeps frontend PERMISSIVE: an adopted exception, proposed STRICT before the mesh.
    expect(r.file.stages.map((s: { name: string }) => s.name)).toEqual([
      "current",
      "mesh-permissive",
      "payments-strict",
      "exceptions-strict",
      "mesh-strict",
    ]);
    expect(r.yaml).toContain(
      "#   - proposed stage shop-strict: not proposed: shop/default is taken by a policy that is not selector-less, and a namespace-wide policy must be named default (one-default-per-scope); rename that one first",
    );
    // The live selector policy is kept as it is, at every stage.
    for (const s of r.rollout.stages)
      expect(buildPlan(r.rollout, s.name).peerAuthentications.find((p) => p.namespace === "shop")?.selector).toEqual({ app: "frontend" });
  });

  it("names a namespace called mesh's stage so it cannot pass for the mesh-wide one", async () => {
    const mesh = load();
    mesh.namespaces = mesh.namespaces.map((n) =>
      n.metadata.name === "shop"
        ? { ...n, metadata: { ...n.metadata, name: "mesh", labels: { ...n.metadata.labels, "kubernetes.io/metadata.name": "mesh" } } }
        : n,
    );
    for (const list of [mesh.controllers, mesh.services, mesh.pods, mesh.peerauthentications])
      for (const o of list) if (o.metadata.namespace === "shop") o.metadata.namespace = "mesh";
    const r = await discovered(mesh);
    if ("error" in r) throw new Error(r.error);
    expect(r.file.stages.map((s: { name: string }) => s.name)).toEqual([
      "current",
      "mesh-namespace-strict",
      "payments-strict",
      "exceptions-strict",
      "mesh-strict",
    ]);
    expect(r.file.stages[4].peerAuthentications).toEqual([{ name: "default", namespace: "istio-system", mode: "STRICT" }]);
  });

  it("leaves out a gateway installed by istioctl (istio-proxy running as a router), not only the Helm chart's", async () => {
    const mesh = load();
    const gateway = mesh.controllers.find((c) => c.metadata.name === "istio-ingressgateway")!;
    delete gateway.spec.template.metadata.annotations;
    gateway.spec.template.spec.containers[0].args = ["proxy", "router", "--domain", "$(POD_NAMESPACE).svc.cluster.local"];
    const r = await discovered(mesh);
    if ("error" in r) throw new Error(r.error);
    expect(r.yaml).toContain(
      "#   - Deployment istio-ingress/istio-ingressgateway: an Istio gateway; PeerAuthentication governs sidecars, not a gateway's listeners",
    );
    expect(r.file.workloads.some((w: { name: string }) => w.name === "istio-ingressgateway")).toBe(false);
  });

  it("leaves out, with the reason, an object the API allows and a rollout cannot name (a Deployment called api.v2)", async () => {
    const mesh = load();
    mesh.controllers.find((c) => c.metadata.name === "checkout")!.metadata.name = "checkout.v2";
    const r = await discovered(mesh);
    if ("error" in r) throw new Error(r.error);
    expect(r.yaml).toMatch(/#   - Deployment payments\/checkout\.v2: name must be a DNS-1123 label .*, which a rollout file needs/);
  });

  it("lists a port a policy sets that no container declares, rather than dropping the policy", async () => {
    const mesh = load();
    mesh.peerauthentications.push(
      policy("shop", "cart-admin", "2025-05-03T00:00:00Z", {
        selector: { matchLabels: { app: "cart" } },
        mtls: { mode: "STRICT" },
        portLevelMtls: { "9999": { mode: "PERMISSIVE" } },
      }),
    );
    const r = await discovered(mesh);
    if ("error" in r) throw new Error(r.error);
    expect(r.file.stages[0].peerAuthentications).toContainEqual({
      name: "cart-admin",
      namespace: "shop",
      selector: { app: "cart" },
      mode: "STRICT",
      portLevelMtls: { "9999": "PERMISSIVE" },
      existing: true,
    });
    expect(r.file.workloads.find((w: { name: string }) => w.name === "cart").ports).toEqual([{ name: "grpc", containerPort: 7070 }, 9999]);
    expect(r.yaml).toContain("  # port 9999: no container declares it, but shop/cart-admin sets it in portLevelMtls, so it is listed");
  });

  it("keeps the policy that breaks namespace-disable-breaks-strict-workloads in stage current, accepts the finding, and proposes the fix", async () => {
    const mesh = load();
    mesh.peerauthentications = [
      policy("istio-system", "default", "2025-01-01T00:00:00Z", { mtls: { mode: "DISABLE" } }),
      policy("shop", "frontend-permissive", "2025-01-02T00:00:00Z", {
        selector: { matchLabels: { app: "frontend" } },
        mtls: { mode: "PERMISSIVE" },
      }),
      policy("shop", "lock-redis", "2025-01-03T00:00:00Z", { selector: { matchLabels: { app: "redis" } }, mtls: { mode: "STRICT" } }),
    ];
    const r = await discovered(mesh);
    if ("error" in r) throw new Error(r.error);
    expect(r.file.stages[0].peerAuthentications.map((p: { name: string }) => p.name)).toEqual([
      "default",
      "frontend-permissive",
      "lock-redis",
    ]);
    expect(r.file.stages[0].acknowledgeFindings).toEqual([
      { rule: "namespace-disable-breaks-strict-workloads", resource: "shop/redis:6379", reason: FOUND_ON_THE_CLUSTER },
    ]);
    expect(r.yaml).toMatch(/#   - namespace-disable-breaks-strict-workloads: shop\/redis is STRICT on 6379/);
    // The fix: a mesh-wide DISABLE is mesh-permissive's.
    expect(r.file.stages[1]).toMatchObject({
      name: "mesh-permissive",
      description: expect.stringMatching(/^Mesh-wide PERMISSIVE instead of DISABLE/),
    });
  });

  it("proposes PERMISSIVE instead of a namespace-wide DISABLE under which a workload is STRICT, right after current", async () => {
    const mesh = load();
    mesh.peerauthentications = [
      policy("shop", "default", "2025-01-01T00:00:00Z", { mtls: { mode: "DISABLE" } }),
      policy("shop", "lock-redis", "2025-01-03T00:00:00Z", { selector: { matchLabels: { app: "redis" } }, mtls: { mode: "STRICT" } }),
    ];
    const r = await discovered(mesh);
    if ("error" in r) throw new Error(r.error);
    expect(r.file.stages[1]).toEqual({
      name: "permissive-instead-of-disable",
      description:
        "Namespace-wide PERMISSIVE instead of DISABLE in shop: clients with a sidecar send mTLS again, which their STRICT workloads accept",
      peerAuthentications: [{ name: "default", namespace: "shop", mode: "PERMISSIVE" }],
    });
    // From there on, nothing is STRICT under a DISABLE: the finding is gone, not only accepted.
    const plan = buildPlan(r.rollout, "permissive-instead-of-disable");
    expect(plan.violations.filter((v) => v.rule === "namespace-disable-breaks-strict-workloads")).toEqual([]);
  });

  it("proposes nothing beyond current on a mesh without a workload with a sidecar", async () => {
    const mesh = load();
    mesh.namespaces = mesh.namespaces.map((n) => ({
      ...n,
      metadata: { ...n.metadata, labels: { ...n.metadata.labels, "istio.io/dataplane-mode": "ambient" } },
    }));
    const r = await discovered(mesh);
    if ("error" in r) throw new Error(r.error);
    expect(r.file.stages.map((s: { name: string }) => s.name)).toEqual(["current"]);
    expect(r.yaml).toContain("#   - proposed stages: none, no workload found here has a sidecar");
  });

  it("refuses a mesh root namespace the cluster does not have, as bad input", async () => {
    expect(await discovered(load(), { meshRootNamespace: "nope" })).toEqual({
      error: "--mesh-root: the cluster has no namespace nope: name Istio's root namespace (where istiod runs)",
      kind: "input",
    });
    expect(await discovered(load(), { meshRootNamespace: "nope", namespaces: ["shop"] })).toMatchObject({ kind: "input" });
  });
});

describe("status between two equally near stages", () => {
  it("compares with the one whose modes the cluster has, not simply the later", async () => {
    const mesh = load();
    const r = await discovered(mesh);
    if ("error" in r) throw new Error(r.error);
    // Both of payments' policies deleted: payments/default is missing from current (PERMISSIVE) and from
    // payments-strict (STRICT) alike, but the cluster's modes are current's.
    mesh.peerauthentications = mesh.peerauthentications.filter((p) => p.metadata.namespace !== "payments");
    const live = await readLiveState(r.rollout, runnerOf(mesh), 5_000);
    if ("error" in live) throw new Error(live.error);
    const status = compareWithRollout(r.rollout, live);
    expect(status.differences.map((d) => `${d.kind} ${d.namespace}/${d.name}`)).toEqual([
      "missing payments/default",
      "missing payments/lockdown",
    ]);
    expect(status.comparedWith).toBe("current");
    // Every workload's live modes are current's (recommender's as declared partial: one of its pods has a sidecar),
    // but the probe kit's, which the stack has not deployed yet.
    expect(status.workloads.filter((w) => !w.matches).map((w) => `${w.namespace}/${w.name}${w.missing ? " (missing)" : ""}`)).toEqual([
      "payments/mtls-probe (missing)",
      "shop/mtls-probe (missing)",
      "mtls-rollout-probes/mtls-probe (missing)",
    ]);
  });
});
