/**
 * The invariant of a discovered rollout (issue 20): stage `current` is exactly the cluster. On every live cluster
 * below (test/fixtures/cluster, an invented mesh kept to the API's shapes, and variants of it with each way a live
 * mesh breaks the guardrails), `status` on the freshly discovered file is IN SYNC at stage current, and every
 * workload's and port's live mode is what `plan --stage current` says.
 *
 * Istio's sources for what the variants exercise (istio/istio 1.29, see test/fixtures/SOURCES.md):
 * - competing policies in creation order, then name, then namespace: pilot/pkg/model/authentication.go
 *   (`sortConfigByCreationTime`, `ComposePeerAuthentication`: the first selector-less policy of a namespace, the
 *   first workload policy selecting a pod; newer ones are skipped, pod by pod);
 * - a selector policy in the root namespace is ignored: pilot/pkg/model/authentication.go (`getConfigsForWorkload`).
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import * as YAML from "yaml";
import type { KubectlRunner } from "../src/cluster/runner";
import { readLiveState } from "../src/cluster/readLive";
import { ownerOfObject } from "../src/cluster/liveMesh";
import { discover } from "../src/discover/run";
import { liveModesAt } from "../src/model/liveModes";
import { buildPlan } from "../src/model/plan";
import { checkRollout, isBlocking } from "../src/model/rules";
import { parseRolloutYaml } from "../src/rollout/load";
import { compareWithRollout } from "../src/status/compare";
import { answerFromLists, type ListName } from "./support/kubectlFromLists";
import { crdValidator } from "./support/crdValidator";

const CLUSTER = path.join(__dirname, "fixtures", "cluster");
type Item = Record<string, any>;
type Mesh = Record<ListName, Item[]>;
const load = (): Mesh => ({
  ...(Object.fromEntries(
    ["namespaces", "controllers", "services", "pods", "peerauthentications", "configmaps", "mutatingwebhookconfigurations"].map((n) => [
      n,
      JSON.parse(fs.readFileSync(path.join(CLUSTER, `${n}.json`), "utf8")).items,
    ]),
  ) as Mesh),
  destinationrules: [],
});
/** A DestinationRule as the API server returns it, checked against Istio's CRD (networking.istio.io/v1). */
const validateRule = crdValidator(path.join(__dirname, "fixtures", "destinationrule-crd.yaml"), "v1");
const destinationRule = (namespace: string, name: string, created: string, spec: Item): Item => {
  const o = {
    apiVersion: "networking.istio.io/v1",
    kind: "DestinationRule",
    metadata: { name, namespace, creationTimestamp: created, generation: 1, resourceVersion: "4711", uid: `0000-dr-${namespace}-${name}` },
    spec,
  };
  expect(validateRule(o)).toEqual([]);
  return o;
};
const runnerOf =
  (mesh: Mesh): KubectlRunner =>
  async (args) => ({ ...answerFromLists(args, (list) => mesh[list]), timedOut: false });

const policy = (namespace: string, name: string, created: string, spec: Item): Item => ({
  apiVersion: "security.istio.io/v1",
  kind: "PeerAuthentication",
  metadata: { name, namespace, creationTimestamp: created, uid: `0000-${namespace}-${name}` },
  spec,
});

/** Adds a label to a controller's template and to its running pods (their names start with its name). */
function label(mesh: Mesh, namespace: string, controller: string, key: string, value: string) {
  const c = mesh.controllers.find((x) => x.metadata.namespace === namespace && x.metadata.name === controller)!;
  c.spec.template.metadata.labels[key] = value;
  for (const p of mesh.pods)
    if (p.metadata.namespace === namespace && p.metadata.name.startsWith(`${controller}-`)) p.metadata.labels[key] = value;
}

