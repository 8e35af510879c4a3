/**
 * One reading of the live cluster, one answer for every command: the lab's mesh running as the stack deploys it
 * (test/support/labCluster.ts, objects copied from test/fixtures/cluster with their API shapes), its policies as
 * the API server returns them, and the cases a red team found fail-open: competing policies Istio orders by age,
 * dormant policies that still hold their place, pods without their sidecar, and answers that are not whole.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import YAML from "yaml";
import { getList } from "../src/cluster/kubectlGet";
import { peerAuthenticationObjectSchema } from "../src/cluster/objects";
import { readLiveState } from "../src/cluster/readLive";
import type { KubectlRunner } from "../src/cluster/runner";
import { discover } from "../src/discover/run";
import { liveModesAt } from "../src/model/liveModes";
import { runPreflight } from "../src/preflight/run";
import { loadRollout, parseRolloutYaml } from "../src/rollout/load";
import { compareWithRollout } from "../src/status/compare";
import { crdValidator } from "./support/crdValidator";
import { FAKE_KUBECTL } from "./support/fakeKubectlBuild";
import { runCliAsync } from "./support/files";
import { cli } from "./support/inProcessCli";
import { answerFromLists } from "./support/kubectlFromLists";
import { kubernetesListErrors } from "./support/kubernetesSchema";
import { clusterOf, writeLists, type ClusterLists } from "./support/labCluster";

const lab = loadRollout();
const validatePolicy = crdValidator(path.join(__dirname, "fixtures", "peerauthentication-crd.yaml"), "v1");
type Item = Record<string, any>;

/** kubectl answering from `lists` in-process, as the fake kubectl answers from List files. */
const runnerOf =
  (lists: ClusterLists): KubectlRunner =>
  async (args) => ({ ...answerFromLists(args[0] === "--context" ? args.slice(2) : args, (l) => lists[l]), timedOut: false });

/** A policy as the API server returns it. */
const policy = (namespace: string, name: string, created: string, spec: Item, annotations?: Record<string, string>): Item => ({
  apiVersion: "security.istio.io/v1",
  kind: "PeerAuthentication",
  metadata: {
    name,
    namespace,
    creationTimestamp: created,
    generation: 1,
    uid: `0000-${namespace}-${name}`,
    ...(annotations ? { annotations } : {}),
  },
  spec,
});

const GATE = { windowSeconds: 1, callTimeoutMs: 2_000, sleep: async () => {} };
const targetsOf = async (lists: ClusterLists, stage: string) =>
  (
    await runPreflight(lab, stage, "live", { runner: runnerOf(lists) }, { ...GATE, signal: AbortSignal.abort("test: targets only") })
  ).targets.map((t) => t.workload);

describe("the lab's cluster as tests build it", () => {
  it("is made of objects valid against Kubernetes' published schema and Istio's CRD", () => {
    const lists = clusterOf(lab, "mesh-strict", { withoutSidecar: { "istioinaction/web-api": 1 } });
    for (const name of ["configmaps", "namespaces", "controllers", "services", "pods"] as const) {
      expect(kubernetesListErrors({ kind: "List", items: lists[name] }), name).toEqual([]);
    }
    for (const p of lists.peerauthentications) expect(validatePolicy(p)).toEqual([]);
    // Names are unique per namespace and kind, as the API server keeps them.
    const keys = lists.pods.map((p) => `${p.metadata.namespace}/${p.metadata.name}`);
    expect(new Set(keys).size).toBe(keys.length);
  });

  it("runs every workload as the model says: the live modes at a stage are that stage's", async () => {
    for (const stage of lab.stages.map((s) => s.name)) {
      const live = await readLiveState(lab, runnerOf(clusterOf(lab, stage)), 5_000);
      if ("error" in live) throw new Error(live.error);
      expect(
        liveModesAt(lab, live, stage).filter((w) => !w.matches),
        stage,
      ).toEqual([]);
    }
  });
});

