/**
 * `mtls-rollout status` against an executable KUBECTL (the fake kubectl, answering from List files) answering
 * `kubectl get peerauthentications.security.istio.io --all-namespaces -o json`.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { peerAuthenticationManifest } from "../src/manifests/kubernetes";
import { clusterOf, policiesAt, writeLists, type ClusterOptions } from "./support/labCluster";
import { buildPlan } from "../src/model/plan";
import { loadRollout } from "../src/rollout/load";
import { crdValidator } from "./support/crdValidator";
import { FAKE_KUBECTL } from "./support/fakeKubectlBuild";
import { cli } from "./support/inProcessCli";

const CLUSTER = path.join(__dirname, "fixtures", "cluster");
const validate = crdValidator(path.join(__dirname, "fixtures", "peerauthentication-crd.yaml"), "v1");
const lab = loadRollout();

type Object = { apiVersion: string; kind: string; metadata: Record<string, unknown>; spec: Record<string, unknown> };

/** The PeerAuthentications a stack at `stage` has put on the cluster, as the API server returns them. */
const appliedAt = (stage: string, created = "2026-11-01T10:00:00Z"): Object[] => policiesAt(lab, stage, created) as Object[];

/** status against the lab's cluster, its workloads running as the stack deploys them, with `policies` on it. */
function status(policies: Object[], args: string[] = [], env: NodeJS.ProcessEnv = {}, options: ClusterOptions = {}) {
  for (const p of policies) expect(validate(p), `${p.metadata.namespace}/${p.metadata.name}`).toEqual([]);
  const dir = writeLists(fs.mkdtempSync(path.join(os.tmpdir(), "status-")), {
    ...clusterOf(lab, null, options),
    peerauthentications: policies,
  });
  return cli(["status", ...args], { env: { KUBECTL: FAKE_KUBECTL, FAKE_KUBECTL_DIR: dir, ...env } });
}

