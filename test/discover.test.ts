/**
 * `mtls-rollout discover` against an executable KUBECTL (the fake kubectl) answering `get … -o json` with the
 * invented mesh of test/fixtures/cluster (see its SOURCES.md) and a Prometheus on loopback.
 */
import { ROLLOUT_SCHEMA_PATH } from "../src/rollout/load";
import * as fs from "node:fs";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as YAML from "yaml";
import { buildPlan } from "../src/model/plan";
import { checkRollout, isBlocking } from "../src/model/rules";
import { loadRollout } from "../src/rollout/load";
import { FOUND_ON_THE_CLUSTER } from "../src/discover/propose";
import { crdValidator } from "./support/crdValidator";
import { FAKE_KUBECTL } from "./support/fakeKubectlBuild";
import { runCli } from "./support/files";
import { cli } from "./support/inProcessCli";
import { kubernetesListErrors, kubernetesSchemaErrors } from "./support/kubernetesSchema";

const CLUSTER = path.join(__dirname, "fixtures", "cluster");

const list = (name: string) => JSON.parse(fs.readFileSync(path.join(CLUSTER, `${name}.json`), "utf8"));

/** discover against the recorded-shape cluster: the fake kubectl answers from its List files. */
function discover(args: string[], env: NodeJS.ProcessEnv = {}) {
  return cli(["discover", ...args], { env: { KUBECTL: FAKE_KUBECTL, FAKE_KUBECTL_DIR: CLUSTER, ...env } });
}

describe("the recorded-shape cluster", () => {
  it.each(["namespaces", "controllers", "services", "pods", "configmaps", "mutatingwebhookconfigurations"])(
    "%s.json holds objects valid against Kubernetes' published schema",
    (name) => {
      const objects = list(name);
      expect(objects.items.length).toBeGreaterThan(0);
      expect(kubernetesListErrors(objects)).toEqual([]);
    },
  );

  it("the schema check is strict: a misspelt field fails it", () => {
    const pod = structuredClone(list("pods").items[0]);
    pod.spec.containers[0].containerPorts = pod.spec.containers[0].ports;
    expect(kubernetesSchemaErrors(pod)).toEqual(["/spec/containers/0: must NOT have additional properties (containerPorts)"]);
  });

  it("peerauthentications.json holds policies valid against Istio's CRD", () => {
    const validate = crdValidator(path.join(__dirname, "fixtures", "peerauthentication-crd.yaml"), "v1");
    for (const pa of list("peerauthentications").items) expect(validate(pa), pa.metadata.name).toEqual([]);
  });
});

/** Istio's metrics as `sum by (source…, destination…, connection_security_policy)` answers them. */
const element = (source: string, destination: string, policy: string, value: string) => {
  const [sns, sw] = source === "unknown" ? ["unknown", "unknown"] : source.split("/");
  const [dns, dw] = destination.split("/");
  return {
    metric: {
      connection_security_policy: policy,
      destination_workload: dw,
      destination_workload_namespace: dns,
      source_workload: sw,
      source_workload_namespace: sns,
    },
    value: [1764480000.123, value],
  };
};
const REQUESTS = [
  element("shop/frontend", "shop/cart", "mutual_tls", "1200.5"),
  element("istio-ingress/istio-ingressgateway", "shop/frontend", "mutual_tls", "5000"),
  element("shop/frontend", "payments/checkout", "mutual_tls", "300"),
  element("unknown", "payments/checkout", "none", "35"),
  element("shop/frontend", "shop/recommender", "mutual_tls", "0"),
];
const CONNECTIONS = [element("shop/cart", "shop/redis", "mutual_tls", "40")];

let prometheus: http.Server;
let prometheusUrl = "";
let broken = false;
const queries: string[] = [];

beforeAll(async () => {
  prometheus = http.createServer((req, res) => {
    const query = new URL(req.url!, "http://x").searchParams.get("query") ?? "";
    queries.push(query);
    res.writeHead(200, { "content-type": "application/json" });
    const result = query.includes("istio_tcp_connections_opened_total") ? CONNECTIONS : REQUESTS;
    res.end(
      broken
        ? '{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"NaN"]}]}}'
        : JSON.stringify({ status: "success", data: { resultType: "vector", result } }),
    );
  });
  await new Promise<void>((r) => prometheus.listen(0, "127.0.0.1", () => r()));
  prometheusUrl = `http://127.0.0.1:${(prometheus.address() as AddressInfo).port}`;
});
afterAll(() => prometheus.close());