describe("competing policies, ordered as Istio orders them", () => {
  // The stack's stage istioinaction-strict on the cluster, and beside it an older namespace-wide PERMISSIVE policy
  // someone left: by name kubectl lists `default` first, but Istio applies the older one, and istioinaction stays open.
  const withOlderPermissive = (): ClusterLists => {
    const lists = clusterOf(lab, "istioinaction-strict", { created: "2026-11-01T10:00:00Z" });
    lists.peerauthentications.push(policy("istioinaction", "legacy-permissive", "2025-03-01T08:00:00Z", { mtls: { mode: "PERMISSIVE" } }));
    return lists;
  };

  it("the gate against the live cluster gates what Istio leaves open, not what the newer policy says", async () => {
    const lists = withOlderPermissive();
    expect(lists.peerauthentications.map((p) => p.metadata.name).sort()[0]).toBe("default"); // first by name
    // purchase-history-v1 is STRICT already by its own workload policy; istioinaction/sleep has no port to gate.
    expect(await targetsOf(lists, "istioinaction-strict")).toEqual(["istioinaction/web-api", "istioinaction/recommendation"]);
  });

  it("a dormant policy that is older holds its namespace's place: the newer STRICT one hides nothing", async () => {
    // The stack at purchase-history-strict: istioinaction/default is dormant (UNSET). Someone adds a STRICT `lockdown`.
    const lists = clusterOf(lab, "purchase-history-strict", { created: "2026-11-01T10:00:00Z" });
    lists.peerauthentications.push(policy("istioinaction", "lockdown", "2026-11-21T08:00:00Z", { mtls: { mode: "STRICT" } }));
    // Istio applies the dormant UNSET policy (the mesh's PERMISSIVE): the stage still tightens these.
    expect(await targetsOf(lists, "istioinaction-strict")).toEqual(["istioinaction/web-api", "istioinaction/recommendation"]);
  });

  it("status says DRIFT and verify fails at once: the stage's policies are there, but Istio does not apply them", async () => {
    const lists = withOlderPermissive();
    const live = await readLiveState(lab, runnerOf(lists), 5_000);
    if ("error" in live) throw new Error(live.error);
    const status = compareWithRollout(lab, live, { stage: "istioinaction-strict" });
    expect(status).toMatchObject({ inSync: false, stage: null, comparedWith: "istioinaction-strict" });
    expect(status.warnings).toContain(
      "Istio ignores istioinaction/default: a second namespace-wide policy, newer than istioinaction/legacy-permissive, which Istio applies instead",
    );
    expect(
      liveModesAt(lab, live, "istioinaction-strict")
        .filter((w) => !w.matches)
        .map((w) => w.name),
    ).toEqual(["web-api", "recommendation", "sleep"]);
  });

  it("discover's stage current is the cluster in Istio's order: the older policy first, the newer one kept and its finding accepted", async () => {
    const lists = withOlderPermissive();
    const result = await discover({ runner: runnerOf(lists), meshRootNamespace: "istio-system", callTimeoutMs: 5_000 });
    if (!("yaml" in result)) throw new Error(JSON.stringify(result));
    const file = YAML.parse(result.yaml);
    expect(file.stages[0].peerAuthentications.filter((p: Item) => p.namespace === "istioinaction")).toEqual([
      expect.objectContaining({ name: "legacy-permissive", mode: "PERMISSIVE", existing: true }),
      expect.objectContaining({ name: "default", mode: "STRICT", existing: true }),
      expect.objectContaining({ name: "purchase-history-strict", mode: "STRICT", existing: true }),
    ]);
    expect(file.stages[0].acknowledgeFindings).toContainEqual(
      expect.objectContaining({ rule: "one-default-per-scope", resource: "istioinaction/default" }),
    );
    expect(result.yaml).toContain(
      '#   - one-default-per-scope: istioinaction/default is a second namespace-wide PeerAuthentication besides istioinaction/legacy-permissive; Istio ignores the newer one, so merge them into one policy named "default"',
    );
    // And the file's stage current plans what the cluster's modes are.
    const rollout = parseRolloutYaml(result.yaml, "discovered.yaml");
    const live = await readLiveState(rollout, runnerOf(lists), 5_000);
    if ("error" in live) throw new Error(live.error);
    expect(liveModesAt(rollout, live, "current").filter((w) => !w.matches && !w.missing)).toEqual([]);
  });

  it("orders equal creation times by name, then namespace, as Istio's sort does", async () => {
    const lists = clusterOf(lab, "permissive", { created: "2026-11-01T10:00:00Z" });
    // Two namespace-wide policies created in the same second in default: `a-strict` comes first by name, and wins.
    lists.peerauthentications.push(
      policy("default", "b-permissive", "2026-11-02T10:00:00Z", { mtls: { mode: "PERMISSIVE" } }),
      policy("default", "a-strict", "2026-11-02T10:00:00Z", { mtls: { mode: "STRICT" } }),
    );
    const live = await readLiveState(lab, runnerOf(lists), 5_000);
    if ("error" in live) throw new Error(live.error);
    expect(live.namespaceWide.get("default")?.policy.name).toBe("a-strict");
    expect(live.ignored.map((i) => i.policy.policy.name)).toEqual(["b-permissive"]);
    // httpbin is STRICT already: mesh-strict tightens only istioinaction's.
    expect(await targetsOf(lists, "mesh-strict")).toEqual([
      "istioinaction/web-api",
      "istioinaction/recommendation",
      "istioinaction/purchase-history-v1",
    ]);
  });
});