const variants: [string, (mesh: Mesh) => void][] = [
  ["the fixture as recorded (a second namespace-wide policy, one selecting no pod, a port DISABLE)", () => {}],
  [
    "a newer policy selecting more workloads than an older one on a shared workload: Istio applies it to the others",
    (mesh) => {
      label(mesh, "shop", "frontend", "tier", "web");
      label(mesh, "shop", "cart", "tier", "web");
      mesh.peerauthentications.push(
        policy("shop", "a-frontend-permissive", "2025-01-01T00:00:00Z", {
          selector: { matchLabels: { app: "frontend" } },
          mtls: { mode: "PERMISSIVE" },
        }),
        policy("shop", "web-strict", "2025-06-01T00:00:00Z", { selector: { matchLabels: { tier: "web" } }, mtls: { mode: "STRICT" } }),
      );
      // frontend-legacy selects frontend too and is older than web-strict: drop it so the case is two policies.
      mesh.peerauthentications = mesh.peerauthentications.filter((p) => p.metadata.name !== "frontend-legacy");
    },
  ],
  [
    "a workload STRICT under a namespace-wide DISABLE",
    (mesh) => {
      mesh.peerauthentications = [
        policy("shop", "default", "2025-01-01T00:00:00Z", { mtls: { mode: "DISABLE" } }),
        policy("shop", "lock-redis", "2025-01-03T00:00:00Z", { selector: { matchLabels: { app: "redis" } }, mtls: { mode: "STRICT" } }),
      ];
    },
  ],
  [
    "a selector policy in the mesh root namespace, which Istio ignores",
    (mesh) => {
      mesh.peerauthentications.push(
        policy("istio-system", "root-selector", "2025-02-01T00:00:00Z", {
          selector: { matchLabels: { app: "cart" } },
          mtls: { mode: "STRICT" },
        }),
      );
    },
  ],
  [
    "two workload policies with one selector, created in the same second: the first by name applies",
    (mesh) => {
      mesh.peerauthentications.push(
        policy("shop", "b-cart-permissive", "2025-03-01T00:00:00Z", {
          selector: { matchLabels: { app: "cart" } },
          mtls: { mode: "PERMISSIVE" },
        }),
        policy("shop", "a-cart-strict", "2025-03-01T00:00:00Z", { selector: { matchLabels: { app: "cart" } }, mtls: { mode: "STRICT" } }),
      );
    },
  ],
  [
    "a partly injected workload under a live namespace-wide STRICT",
    (mesh) => {
      mesh.peerauthentications.push(policy("shop", "default", "2025-01-01T00:00:00Z", { mtls: { mode: "STRICT" } }));
    },
  ],
  [
    "a workload whose sidecar does not intercept its port (traffic.sidecar.istio.io/excludeInboundPorts on the pod)",
    (mesh) => {
      const c = mesh.controllers.find((x) => x.metadata.namespace === "shop" && x.metadata.name === "redis")!;
      c.spec.template.metadata.annotations = {
        ...c.spec.template.metadata.annotations,
        "traffic.sidecar.istio.io/excludeInboundPorts": "6379",
      };
      // The injector renders the annotation into istio-init's istio-iptables arguments (-d, the excluded ports).
      for (const p of mesh.pods.filter((x) => x.metadata.namespace === "shop" && x.metadata.name.startsWith("redis-"))) {
        p.metadata.annotations = { ...p.metadata.annotations, "traffic.sidecar.istio.io/excludeInboundPorts": "6379" };
        const init = (p.spec.initContainers ?? []).find((x: Item) => x.name === "istio-init");
        if (init) init.args[init.args.indexOf("-d") + 1] += ",6379";
      }
    },
  ],
  [
    "a DestinationRule that sends plaintext to a STRICT port, and one that sends Istio mTLS to a workload without a sidecar",
    (mesh) => {
      mesh.destinationrules.push(
        destinationRule("shop", "redis-plain", "2025-04-01T00:00:00Z", { host: "redis", trafficPolicy: { tls: { mode: "DISABLE" } } }),
        destinationRule("payments", "ledger-mtls", "2025-04-02T00:00:00Z", {
          host: "ledger.payments.svc.cluster.local",
          trafficPolicy: { tls: { mode: "ISTIO_MUTUAL" } },
        }),
      );
    },
  ],
];