describe("npx mtls-rollout status", () => {
  it("prints every workload of a small mesh as a table, with --wide or without", async () => {
    const text = await status(appliedAt("istioinaction-strict"));
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/│ istioinaction +│ web-api +│ STRICT +│ STRICT +│ = +│/);
    expect((await status(appliedAt("istioinaction-strict"), ["--wide"])).stdout).toBe(text.stdout);
  });

  it("names the stage the cluster is at, exit 0, with every workload's live mode beside the expected one", async () => {
    const { code, stdout, stderr } = await status(appliedAt("istioinaction-strict"), ["--json"]);
    expect(stderr).toBe("");
    expect(code).toBe(0);
    const s = JSON.parse(stdout);
    expect(Object.keys(s)).toEqual([
      "stage",
      "expectedStage",
      "inSync",
      "comparedWith",
      "policiesAt",
      "differences",
      "workloads",
      "dormant",
      "warnings",
      "summary",
    ]);
    expect(s).toMatchObject({ stage: "istioinaction-strict", inSync: true, differences: [], dormant: 0, warnings: [] });
    expect(s.workloads).toContainEqual({
      namespace: "istioinaction",
      name: "web-api",
      mode: "STRICT",
      ports: { "8080": "STRICT" },
      pods: 1,
      expected: { mode: "STRICT", ports: { "8080": "STRICT" } },
    });
    expect(s.workloads).toContainEqual({
      namespace: "default",
      name: "sleep",
      mode: null,
      ports: {},
      pods: 1,
      expected: { mode: null, ports: {} },
    });
    expect(s.summary).toBe(
      "IN SYNC: the cluster's PeerAuthentications are exactly stage istioinaction-strict; every workload's live mode is as expected",
    );
  });

  it("counts dormant policies as absent: a fresh stack at the first stage is in sync with it", async () => {
    const s = JSON.parse((await status(appliedAt("permissive"), ["--json"])).stdout);
    expect(s).toMatchObject({ stage: "permissive", inSync: true, dormant: 2 });
  });

  it("exits 1 on drift, listing what is missing, extra and changed against the nearest stage", async () => {
    const policies = appliedAt("istioinaction-strict")
      .filter((p) => p.metadata.name !== "purchase-history-strict")
      .map((p) => (p.metadata.namespace === "istio-system" ? { ...p, spec: { mtls: { mode: "STRICT" } } } : p));
    policies.push({
      apiVersion: "security.istio.io/v1",
      kind: "PeerAuthentication",
      metadata: {
        name: "httpbin-strict",
        namespace: "default",
        creationTimestamp: "2026-11-20T08:00:00Z",
        uid: "0b5e2f70-1c2d-4e5f-8a9b-0000000000aa",
      },
      spec: { selector: { matchLabels: { app: "httpbin" } }, mtls: { mode: "STRICT" } },
    });
    const { code, stdout } = await status(policies, ["--json"]);
    expect(code).toBe(1);
    const s = JSON.parse(stdout);
    // A STRICT mesh policy with the namespace policy: nearest to the last stage, whose policies these are but two.
    expect(s).toMatchObject({ stage: null, inSync: false, comparedWith: "mesh-strict" });
    expect(s.differences).toEqual([
      { kind: "extra", namespace: "default", name: "httpbin-strict", detail: "workload selecting app=httpbin, mode STRICT" },
      {
        kind: "missing",
        namespace: "istioinaction",
        name: "purchase-history-strict",
        detail: "workload selecting app=purchase-history, mode STRICT",
      },
    ]);
    expect(s.summary).toBe(
      "DRIFT: the cluster is at no stage of the rollout; nearest is mesh-strict, 2 differences; every workload's live mode is as expected",
    );
  });

  it("reports a changed policy, and the workload whose live mode it changes", async () => {
    const policies = appliedAt("istioinaction-strict").map((p) =>
      p.metadata.name === "purchase-history-strict" ? { ...p, spec: { ...p.spec, mtls: { mode: "PERMISSIVE" } } } : p,
    );
    const s = JSON.parse((await status(policies, ["--json"])).stdout);
    expect(s.comparedWith).toBe("istioinaction-strict");
    expect(s.differences).toEqual([
      { kind: "changed", namespace: "istioinaction", name: "purchase-history-strict", detail: "mode PERMISSIVE (rollout: STRICT)" },
    ]);
    expect(s.workloads.find((w: { name: string }) => w.name === "purchase-history-v1")).toEqual({
      namespace: "istioinaction",
      name: "purchase-history-v1",
      mode: "PERMISSIVE",
      ports: { "8080": "PERMISSIVE" },
      pods: 1,
      expected: { mode: "STRICT", ports: { "8080": "STRICT" } },
    });
    expect(s.summary).toBe(
      "DRIFT: the cluster is at no stage of the rollout; nearest is istioinaction-strict, 1 difference; 1 workload's live mode differs",
    );
  });

  it("computes live modes as Istio does where two policies compete: the oldest wins", async () => {
    const policies = appliedAt("purchase-history-strict", "2026-11-01T10:00:00Z");
    // Someone adds a namespace-wide STRICT policy next to the stack's dormant one, which is older: Istio keeps the dormant one.
    policies.push({
      apiVersion: "security.istio.io/v1",
      kind: "PeerAuthentication",
      metadata: {
        name: "lockdown",
        namespace: "istioinaction",
        creationTimestamp: "2026-11-21T08:00:00Z",
        uid: "0b5e2f70-1c2d-4e5f-8a9b-0000000000bb",
      },
      spec: { mtls: { mode: "STRICT" } },
    });
    const s = JSON.parse((await status(policies, ["--json"])).stdout);
    expect(s.differences).toEqual([{ kind: "extra", namespace: "istioinaction", name: "lockdown", detail: "namespace-wide, mode STRICT" }]);
    expect(s.warnings).toEqual([
      "Istio ignores istioinaction/lockdown: a second namespace-wide policy, newer than istioinaction/default, a dormant one of an mtls-rollout stack (mode UNSET: it inherits), which Istio applies instead",
    ]);
    const webApi = s.workloads.find((w: { name: string }) => w.name === "web-api");
    expect(webApi).toMatchObject({ mode: "PERMISSIVE", expected: { mode: "PERMISSIVE" } });
  });

  it("prints the differences and the modes side by side as text", async () => {
    const { code, stdout } = await status(
      appliedAt("mesh-strict").filter((p) => `${p.metadata.namespace}/${p.metadata.name}` !== "istioinaction/default"),
      ["--context", "kind-mtls-lab"],
    );
    expect(code).toBe(1);
    const lines = stdout.split("\n");
    expect(lines[0]).toBe("Cluster: kube context kind-mtls-lab");
    expect(lines[1]).toBe(
      // The mesh-wide STRICT covers what the missing namespace policy would: the modes are what the stage expects.
      "DRIFT: the cluster is at no stage of the rollout; nearest is mesh-strict, 1 difference; every workload's live mode is as expected",
    );
    expect(stdout).toMatch(/│ missing +│ istioinaction\/default +│ namespace-wide, mode STRICT +│/);
    expect(stdout).toMatch(/│ istioinaction +│ web-api +│ STRICT +│ STRICT +│ = +│/);
  });

  it("warns when a policy the rollout declares exists already without being marked existing", async () => {
    const plan = buildPlan(lab, "permissive");
    const foreign = {
      ...peerAuthenticationManifest(plan.peerAuthentications[0]),
      metadata: { name: "default", namespace: "istio-system", creationTimestamp: "2025-01-10T09:10:00Z" },
    };
    const s = JSON.parse((await status([foreign], ["--json"])).stdout);
    expect(s.warnings).toEqual([
      "istio-system/default is on the cluster, not made by mtls-rollout, and the rollout does not mark it existing: true; the first pulumi up would fail with AlreadyExists",
    ]);
  });

  it("reads a freshly discovered mesh IN SYNC at stage current: every live policy in the file, the modes agree, a partly injected workload's as declared", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "status-"));
    const discovered = await cli(["discover", "-o", path.join(dir, "mesh.yaml")], {
      env: { KUBECTL: FAKE_KUBECTL, FAKE_KUBECTL_DIR: CLUSTER },
    });
    expect(discovered.code).toBe(0);
    const { code, stdout } = await cli(["status", "--rollout", path.join(dir, "mesh.yaml"), "--json"], {
      env: { KUBECTL: FAKE_KUBECTL, FAKE_KUBECTL_DIR: CLUSTER },
    });
    expect(code).toBe(0);
    const s = JSON.parse(stdout);
    expect(s).toMatchObject({ inSync: true, stage: "current", comparedWith: "current", differences: [] });
    // Every workload as Istio treats it, recommender too: one of its two pods has a sidecar, and the file says so
    // (sidecar: partial), so its pod without one is outside the mesh as declared; the probe kit is not deployed yet.
    type Row = { namespace: string; name: string; mode: unknown; missing?: boolean; groups?: unknown; expected: { mode: unknown } };
    const rows: Row[] = s.workloads;
    expect(rows.filter((w) => w.mode !== w.expected.mode && !w.missing).map((w) => `${w.namespace}/${w.name}`)).toEqual([]);
    expect(rows.find((w) => w.name === "recommender")!.groups).toEqual([
      { pods: 1, sidecar: true, mode: "PERMISSIVE", ports: { "8080": "PERMISSIVE" } },
      { pods: 1, sidecar: false, mode: null, ports: {} },
    ]);
    expect(rows.filter((w) => w.missing).map((w) => `${w.namespace}/${w.name}`)).toEqual([
      "payments/mtls-probe",
      "shop/mtls-probe",
      "mtls-rollout-probes/mtls-probe",
    ]);
    expect(s.warnings).toContain(
      "not deployed yet (the stack deploys them on its first pulumi up): payments/mtls-probe, shop/mtls-probe, mtls-rollout-probes/mtls-probe",
    );
  });

  it("fits a terminal of 80 columns on a mesh of its own: pods that differ, workloads not deployed, long warnings", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "status-"));
    const env = { KUBECTL: FAKE_KUBECTL, FAKE_KUBECTL_DIR: CLUSTER };
    expect((await cli(["discover", "-o", path.join(dir, "mesh.yaml")], { env })).code).toBe(0);
    const { stdout } = await cli(["status", "--rollout", path.join(dir, "mesh.yaml")], { env: { ...env, COLUMNS: "80" } });
    expect(stdout).toMatch(/│ shop +│ recommender +│ 1 pod: +│/);
    expect(stdout).toContain("Warnings");
    // Every line but the summary, which stays one line for a log's tail.
    const widest = Math.max(
      ...stdout
        .split("\n")
        .filter((l) => !l.startsWith("DRIFT: ") && !l.startsWith("IN SYNC: "))
        .map((l) => [...l].length),
    );
    expect(widest).toBeLessThanOrEqual(80);
  });

  it("exits 2 with one line for a setup problem, 3 for an answer it cannot use, 2 for a bad rollout file", async () => {
    const unreachable = await status([], [], { FAKE_KUBECTL_UNREACHABLE: "1" });
    expect(unreachable.code).toBe(2);
    expect(unreachable.stderr).toBe(
      "error: the cluster is unreachable: The connection to the server 127.0.0.1:6443 was refused - did you specify the right host or port?\n",
    );
    const noContext = await status([], ["--context", "prod"], { FAKE_KUBECTL_CONTEXTS: "kind-mtls-lab" });
    expect(noContext).toMatchObject({
      code: 2,
      stderr: 'error: the kube context "prod" does not exist (kubectl config get-contexts lists the ones there are)\n',
    });
    // A policy Istio could not read as written: which mode applies cannot be told, so nothing is said in sync.
    const odd = appliedAt("istioinaction-strict").map((p) =>
      p.metadata.name === "purchase-history-strict" ? { ...p, spec: { ...p.spec, portLevelMtls: { "08080": { mode: "PERMISSIVE" } } } } : p,
    );
    const unusable = await status(odd, [], {});
    expect(unusable.code).toBe(3);
    expect(unusable.stdout).toBe("");
    expect(unusable.stderr).toMatch(
      /^error: kubectl get peerauthentications\.security\.istio\.io --all-namespaces --show-managed-fields -o json: malformed object at items\[\d\]\.spec\.portLevelMtls\.08080: key "08080" is not a port number as Istio reads one/,
    );
    const bad = await status([], ["--rollout", "/nonexistent.yaml"]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toBe("error: /nonexistent.yaml: cannot be read (ENOENT)\n");
  });
});