describe("status: in sync only when the policies and the live modes agree", () => {
  const statusOf = (lists: ClusterLists, args: string[] = []) => {
    const dir = writeLists(fs.mkdtempSync(path.join(os.tmpdir(), "status-")), lists);
    return cli(["status", "--json", ...args], { env: { KUBECTL: FAKE_KUBECTL, FAKE_KUBECTL_DIR: dir } });
  };

  it("says DRIFT when the policies are exactly a stage's but a pod runs without its sidecar", async () => {
    const { code, stdout } = await statusOf(
      clusterOf(lab, "istioinaction-strict", { withoutSidecar: { "istioinaction/purchase-history-v1": 1 } }),
    );
    expect(code).toBe(1);
    const s = JSON.parse(stdout);
    expect(s).toMatchObject({ stage: null, inSync: false, policiesAt: "istioinaction-strict", differences: [] });
    expect(s.summary).toBe(
      "DRIFT: the cluster's PeerAuthentications are exactly stage istioinaction-strict, but 1 workload's live mode differs (see the warnings)",
    );
    expect(s.workloads.find((w: Item) => w.name === "purchase-history-v1")).toMatchObject({ mode: null, pods: 1 });
  });

  it("with --stage (or --stack), is in sync only at that stage", async () => {
    const lists = clusterOf(lab, "purchase-history-strict");
    expect((await statusOf(lists)).code).toBe(0);
    const other = await statusOf(lists, ["--stage", "istioinaction-strict"]);
    expect(other.code).toBe(1);
    expect(JSON.parse(other.stdout)).toMatchObject({
      stage: "purchase-history-strict",
      expectedStage: "istioinaction-strict",
      inSync: false,
    });
    expect(JSON.parse(other.stdout).summary).toMatch(
      /^DRIFT: the cluster is at stage purchase-history-strict, not at stage istioinaction-strict, the stage expected; /,
    );
    const same = await statusOf(lists, ["--stage", "purchase-history-strict"]);
    expect(JSON.parse(same.stdout)).toMatchObject({ stage: "purchase-history-strict", inSync: true });
    expect(JSON.parse(same.stdout).summary).toMatch(
      /^IN SYNC: the cluster's PeerAuthentications are exactly stage purchase-history-strict, the stage expected;/,
    );
  });

  it("with --stack, takes the stage the stack declares", async () => {
    const dir = writeLists(fs.mkdtempSync(path.join(os.tmpdir(), "status-stack-")), clusterOf(lab, "purchase-history-strict"));
    fs.writeFileSync(path.join(dir, "Pulumi.prod.yaml"), "config:\n  mtls-rollout:stage: mesh-strict\n");
    const { code, stdout } = await runCliAsync(["status", "--stack", "prod", "--json"], {
      cwd: dir,
      env: { KUBECTL: FAKE_KUBECTL, FAKE_KUBECTL_DIR: dir },
    });
    expect(code).toBe(1);
    expect(JSON.parse(stdout)).toMatchObject({ stage: "purchase-history-strict", expectedStage: "mesh-strict", inSync: false });
  });

  it("compares selectors as data: a label value with a comma is not two labels", () => {
    // The rollout selects app=purchase-history,version=v1; the live policy one label whose value holds the rest.
    const rollout = parseRolloutYaml(
      fs
        .readFileSync(path.join(__dirname, "..", "stages", "lab.yaml"), "utf8")
        .replace("selector: { app: purchase-history }", "selector: { app: purchase-history, version: v1 }"),
      "lab.yaml",
    );
    const lists = clusterOf(rollout, "purchase-history-strict");
    const pa = lists.peerauthentications.find((p) => p.metadata.name === "purchase-history-strict")!;
    pa.spec.selector.matchLabels = { app: "purchase-history,version=v1" };
    return readLiveState(rollout, runnerOf(lists), 5_000).then((live) => {
      if ("error" in live) throw new Error(live.error);
      const s = compareWithRollout(rollout, live, { stage: "purchase-history-strict" });
      expect(s.differences).toEqual([
        {
          kind: "changed",
          namespace: "istioinaction",
          name: "purchase-history-strict",
          detail: "selector app=purchase-history,version=v1 (rollout: app=purchase-history,version=v1)",
        },
      ]);
      expect(s.workloads.find((w) => w.name === "purchase-history-v1")).toMatchObject({ mode: "PERMISSIVE", matches: false });
    });
  });

  it("keeps a __proto__ selector key as a key: the policy selects no pod, it does not become namespace-wide", async () => {
    const lists = clusterOf(lab, "purchase-history-strict");
    const pa = lists.peerauthentications.find((p) => p.metadata.name === "purchase-history-strict")!;
    pa.spec.selector.matchLabels = JSON.parse('{"__proto__": "purchase-history"}');
    const live = await readLiveState(lab, runnerOf(lists), 5_000);
    if ("error" in live) throw new Error(live.error);
    // istioinaction's namespace-wide policy is still the stack's dormant default; this one selects no pod.
    expect(live.namespaceWide.get("istioinaction")?.policy.name).toBe("default");
    const proto = live.policies.find((l) => l.policy.name === "purchase-history-strict")!;
    expect(Object.keys(proto.policy.selector!)).toEqual(["__proto__"]);
    expect(live.workloadPolicies.has(proto)).toBe(false);
    const s = compareWithRollout(lab, live, { stage: "purchase-history-strict" });
    expect(s.workloads.find((w) => w.name === "purchase-history-v1")).toMatchObject({ mode: "PERMISSIVE", matches: false });
    expect(s.workloads.find((w) => w.name === "web-api")).toMatchObject({ mode: "PERMISSIVE" });
    expect(s.differences[0]).toMatchObject({
      kind: "changed",
      detail: "selector __proto__=purchase-history (rollout: app=purchase-history)",
    });
  });
});