describe("a freshly discovered rollout is the cluster", () => {
  it.each(variants)("status is IN SYNC at stage current and every live mode is plan --stage current's: %s", async (_, change) => {
    const mesh = load();
    change(mesh);
    const result = await discover({ runner: runnerOf(mesh), meshRootNamespace: "istio-system", callTimeoutMs: 5_000 });
    if (!("yaml" in result)) throw new Error(JSON.stringify(result));
    const rollout = parseRolloutYaml(result.yaml, "discovered.yaml");
    expect(checkRollout(rollout).filter(isBlocking)).toEqual([]);
    const live = await readLiveState(rollout, runnerOf(mesh), 5_000);
    if ("error" in live) throw new Error(live.error);
    const status = compareWithRollout(rollout, live);
    expect(status.differences).toEqual([]);
    expect(status).toMatchObject({ inSync: true, stage: "current" });
    // Port by port: the live modes (of every pod group) are the plan's.
    const plan = new Map(buildPlan(rollout, "current").workloads.map((w) => [`${w.namespace}/${w.name}`, w]));
    for (const w of liveModesAt(rollout, live, "current")) {
      if (w.missing) continue; // the probe kit, which the stack deploys
      const planned = plan.get(`${w.namespace}/${w.name}`)!;
      expect({ workload: `${w.namespace}/${w.name}`, mode: w.mode, ports: w.ports }).toEqual({
        workload: `${w.namespace}/${w.name}`,
        mode: planned.mode,
        ports: planned.ports,
      });
    }
  });

  it("applies the newer of two overlapping policies to the workloads the older does not select, as Istio does", async () => {
    const mesh = load();
    variants[1][1](mesh);
    const result = await discover({ runner: runnerOf(mesh), meshRootNamespace: "istio-system", callTimeoutMs: 5_000 });
    if (!("yaml" in result)) throw new Error(JSON.stringify(result));
    const rollout = parseRolloutYaml(result.yaml, "discovered.yaml");
    const modes = new Map(buildPlan(rollout, "current").workloads.map((w) => [w.name, w.mode]));
    expect({ frontend: modes.get("frontend"), cart: modes.get("cart") }).toEqual({ frontend: "PERMISSIVE", cart: "STRICT" });
    expect(rollout.stages[0].acknowledgeFindings).toEqual([
      expect.objectContaining({ rule: "one-default-per-scope", resource: "payments/lockdown" }),
      expect.objectContaining({ rule: "selector-matches-a-workload", resource: "shop/old-search" }),
      expect.objectContaining({ rule: "one-policy-per-workload", resource: "shop/web-strict" }),
    ]);
  });
});

describe("client-side TLS discovered", () => {
  it("writes the cluster's DestinationRules as facts, accepts their conflicts at stage current, and status shows them live", async () => {
    const mesh = load();
    variants[variants.length - 1][1](mesh);
    const result = await discover({ runner: runnerOf(mesh), meshRootNamespace: "istio-system", callTimeoutMs: 5_000 });
    if (!("yaml" in result)) throw new Error(JSON.stringify(result));
    const rollout = parseRolloutYaml(result.yaml, "discovered.yaml");
    expect(rollout.destinationRules.map((r) => `${r.namespace}/${r.name}`)).toEqual(["shop/redis-plain", "payments/ledger-mtls"]);
    expect(rollout.stages[0].acknowledgeFindings.filter((a) => a.rule === "client-tls-conflicts").map((a) => a.resource)).toEqual([
      "payments/ledger:8080",
      "shop/redis:6379",
    ]);
    expect(result.yaml).toContain(
      "#   - client-tls-conflicts: DestinationRule shop/redis-plain sends plaintext (tls DISABLE) to redis.shop:6379 for clients in payments, but shop/redis:6379 is STRICT (PeerAuthentication shop/redis-strict): every such call is refused (503); set its tls to ISTIO_MUTUAL or remove it (auto mTLS), or keep the port PERMISSIVE",
    );
    const live = await readLiveState(rollout, runnerOf(mesh), 5_000);
    if ("error" in live) throw new Error(live.error);
    const status = compareWithRollout(rollout, live);
    expect(status.inSync).toBe(true);
    expect(status.warnings.filter((w) => w.startsWith("client-side TLS breaks calls now: ")).map((w) => w.split(" sends ")[0])).toEqual([
      "client-side TLS breaks calls now: DestinationRule payments/ledger-mtls",
      "client-side TLS breaks calls now: DestinationRule shop/redis-plain",
    ]);
    // A rule changed on the cluster after discover: status says the file's facts are stale.
    mesh.destinationrules[0].spec.trafficPolicy.tls.mode = "ISTIO_MUTUAL";
    const changed = await readLiveState(rollout, runnerOf(mesh), 5_000);
    if ("error" in changed) throw new Error(changed.error);
    expect(compareWithRollout(rollout, changed).warnings).toContain(
      "the cluster's DestinationRules are not the rollout's: shop/redis-plain (on the cluster), shop/redis-plain (in the rollout); the expected outcomes follow the rollout's: run discover again",
    );
  });
});

describe("ports a sidecar does not intercept, discovered", () => {
  it("writes them on the workload with a comment, and counts them open", async () => {
    const mesh = load();
    variants.find(([name]) => name.startsWith("a workload whose sidecar does not intercept"))![1](mesh);
    const result = await discover({ runner: runnerOf(mesh), meshRootNamespace: "istio-system", callTimeoutMs: 5_000 });
    if (!("yaml" in result)) throw new Error(JSON.stringify(result));
    const rollout = parseRolloutYaml(result.yaml, "discovered.yaml");
    expect(rollout.workloads.find((w) => w.name === "redis")!.notIntercepted).toEqual([6379]);
    expect(result.yaml).toContain(
      "  # its sidecar does not intercept port 6379 (traffic.sidecar.istio.io annotations): plaintext reaches the application there whatever the policies say",
    );
    expect(buildPlan(rollout, "current").coverage.open).toContainEqual(expect.objectContaining({ workload: "shop/redis", port: 6379 }));
  });
});