describe("npx mtls-rollout discover", () => {
  let out: Awaited<ReturnType<typeof discover>>;
  let file: any;
  beforeAll(async () => {
    out = await discover(["--prometheus", prometheusUrl, "--window", "3600"]);
    file = YAML.parse(out.stdout);
  });

  it("exits 0 and says on stderr what it does, phase by phase, and what it found", () => {
    expect(out.code).toBe(0);
    const lines = out.stderr.trimEnd().split("\n");
    expect(lines).toHaveLength(6);
    expect(lines[0]).toBe(
      "discover: reading every namespace on the current kube context: controllers, Services, pods, PeerAuthentications",
    );
    // The cluster's identity, for the stack to be bound to: namespaces.json's kube-system.
    expect(lines[1]).toBe(
      "discover: the cluster's kube-system namespace has UID 6f1c2a4e-0b7d-4c55-9a31-000000000006 (pulumi config set mtls-rollout:clusterUid 6f1c2a4e-0b7d-4c55-9a31-000000000006)",
    );
    expect(lines[2]).toMatch(/^discover: read 10 namespaces, 14 controllers, \d+ Services, 12 pods, 6 PeerAuthentications \(\d+\.\ds\)$/);
    expect(lines[3]).toMatch(/^discover: asking Prometheus http:\/\/127\.0\.0\.1:\d+ who called whom in the last 3600s$/);
    expect(lines[4]).toMatch(/^discover: proposing stages for 3 namespaces and 9 workloads \(\d+\.\ds\)$/);
    expect(out.stdout).toContain(
      "(cluster UID 6f1c2a4e-0b7d-4c55-9a31-000000000006: pulumi config set mtls-rollout:clusterUid 6f1c2a4e-0b7d-4c55-9a31-000000000006)",
    );
    expect(lines[5]).toBe(
      "discovered 3 namespaces, 9 workloads, 6 PeerAuthentications; 5 stages; 8 things left out; WARNING: 2 guardrail findings on the cluster as it is, accepted at stage current (see the file's header)",
    );
  });

  it("asks Prometheus for who calls whom over the window, by workload and security policy", () => {
    expect(queries).toContain(
      'sum by (source_workload, source_workload_namespace, destination_workload, destination_workload_namespace, connection_security_policy) (increase(istio_requests_total{reporter="destination"}[3600s]))',
    );
    expect(queries.some((q) => q.includes("increase(istio_tcp_connections_opened_total{"))).toBe(true);
  });

  it("lists the namespaces as existing with their injection, leaving out the system, ambient and empty ones", () => {
    expect(file.meshRootNamespace).toBe("istio-system");
    expect(file.namespaces).toEqual([
      { name: "legacy", injection: false, existing: true },
      { name: "payments", injection: true, existing: true },
      { name: "shop", injection: true, existing: true },
    ]);
  });

  it("lists every workload with its kind, pod labels, sidecar, container ports, Service and observed calls", () => {
    expect(file.workloads).toEqual([
      { name: "batch-report", namespace: "legacy", kind: "Deployment", deploy: false, sidecar: false, labels: { app: "batch-report" } },
      {
        name: "reports-ui",
        namespace: "legacy",
        kind: "Deployment",
        deploy: false,
        sidecar: false,
        labels: { app: "reports-ui" },
        ports: [{ name: "http", containerPort: 3000 }],
        service: { name: "reports-ui", ports: [{ name: "http", port: 80, targetPort: 3000 }] },
      },
      {
        name: "checkout",
        namespace: "payments",
        kind: "Deployment",
        deploy: false,
        sidecar: true,
        labels: { app: "checkout" },
        ports: [{ name: "http", containerPort: 8080 }],
        service: { name: "checkout", ports: [{ name: "http", port: 8080 }] },
      },
      {
        name: "ledger",
        namespace: "payments",
        kind: "Deployment",
        deploy: false,
        sidecar: false,
        labels: { app: "ledger", "sidecar.istio.io/inject": "false" },
        ports: [{ name: "http", containerPort: 8080 }],
        service: { name: "ledger", selector: { app: "ledger" }, ports: [{ name: "http", port: 8080 }] },
      },
      {
        name: "node-agent",
        namespace: "payments",
        kind: "DaemonSet",
        deploy: false,
        sidecar: true,
        labels: { app: "node-agent" },
        container: "agent",
        ports: [{ name: "metrics", containerPort: 9100 }],
      },
      {
        name: "cart",
        namespace: "shop",
        kind: "Deployment",
        deploy: false,
        sidecar: true, // a native sidecar: istio-proxy among the init containers
        labels: { app: "cart" },
        ports: [{ name: "grpc", containerPort: 7070 }],
        service: { name: "cart", ports: [{ name: "grpc", port: 7070, appProtocol: "grpc" }] },
        calls: ["shop/redis"],
      },
      {
        name: "frontend",
        namespace: "shop",
        kind: "Deployment",
        deploy: false,
        sidecar: true,
        labels: { app: "frontend", version: "v1" },
        container: "web",
        ports: [{ name: "http-web", containerPort: 8080 }],
        service: { name: "frontend", selector: { app: "frontend" }, ports: [{ name: "http", port: 80, targetPort: "http-web" }] },
        calls: ["payments/checkout", "shop/cart"],
      },
      {
        name: "recommender",
        namespace: "shop",
        kind: "Deployment",
        deploy: false,
        sidecar: "partial", // one of its two pods has no sidecar
        labels: { app: "recommender" },
        ports: [{ name: "http", containerPort: 8080 }],
        service: { name: "recommender", ports: [{ name: "http", port: 8080 }] },
      },
      {
        name: "redis",
        namespace: "shop",
        kind: "StatefulSet",
        deploy: false,
        sidecar: true,
        labels: { app: "redis" },
        ports: [{ name: "redis", containerPort: 6379 }],
        // Its headless Service too: every Service of a workload is probed.
        services: [
          { name: "redis", ports: [{ name: "tcp-redis", port: 6379 }] },
          { name: "redis-headless", ports: [{ name: "tcp-redis", port: 6379 }] },
        ],
      },
    ]);
  });

  it("brings the probe kit to every namespace with sidecars and outside the mesh", () => {
    expect(file.probes).toEqual({ namespaces: ["payments", "shop"], outsideMesh: { namespace: "mtls-rollout-probes" } });
  });

  it("holds every live policy in stage current, the oldest first, and accepts what the cluster breaks today instead of leaving it out", () => {
    // peerauthentications.json: old-search (created first) selects no pod; lockdown is a second namespace-wide policy,
    // newer than payments/default, which Istio ignores (pilot/pkg/model/authentication.go, sortConfigByCreationTime).
    expect(file.stages[0]).toEqual({
      name: "current",
      description: "The cluster's PeerAuthentications as discovered: applying this stage changes nothing",
      peerAuthentications: [
        { name: "old-search", namespace: "shop", selector: { app: "search" }, mode: "STRICT", existing: true },
        { name: "default", namespace: "istio-system", mode: "PERMISSIVE", existing: true },
        { name: "default", namespace: "payments", mode: "PERMISSIVE", existing: true },
        { name: "redis-strict", namespace: "shop", selector: { app: "redis" }, mode: "STRICT", existing: true },
        {
          name: "frontend-legacy",
          namespace: "shop",
          selector: { app: "frontend" },
          mode: "UNSET",
          portLevelMtls: { "8080": "DISABLE" },
          allowDisable: "DISABLE on the cluster before this rollout (found by discover); review it",
          existing: true,
        },
        { name: "lockdown", namespace: "payments", mode: "STRICT", existing: true },
      ],
      acknowledgeFindings: [
        { rule: "one-default-per-scope", resource: "payments/lockdown", reason: FOUND_ON_THE_CLUSTER },
        { rule: "selector-matches-a-workload", resource: "shop/old-search", reason: FOUND_ON_THE_CLUSTER },
      ],
    });
  });

  it("proposes one namespace at a time, then the mesh, reusing the names of the policies already there", () => {
    expect(file.stages.slice(1)).toEqual([
      {
        name: "payments-strict",
        description: "STRICT for namespace payments: 2 workloads with a sidecar",
        peerAuthentications: [{ name: "default", namespace: "payments", mode: "STRICT" }],
      },
      {
        name: "shop-strict",
        // What the model finds: frontend's adopted workload policy and recommender's hold keep a port each open.
        description:
          "STRICT for namespace shop, but 2 ports of workloads with a sidecar stay open: shop/frontend:8080 (shop/frontend-legacy), shop/recommender:8080 (its pods without a sidecar, sidecar: partial)",
        // shop/recommender runs a pod without a sidecar: it waits for a restart, PERMISSIVE.
        peerAuthentications: [
          { name: "default", namespace: "shop", mode: "STRICT" },
          { name: "recommender-until-restart", namespace: "shop", selector: { app: "recommender" }, mode: "PERMISSIVE" },
        ],
      },
      {
        // The adopted exception goes STRICT before the mesh does: it inherits the namespace's STRICT again.
        name: "exceptions-strict",
        description: "STRICT for the exception the cluster had: shop/frontend-legacy",
        peerAuthentications: [{ name: "frontend-legacy", namespace: "shop", selector: { app: "frontend" }, mode: "UNSET" }],
      },
      {
        name: "mesh-strict",
        description:
          "STRICT mesh-wide, but 1 port of workloads with a sidecar stays open: shop/recommender:8080 (its pods without a sidecar, sidecar: partial)",
        peerAuthentications: [{ name: "default", namespace: "istio-system", mode: "STRICT" }],
      },
    ]);
  });

  it("says in comments what a reviewer must look at: left-out objects, mixed pods, plaintext callers, who would be refused", () => {
    const text = out.stdout;
    for (const line of [
      "#   - namespace mesh-ambient: ambient mode (istio.io/dataplane-mode=ambient), which mtls-rollout does not support yet; none of its workloads or PeerAuthentications is in this file",
      "  # and ztunnel enforces it in the ambient namespaces too, which this file does not model: mesh-ambient",
      "#   - Deployment istio-ingress/istio-ingressgateway: an Istio gateway; PeerAuthentication governs sidecars, not a gateway's listeners",
      "# WARNING: the cluster breaks guardrails today. Stage current holds it as it is and accepts these findings",
      '#   - one-default-per-scope: payments/lockdown is a second namespace-wide PeerAuthentication besides payments/default; Istio ignores the newer one, so merge them into one policy named "default"',
      "#   - selector-matches-a-workload: shop/old-search selects app=search, which matches no declared workload in shop; fix the selector (a typo applies nothing)",
      "  # the cluster's policies, the oldest first: where two compete, Istio applies the older one, as the model does reading this list",
      "#   - Service payments/ledger port 8125: UDP, which sidecars do not intercept",
      "  # 1 of 2 pods have a sidecar: sidecar: partial, which no stage may make STRICT until every pod has one (kubectl rollout restart deployment/recommender -n shop)",
      "  # shop/recommender stays PERMISSIVE (shop/recommender-until-restart): only some of its pods run a sidecar; restart it (kubectl rollout restart deployment/recommender -n shop), declare sidecar: true, and drop that policy in a later stage",
      "  # no running pod: sidecar not expected: no injector webhook matches its namespace's and pod's labels; check once it runs",
      "  # called by istio-ingress/istio-ingressgateway, which is not in this file",
      "  # injection by revision label istio.io/rev=default",
      "  # received plaintext in the last 3600s: payments/checkout from unknown (35)",
      // Every sender, in the header and on the workload it reaches, proposed stage or not.
      "#   - payments/checkout from unknown (35)",
      "  # received plaintext in the last 3600s from unknown (35)",
      "  # the pre-flight gate stops this stage until those callers use mTLS (or the stage acknowledges them in acknowledgePlaintext)",
      "  # payments/ledger has no sidecar: no policy applies to it, and it cannot call this namespace's workloads once STRICT",
      "  # would refuse these workloads without a sidecar if they call into shop: legacy/batch-report, legacy/reports-ui, payments/ledger",
    ]) {
      expect(text.split("\n"), line).toContain(line);
    }
  });

  it("writes a file that loads, passes check as it is, and plans every stage", () => {
    const written = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "discover-")), "mesh.yaml");
    fs.writeFileSync(written, out.stdout);
    const rollout = loadRollout(written);
    expect(checkRollout(rollout).filter(isBlocking)).toEqual([]);
    for (const stage of rollout.stages) expect(() => buildPlan(rollout, stage.name)).not.toThrow();
    expect(runCli(["check", "--rollout", written]).code).toBe(0);
  });

  it("is deterministic, and writes the same to -o FILE, with the editor's schema modeline relative to it", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "discover-"));
    const again = await discover(["--prometheus", prometheusUrl, "--window", "3600", "-o", path.join(dir, "mesh.yaml")]);
    expect(again.code).toBe(0);
    const [modeline, ...rest] = fs.readFileSync(path.join(dir, "mesh.yaml"), "utf8").split("\n");
    const [stdoutModeline, ...stdoutRest] = out.stdout.split("\n");
    expect(rest).toEqual(stdoutRest);
    expect(stdoutModeline).toBe(`# yaml-language-server: $schema=${ROLLOUT_SCHEMA_PATH}`);
    expect(modeline).toMatch(/^# yaml-language-server: \$schema=\.\.\//);
    expect(path.resolve(dir, modeline.split("$schema=")[1])).toBe(ROLLOUT_SCHEMA_PATH);
    expect(again.stdout).toBe("");
    expect(fs.readdirSync(dir)).toEqual(["mesh.yaml"]);
  });
});