describe("answers that are not whole, or say two things, are no evidence", () => {
  const answer =
    (stdout: string, stderr = "", exitCode = 0): KubectlRunner =>
    async () => ({ exitCode, stdout, stderr, timedOut: false });
  const list = (items: Item[], metadata: Item = { resourceVersion: "" }) =>
    JSON.stringify({ apiVersion: "v1", items, kind: "List", metadata });
  const read = (runner: KubectlRunner) =>
    getList(
      runner,
      ["get", "peerauthentications.security.istio.io", "--all-namespaces", "-o", "json"],
      peerAuthenticationObjectSchema,
      5_000,
    );
  const one = policy("istio-system", "default", "2026-11-01T10:00:00Z", { mtls: { mode: "STRICT" } });

  it.each([
    [
      "a page of a longer list (metadata.continue)",
      answer(list([one], { continue: "eyJ2IjoibWV0YS5rOHMuaW8vdjEifQ", resourceVersion: "9" })),
      /one page of a longer list/,
    ],
    ["items still to come (remainingItemCount)", answer(list([one], { remainingItemCount: 3 })), /one page of a longer list/],
    [
      "a key twice in one object",
      answer(
        `{"apiVersion":"v1","kind":"List","items":[{"metadata":{"name":"default","namespace":"istio-system","creationTimestamp":"2026-11-01T10:00:00Z"},"spec":{"mtls":{"mode":"PERMISSIVE","mode":"STRICT"}}}]}`,
      ),
      /a key appears twice in one object: "mode"/,
    ],
    [
      "a key twice, spelled differently",
      answer(
        `{"items":[{"metadata":{"name":"a","namespace":"b","creationTimestamp":"2026-11-01T10:00:00Z","name":"c"}}],"kind":"List","apiVersion":"v1"}`,
      ),
      /a key appears twice in one object: "name"/,
    ],
    [
      "exit 0 with a server error on stderr",
      answer(list([one]), 'Error from server (InternalError): an error on the server ("") has prevented the request from succeeding\n'),
      /kubectl exited 0 but said "Error from server \(InternalError\)/,
    ],
    [
      "two keys for one port",
      answer(
        list([
          policy("shop", "db", "2026-11-01T10:00:00Z", {
            selector: { matchLabels: { app: "db" } },
            portLevelMtls: { "05432": { mode: "DISABLE" }, "5432": { mode: "STRICT" } },
          }),
        ]),
      ),
      /portLevelMtls\.05432: key "05432" is not a port number as Istio reads one/,
    ],
    [
      "a policy without its creation time",
      answer(list([{ ...one, metadata: { name: "default", namespace: "istio-system" } }])),
      /creationTimestamp/,
    ],
  ])("refuses %s", async (_what, runner, why) => {
    const r = await read(runner);
    expect("error" in r && r.error).toMatch(why);
  });

  it("still reads warnings on stderr (a deprecation), which are not errors", async () => {
    const r = await read(answer(list([one]), "Warning: security.istio.io/v1beta1 PeerAuthentication is deprecated\n"));
    expect(r).toMatchObject({ items: [{ metadata: { name: "default" } }] });
  });

  it("refuses the escaped spelling of a key as the same key", async () => {
    const r = await read(answer(`{"apiVersion":"v1","kind":"List","items":[],"\\u006bind":"List"}`));
    expect("error" in r && r.error).toMatch(/a key appears twice in one object: "kind"/);
  });
});