describe("injection of a workload no pod of which runs, discovered", () => {
  const scaledToZeroIn = (mesh: Mesh, labels: Record<string, string>) => {
    const ns = mesh.namespaces.find((n) => n.metadata.name === "legacy")!;
    ns.metadata.labels = { ...ns.metadata.labels, ...labels };
  };
  it("asks the cluster's injector webhooks: a revision no webhook serves injects nothing", async () => {
    const mesh = load();
    scaledToZeroIn(mesh, { "istio.io/rev": "canary" });
    const result = await discover({ runner: runnerOf(mesh), meshRootNamespace: "istio-system", callTimeoutMs: 5_000 });
    if (!("yaml" in result)) throw new Error(JSON.stringify(result));
    expect(result.yaml).toContain(
      "  # no running pod: sidecar not expected: no injector webhook matches its namespace's and pod's labels; check once it runs",
    );
  });
  it("names the webhook that would inject it", async () => {
    const mesh = load();
    scaledToZeroIn(mesh, { "istio.io/rev": "default" });
    const result = await discover({ runner: runnerOf(mesh), meshRootNamespace: "istio-system", callTimeoutMs: 5_000 });
    if (!("yaml" in result)) throw new Error(JSON.stringify(result));
    expect(result.yaml).toContain(
      "  # no running pod: sidecar expected: istio-sidecar-injector/rev.namespace.sidecar-injector.istio.io (revision default) injects it; check once it runs",
    );
  });
  it("assumes the istiod chart's selectors where the webhooks may not be read, and says so in the header", async () => {
    const mesh = load();
    scaledToZeroIn(mesh, { "istio.io/rev": "canary" });
    const runner: KubectlRunner = async (args) => ({
      ...answerFromLists(args, (list) => mesh[list], "mutatingwebhookconfigurations"),
      timedOut: false,
    });
    const result = await discover({ runner, meshRootNamespace: "istio-system", callTimeoutMs: 5_000 });
    if (!("yaml" in result)) throw new Error(JSON.stringify(result));
    expect(result.yaml).toMatch(
      /#   - the injector's webhooks could not be read \(.*Forbidden.*\): a workload no pod of which runs is judged by the istiod chart's injector selectors/,
    );
    expect(result.yaml).toContain("(the istiod chart's selectors: the cluster's webhooks were not read) injects it; check once it runs");
  });
});

describe("what Prometheus saw of a declared call, against the model", () => {
  /** Prometheus' instant-query answer (prometheus.io/docs/prometheus/latest/querying/api: a vector), one sample. */
  const answerWith = (samples: { metric: Record<string, string>; value: number }[]) =>
    JSON.stringify({
      status: "success",
      data: { resultType: "vector", result: samples.map((s) => ({ metric: s.metric, value: [1764900000, String(s.value)] })) },
    });
  const edge = (policy: string, value: number) => ({
    metric: {
      source_workload: "frontend",
      source_workload_namespace: "shop",
      destination_workload: "checkout",
      destination_workload_namespace: "payments",
      connection_security_policy: policy,
    },
    value,
  });
  async function withTraffic(samples: ReturnType<typeof edge>[]) {
    const fetchStub = (async (input: string | URL | Request) => {
      const query = new URL(String(input)).searchParams.get("query") ?? "";
      return new Response(answerWith(query.includes("istio_requests_total") ? samples : []), {
        status: 200,
        headers: { "content-type": "application/json" },
      });
    }) as typeof fetch;
    const result = await discover({
      runner: runnerOf(load()),
      meshRootNamespace: "istio-system",
      callTimeoutMs: 5_000,
      prometheus: { access: "http://prometheus.example:9090", windowSeconds: 3600, fetch: fetchStub },
    });
    if (!("yaml" in result)) throw new Error(JSON.stringify(result));
    return result.yaml;
  }

  it("writes the call as observed where Prometheus saw plaintext and the model expects mTLS: stage current expects it so", async () => {
    const yaml = await withTraffic([edge("none", 42)]);
    const rollout = parseRolloutYaml(yaml, "discovered.yaml");
    const call = (stage: string) =>
      buildPlan(rollout, stage).calls.find((c) => c.from === "shop/frontend" && c.to === "payments/checkout")!;
    expect(call("current")).toMatchObject({
      expect: "plaintext",
      reason: "Prometheus saw plaintext (42 requests) where the model expects mtls (auto mTLS to a sidecar whose port is PERMISSIVE)",
    });
    // Later stages change what the model knows of: their expectations are the model's.
    expect(call(rollout.stages[1].name).reason).not.toMatch(/Prometheus/);
    expect(YAML.parse(yaml).workloads.find((w: Item) => w.name === "frontend").calls).toEqual([
      { to: "payments/checkout", observed: "plaintext", requests: 42 },
    ]);
    expect(yaml).toContain(
      "  # calls payments/checkout (checkout.payments:8080): Prometheus saw plaintext (42) in the last 3600s, where the model expects mtls (auto mTLS to a sidecar whose port is PERMISSIVE): written as observed, which stage current expects; something of this cluster is not in this file: check both sides before a stage relies on it",
    );
  });

  it("says nothing where they agree", async () => {
    expect(await withTraffic([edge("mutual_tls", 42)])).not.toContain("Prometheus saw mTLS");
  });
});