describe("npx mtls-rollout discover: scope and failures", () => {
  it("reads only the namespaces named, one call per namespace, and the mesh root's policies", async () => {
    const { code, stdout } = await discover(["--namespace", "shop"]);
    expect(code).toBe(0);
    const file = YAML.parse(stdout);
    expect(file.namespaces.map((n: { name: string }) => n.name)).toEqual(["shop"]);
    expect(file.workloads.map((w: { name: string }) => w.name)).toEqual(["cart", "frontend", "recommender", "redis"]);
    expect(file.stages[0].peerAuthentications.map((p: { namespace: string; name: string }) => `${p.namespace}/${p.name}`)).toEqual([
      "shop/old-search",
      "istio-system/default",
      "shop/redis-strict",
      "shop/frontend-legacy",
    ]);
    expect(file.workloads.some((w: { calls?: string[] }) => w.calls)).toBe(false); // no traffic data without --prometheus
  });

  it.each([
    [
      "a context that does not exist",
      ["--context", "kind-mtls-lba"],
      { FAKE_KUBECTL_CONTEXTS: "kind-mtls-lab" },
      'error: the kube context "kind-mtls-lba" does not exist (kubectl config get-contexts lists the ones there are)\n',
    ],
    [
      "an unreachable cluster",
      [],
      { FAKE_KUBECTL_UNREACHABLE: "1" },
      "error: the cluster is unreachable: The connection to the server 127.0.0.1:6443 was refused - did you specify the right host or port?\n",
    ],
    [
      "no permission to list pods, at the cluster's scope nor in a namespace",
      [],
      { FAKE_KUBECTL_FORBID: "pods" },
      'error: not permitted: Error from server (Forbidden): pods is forbidden: User "jane@example.com" cannot list resource "pods" in API group "" at the cluster scope\n',
    ],
  ])("exits 2 with one line naming the setup problem for %s", async (_what, args, env, message) => {
    const { code, stdout, stderr } = await discover(args, env);
    expect(code).toBe(2);
    expect(stdout).toBe("");
    // What it was reading, then the one line of the error.
    expect(stderr.split("\n").filter((l) => !l.startsWith("discover: "))).toEqual([message.trimEnd(), ""]);
  });

  it("exits 3 when Prometheus answers what is not a clean vector", async () => {
    broken = true;
    try {
      const { code, stderr } = await discover(["--prometheus", prometheusUrl]);
      expect(code).toBe(3);
      expect(stderr).toMatch(/\nerror: Prometheus answered a value that is not a finite count at data\.result\[0\]: "NaN" \(query: sum by/);
    } finally {
      broken = false;
    }
  });

  it.each([
    [["--namespace", "nope"], "error: --namespace: the cluster has no namespace nope\n"],
    [["--namespace", "Shop"], 'error: --namespace: must be a namespace name, a DNS-1123 label (got "Shop")\n'],
    [["--window", "60"], "error: --window: only counts with --prometheus, which reads the traffic\n"],
    [["--prometheus", "ftp://x"], 'error: --prometheus: must be an http(s) URL (got "ftp://x")\n'],
  ])("exits 2 for bad input: %j", async (args, message) => {
    const { code, stderr } = await discover(args);
    expect(code).toBe(2);
    expect(
      stderr
        .split("\n")
        .filter((l) => !l.startsWith("discover: "))
        .join("\n"),
    ).toBe(message);
  });
});