describe("discover sees every pod", () => {
  it("lists a Job's pods and a bare pod without a sidecar as clients, and the stage that would refuse them says so", async () => {
    const lists = clusterOf(lab, "permissive");
    const plain = lists.pods.find((p) => p.metadata.namespace === "default" && p.metadata.name.startsWith("sleep-"))!;
    const job = structuredClone(plain);
    job.metadata = {
      ...job.metadata,
      name: "report-29400000-x7k2p",
      generateName: "report-29400000-",
      namespace: "default",
      labels: { "batch.kubernetes.io/job-name": "report-29400000", "job-name": "report-29400000" },
      ownerReferences: [
        { apiVersion: "batch/v1", kind: "Job", name: "report-29400000", uid: "0000-job", blockOwnerDeletion: true, controller: true },
      ],
      uid: "0000-job-pod",
    };
    const bare = structuredClone(plain);
    bare.metadata = { ...bare.metadata, name: "debug", namespace: "default", labels: { run: "debug" }, uid: "0000-bare" };
    delete bare.metadata.ownerReferences;
    delete bare.metadata.generateName;
    lists.pods.push(job, bare);
    expect(kubernetesListErrors({ kind: "List", items: [job, bare] })).toEqual([]);
    const result = await discover({ runner: runnerOf(lists), meshRootNamespace: "istio-system", callTimeoutMs: 5_000 });
    if (!("yaml" in result)) throw new Error(JSON.stringify(result));
    const lines = result.yaml.split("\n");
    // Istio names a job's workload after the CronJob that made it (pkg/kube/util.go cronJobNameRegexp).
    expect(lines).toContain("#   - default/debug (Pod, 1 pod, no sidecar)");
    expect(lines).toContain("#   - default/report (CronJob, 1 pod, no sidecar)");
    expect(lines).toContain(
      "  # default/debug (Pod) runs pods without a sidecar here: they cannot call this namespace's workloads once STRICT",
    );
    expect(lines).toContain(
      "  # would refuse these workloads without a sidecar if they call any workload with a sidecar: default/sleep, default/debug (Pod), default/report (CronJob)",
    );
  });

  it("takes the pod spec's word on the sidecar, not an annotation alone", async () => {
    const lists = clusterOf(lab, "permissive");
    // httpbin's pod keeps the injector's status annotation, but its istio-proxy container is gone.
    const pod = lists.pods.find((p) => p.metadata.name.startsWith("httpbin-"))!;
    expect(pod.metadata.annotations["sidecar.istio.io/status"]).toBeDefined();
    pod.spec.containers = pod.spec.containers.filter((c: Item) => c.name !== "istio-proxy");
    const live = await readLiveState(lab, runnerOf(lists), 5_000);
    if ("error" in live) throw new Error(live.error);
    expect(liveModesAt(lab, live, "permissive").find((w) => w.name === "httpbin")).toMatchObject({ mode: null, matches: false });
  });
});