describe("a partly injected workload that is STRICT on the cluster already", () => {
  it("stays sidecar: partial, its finding accepted, and its port counted open", async () => {
    const mesh = load();
    mesh.peerauthentications.push(policy("shop", "default", "2025-01-01T00:00:00Z", { mtls: { mode: "STRICT" } }));
    const result = await discover({ runner: runnerOf(mesh), meshRootNamespace: "istio-system", callTimeoutMs: 5_000 });
    if (!("yaml" in result)) throw new Error(JSON.stringify(result));
    const rollout = parseRolloutYaml(result.yaml, "discovered.yaml");
    expect(rollout.workloads.find((w) => w.name === "recommender")!.partial).toBe(true);
    expect(rollout.stages[0].acknowledgeFindings).toContainEqual(
      expect.objectContaining({ rule: "partial-sidecar-not-strict", resource: "shop/recommender" }),
    );
    expect(buildPlan(rollout, "current").coverage.open).toContainEqual(
      expect.objectContaining({ workload: "shop/recommender", port: 8080, keptBy: "its pods without a sidecar, sidecar: partial" }),
    );
  });
});

describe("a policy another tool manages, discovered", () => {
  it("is written with managedBy and a WARNING; check passes (advisory), the program would refuse it", async () => {
    const mesh = load();
    const redis = mesh.peerauthentications.find((p) => p.metadata.name === "redis-strict")!;
    redis.metadata.labels = { "app.kubernetes.io/managed-by": "Helm" };
    redis.metadata.annotations = { "meta.helm.sh/release-name": "redis", "meta.helm.sh/release-namespace": "shop" };
    const result = await discover({ runner: runnerOf(mesh), meshRootNamespace: "istio-system", callTimeoutMs: 5_000 });
    if (!("yaml" in result)) throw new Error(JSON.stringify(result));
    const rollout = parseRolloutYaml(result.yaml, "discovered.yaml");
    expect(rollout.stages[0].peerAuthentications.find((p) => p.name === "redis-strict")!.managedBy).toBe("Helm (release redis in shop)");
    expect(result.yaml).toContain("#   - shop/redis-strict: Helm (release redis in shop)");
    const findings = checkRollout(rollout).filter((v) => v.rule === "adopts-an-owned-policy");
    expect(findings.map((v) => [v.resource, v.level])).toEqual([["shop/redis-strict", "advisory"]]);
  });
});

describe("who else writes a policy, from its field managers", () => {
  it("names another Pulumi stack by its pulumi-kubernetes field manager, which sets no label in server-side apply mode", async () => {
    expect(ownerOfObject({ metadata: { managedFields: [{ manager: "pulumi-kubernetes-3f2a" }] } })).toBe(
      "another Pulumi stack (field manager pulumi-kubernetes-3f2a)",
    );
    expect(ownerOfObject({ metadata: { managedFields: [{ manager: "kubectl-client-side-apply" }] } })).toBeUndefined();
    expect(ownerOfObject({ metadata: { managedFields: [{ manager: "argocd-controller" }] } })).toBe(
      "Argo CD (field manager argocd-controller)",
    );
    // An mtls-rollout stack's own policy is its own, whoever applied it.
    expect(
      ownerOfObject({
        metadata: { annotations: { "mtls-rollout.io/defined-in-stage": "current" }, managedFields: [{ manager: "pulumi-kubernetes-1" }] },
      }),
    ).toBeUndefined();
  });
});