describe("the mesh config: Istio's root namespace, and auto mTLS", () => {
  /** The lab's cluster at `stage` with istiod's mesh config naming `root` as the root namespace. */
  const withRoot = (stage: string, root: string) => {
    const lists = clusterOf(lab, stage);
    lists.configmaps[0].data.mesh = lists.configmaps[0].data.mesh.replace(/^rootNamespace: .*$/m, `rootNamespace: ${root}`);
    return lists;
  };

  it("computes the live modes with the root the mesh config names: a policy in the rollout's root is not mesh-wide there", async () => {
    const lists = withRoot("mesh-strict", "istio-config");
    const live = await readLiveState(lab, runnerOf(lists), 5_000);
    if ("error" in live) throw new Error(live.error);
    expect(live.meshRootNamespace).toBe("istio-config");
    const s = compareWithRollout(lab, live, { stage: "mesh-strict" });
    expect(s.inSync).toBe(false);
    expect(s.warnings[0]).toBe(
      "the mesh's root namespace is istio-config (istio-system/istio), not istio-system as the rollout says: a policy the rollout means mesh-wide is namespace-wide there; set meshRootNamespace: istio-config",
    );
    // istio-system/default STRICT is only istio-system's own: httpbin stays PERMISSIVE, and the gate sees it open.
    expect(s.workloads.find((w) => w.name === "httpbin")).toMatchObject({ mode: "PERMISSIVE", matches: false });
    expect(await targetsOf(lists, "mesh-strict")).toContain("default/httpbin");
  });

  it("says when auto mTLS is off on the cluster and on in the rollout, and when the mesh config could not be read", async () => {
    const off = clusterOf(lab, "permissive");
    off.configmaps[0].data.mesh += "\nenableAutoMtls: false";
    const live = await readLiveState(lab, runnerOf(off), 5_000);
    if ("error" in live) throw new Error(live.error);
    expect(compareWithRollout(lab, live).warnings).toContain(
      "the mesh config turns auto mTLS off (enableAutoMtls: false), but the rollout says enableAutoMtls: true: the expected outcomes follow the rollout; set it as the cluster has it",
    );
    // A rollout that says so follows the cluster, and is not warned.
    const saysOff = { ...lab, enableAutoMtls: false };
    expect(compareWithRollout(saysOff, live).warnings.filter((w) => w.includes("enableAutoMtls"))).toEqual([]);
    const none = clusterOf(lab, "permissive");
    none.configmaps = [];
    const assumed = await readLiveState(lab, runnerOf(none), 5_000);
    if ("error" in assumed) throw new Error(assumed.error);
    expect(compareWithRollout(lab, assumed).warnings).toContain(
      "no mesh config (ConfigMap istio) in namespace istio-system: the root namespace is taken to be istio-system",
    );
  });

  it("refuses a mesh config it cannot read as one", async () => {
    const odd = clusterOf(lab, "permissive");
    odd.configmaps[0].data.mesh = "rootNamespace: [istio-config]";
    expect(await readLiveState(lab, runnerOf(odd), 5_000)).toEqual({
      error: "the mesh config in ConfigMap istio-system/istio has a rootNamespace that is not a name",
    });
  });

  it("discover takes the root namespace from the mesh config unless --mesh-root names one", async () => {
    const lists = withRoot("permissive", "istio-config");
    lists.namespaces.push({
      ...structuredClone(lists.namespaces[0]),
      metadata: { ...lists.namespaces[0].metadata, name: "istio-config", uid: "0000-istio-config" },
    });
    lists.peerauthentications.push(policy("istio-config", "default", "2025-02-01T00:00:00Z", { mtls: { mode: "PERMISSIVE" } }));
    const result = await discover({ runner: runnerOf(lists), callTimeoutMs: 5_000 });
    if (!("yaml" in result)) throw new Error(JSON.stringify(result));
    const file = YAML.parse(result.yaml);
    expect(file.meshRootNamespace).toBe("istio-config");
    expect(result.yaml).toContain("mesh root istio-config (the mesh config in istio-system/istio)");
    expect(file.stages[0].peerAuthentications).toContainEqual({
      name: "default",
      namespace: "istio-config",
      mode: "PERMISSIVE",
      existing: true,
    });
    const named = await discover({ runner: runnerOf(lists), meshRootNamespace: "istio-system", callTimeoutMs: 5_000 });
    if (!("yaml" in named)) throw new Error(JSON.stringify(named));
    expect(YAML.parse(named.yaml).meshRootNamespace).toBe("istio-system");
  });
});

describe("what a red team found, each held now", () => {
  it("status: the stack's workloads gone while its policies are there is drift, not 'not yet'", async () => {
    const lists = clusterOf(lab, "istioinaction-strict");
    lists.controllers = [];
    lists.pods = [];
    const live = await readLiveState(lab, runnerOf(lists), 5_000);
    if ("error" in live) throw new Error(live.error);
    const s = compareWithRollout(lab, live);
    expect(s.inSync).toBe(false);
    expect(s.warnings).toContain(
      "not on the cluster (no such controllers): istioinaction/web-api, istioinaction/recommendation, istioinaction/purchase-history-v1, istioinaction/sleep, default/httpbin, default/sleep",
    );
  });

  it("status --stage: of two stages with the same policies, the one expected", async () => {
    const rollout = parseRolloutYaml(
      fs.readFileSync(path.join(__dirname, "..", "stages", "lab.yaml"), "utf8") +
        "  - name: istioinaction-strict-ack\n    description: the same policies, an acknowledgement more\n    acknowledgePlaintext: [ { target: istioinaction/web-api:8080, reason: health checks } ]\n",
      "lab.yaml",
    );
    // Its policies are mesh-strict's: a stage after it adds nothing.
    const lists = clusterOf(rollout, "istioinaction-strict-ack");
    const live = await readLiveState(rollout, runnerOf(lists), 5_000);
    if ("error" in live) throw new Error(live.error);
    expect(compareWithRollout(rollout, live, { stage: "istioinaction-strict-ack" })).toMatchObject({
      inSync: true,
      stage: "istioinaction-strict-ack",
    });
    expect(compareWithRollout(rollout, live, { stage: "mesh-strict" })).toMatchObject({ inSync: true, stage: "mesh-strict" });
  });

  it("predicts the sidecar of a workload scaled to zero from its namespace's injection label too", async () => {
    const rollout = parseRolloutYaml(
      [
        "namespaces: [ { name: shop, injection: true } ]",
        "workloads:",
        "  - { name: cart, namespace: shop, deploy: false, sidecar: true, labels: { app: cart }, service: { ports: [ { port: 80, targetPort: 8080 } ] } }",
        "stages: [ { name: strict, peerAuthentications: [ { name: default, namespace: shop, mode: STRICT } ] } ]",
      ].join("\n"),
      "shop.yaml",
    );
    const lists = clusterOf(rollout, "strict");
    lists.pods = []; // scaled to zero; its template has no injection label of its own
    expect(lists.controllers[0].spec.template.metadata.labels).toEqual({ app: "cart" });
    const live = await readLiveState(rollout, runnerOf(lists), 5_000);
    if ("error" in live) throw new Error(live.error);
    const s = compareWithRollout(rollout, live, { stage: "strict" });
    expect(s).toMatchObject({ inSync: true });
    expect(s.warnings).toContain("no pod runs, so the live mode is what its template's pods would get: shop/cart");
  });

  it.each([
    [
      "a single object where the list was asked for",
      (lists: ClusterLists) => JSON.stringify(lists.peerauthentications[0]),
      /kubectl answered a single "PeerAuthentication" where a list was asked for/,
    ],
    [
      "a page left to read, counted as a string",
      (lists: ClusterLists) =>
        JSON.stringify({
          apiVersion: "v1",
          kind: "List",
          items: lists.peerauthentications,
          metadata: { remainingItemCount: "250", continue: null },
        }),
      /one page of a longer list/,
    ],
    [
      "the same object twice",
      (lists: ClusterLists) =>
        JSON.stringify({
          apiVersion: "v1",
          kind: "List",
          items: [lists.peerauthentications[0], lists.peerauthentications[0]],
          metadata: {},
        }),
      /the answer holds "istio-system\/default" twice/,
    ],
  ])("refuses %s", async (_what, answer, why) => {
    const lists = clusterOf(lab, "permissive");
    const runner: KubectlRunner = async (args) =>
      args[1] === "peerauthentications.security.istio.io"
        ? { exitCode: 0, stdout: answer(lists), stderr: "", timedOut: false }
        : { ...answerFromLists(args, (l) => lists[l]), timedOut: false };
    const live = await readLiveState(lab, runner, 5_000);
    expect("error" in live && live.error).toMatch(why);
  });

  it("refuses an object of another namespace in the answer for one namespace", async () => {
    const lists = clusterOf(lab, "permissive");
    const foreign = lists.peerauthentications.find((p) => p.metadata.namespace === "istio-system")!;
    const runner: KubectlRunner = async (args) =>
      args.includes("--namespace") && args[1] === "peerauthentications.security.istio.io"
        ? {
            exitCode: 0,
            stdout: JSON.stringify({ apiVersion: "v1", kind: "List", items: [foreign], metadata: {} }),
            stderr: "",
            timedOut: false,
          }
        : args.includes("--all-namespaces")
          ? {
              exitCode: 1,
              stdout: "",
              stderr:
                'Error from server (Forbidden): peerauthentications.security.istio.io is forbidden: User "jane" cannot list resource "peerauthentications" in API group "security.istio.io" at the cluster scope\n',
              timedOut: false,
            }
          : { ...answerFromLists(args, (l) => lists[l]), timedOut: false };
    const live = await readLiveState(lab, runner, 5_000);
    expect("error" in live && live.error).toMatch(/the answer holds "istio-system\/default", of another namespace than the one asked for/);
  });

  it("says a setup problem after kubectl's warnings (a kubeconfig not found, a deprecated auth plugin) in one line, exit 2", async () => {
    const lists = clusterOf(lab, "permissive");
    const runner: KubectlRunner = async () => ({
      exitCode: 1,
      stdout: "",
      stderr:
        'W1204 10:04:05.123456    4711 loader.go:222] Config not found: /home/jane/.kube/config\nerror: context "prod" does not exist\n',
      timedOut: false,
    });
    const live = await readLiveState(lab, runner, 5_000);
    expect(live).toEqual({
      error: 'the kube context "prod" does not exist (kubectl config get-contexts lists the ones there are)',
      setup: true,
    });
    expect(lists.pods.length).toBeGreaterThan(0);
  });

  it("discover says why it proposes no stage for a namespace whose default a stack holds, dormant", async () => {
    const result = await discover({ runner: runnerOf(clusterOf(lab, "purchase-history-strict")), callTimeoutMs: 5_000 });
    if (!("yaml" in result)) throw new Error(JSON.stringify(result));
    expect(result.yaml).toContain(
      "#   - proposed stage istioinaction-strict: not proposed: istioinaction/default is a dormant policy of an mtls-rollout stack (a later stage of its rollout, mode UNSET); that stack's rollout file proposes this namespace's stages: run it, or delete the stack's policies first",
    );
    expect(result.yaml).toMatch(
      /# 2 namespaces, 6 workloads; 2 PeerAuthentications in stage current, of 3 on the cluster in these namespaces and the mesh root;/,
    );
  });
});
