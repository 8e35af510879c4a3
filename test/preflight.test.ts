import { describe, expect, it } from "vitest";
import { judgeTargets, tightenedTargets } from "../src/model/preflight";
import { parseRollout } from "../src/model/rollout";
import { prometheusEvidence, sidecarEvidence } from "../src/preflight/gate";
import { gateExitCode, gateSummary } from "../src/preflight/report";
import { runPreflight } from "../src/preflight/run";
import { CONTROLLERS, PEER_AUTHENTICATIONS } from "../src/cluster/snapshot";
import { buildPlan } from "../src/model/plan";
import { answerKubectl, clusterState, ClusterState } from "./support/fakeCluster";
import { loadRollout } from "../src/rollout/load";
import type { KubectlRunner } from "../src/cluster/runner";
import { recorded } from "./support/recorded";
import { NGINX_TARGET, sidecar } from "./support/sidecarFixtures";

const lab = loadRollout();
const target = NGINX_TARGET;
const options = { windowSeconds: 60, callTimeoutMs: 1_000, sleep: async () => {} };

// The recorded plaintext series (source unknown: a client without sidecar), at 9 requests.
const NONE_SERIES = recorded("prom-dest-none-nginx-15000.txt");
const grown = NONE_SERIES.replace(/\} 9\n?$/, "} 12\n");

describe("the workload ports a stage tightens", () => {
  it("are the ports STRICT now and not before, for every lab stage", () => {
    const at = (stage: string, previous: string | null) =>
      tightenedTargets(lab, stage, previous === null ? null : { stage: previous }).map((t) => `${t.workload}:${t.ports.join(",")}`);
    expect(at("permissive", null)).toEqual([]);
    expect(at("purchase-history-strict", "permissive")).toEqual(["istioinaction/purchase-history-v1:8080"]);
    expect(at("istioinaction-strict", "purchase-history-strict")).toEqual([
      "istioinaction/web-api:8080",
      "istioinaction/recommendation:8080",
    ]);
    expect(at("mesh-strict", "istioinaction-strict")).toEqual(["default/httpbin:8080"]);
    // Without a previous stage, every STRICT port is a target.
    expect(at("mesh-strict", null)).toEqual([
      "istioinaction/web-api:8080",
      "istioinaction/recommendation:8080",
      "istioinaction/purchase-history-v1:8080",
      "default/httpbin:8080",
    ]);
  });
});

describe("evidence from the workload's sidecar, read twice across the window", () => {
  it("fails a target whose plaintext counter grew, naming the caller (unknown: a client without sidecar)", async () => {
    const evidence = await sidecarEvidence(sidecar([NONE_SERIES, grown]), target, options);
    expect(evidence).toEqual({
      callers: [{ source: "unknown", requests: 3, connections: 0 }],
      via: "sidecar of default/my-nginx, read 60s apart",
    });
  });

  it("passes a target whose counters stay flat, and ignores mutual_tls traffic", async () => {
    const mtls = recorded("prom-dest-mtls-src-unknown-istioinaction-15000.txt");
    expect(await sidecarEvidence(sidecar([NONE_SERIES, NONE_SERIES]), target, options)).toMatchObject({ callers: [] });
    expect(await sidecarEvidence(sidecar([mtls, mtls.replace("} 310", "} 400")]), target, options)).toMatchObject({ callers: [] });
  });

  it("counts a counter that went down (the sidecar restarted) from zero", async () => {
    const reset = NONE_SERIES.replace(/\} 9\n?$/, "} 2\n");
    expect(await sidecarEvidence(sidecar([NONE_SERIES, reset]), target, options)).toMatchObject({
      callers: [{ source: "unknown", requests: 2 }],
    });
  });

  it("counts series that appear during the window in full", async () => {
    expect(await sidecarEvidence(sidecar(["# TYPE istio_requests_total counter\n", NONE_SERIES]), target, options)).toMatchObject({
      callers: [{ source: "unknown", requests: 9 }],
    });
  });

  it("has no evidence from a sidecar that answers with neither Istio's metrics nor the inspector's counters", async () => {
    expect(await sidecarEvidence(sidecar(["", ""]), target, options)).toEqual({
      error:
        'the sidecar of default/my-nginx reported no inbound (reporter="destination") Istio series and no tls_inspector counter: nothing says what arrives at it',
    });
  });

  it("takes no evidence from series the sidecar reported as the source: they are its own calls, not what arrives at it", async () => {
    const outgoing = NONE_SERIES.replace(/reporter="destination"/g, 'reporter="source"');
    expect(outgoing).toContain('reporter="source"');
    expect(await sidecarEvidence(sidecar([outgoing, outgoing]), target, options)).toEqual({
      error:
        'the sidecar of default/my-nginx reported no inbound (reporter="destination") Istio series and no tls_inspector counter: nothing says what arrives at it',
    });
  });

  it("reads the TLS inspector's tls_not_found when Istio's metrics saw nothing", async () => {
    const stats: [string, string] = [
      recorded("envoy-stats-tls-inspector-before-istio-workshop.txt"),
      recorded("envoy-stats-tls-inspector-after-plaintext-istio-workshop.txt"),
    ];
    expect(await sidecarEvidence(sidecar(["", ""], stats), target, options)).toEqual({
      callers: [{ source: "unknown", requests: 0, connections: 2 }],
      via: "sidecar of default/my-nginx, read 60s apart; tls_inspector.tls_not_found +2",
    });
  });

  it("has no evidence when the sidecar cannot be reached", async () => {
    const unreachable: KubectlRunner = async () => ({
      exitCode: 1,
      stdout: "",
      stderr: recorded("kubectl-deployment-notfound-get.txt"),
      timedOut: false,
    });
    expect(await sidecarEvidence(unreachable, target, options)).toEqual({
      error:
        'sidecar of default/my-nginx unreachable: pod or deployment missing: Error from server (NotFound): deployments.apps "admin-firefox-browser-d020bb30" not found',
    });
  });
});

describe("evidence from Prometheus", () => {
  /** A Prometheus answering each query with the next recorded body. */
  function prometheus(bodies: string[], status = 200): { fetch: typeof fetch; queries: string[] } {
    const queries: string[] = [];
    return {
      queries,
      fetch: (async (url: URL) => {
        queries.push(url.searchParams.get("query")!);
        return new Response(bodies[Math.min(queries.length - 1, bodies.length - 1)], { status });
      }) as unknown as typeof fetch,
    };
  }
  // A recorded vector answer, its series relabelled as a plaintext caller of the target.
  const vector = recorded("prom-api-vector-istio-tcp-closed-passthrough-istioio-blog.json");
  const presence = recorded("prom-api-vector-compact-empty-labels-sum-ovh-erlenmeyer47.json");
  const empty = '{"status":"success","data":{"resultType":"vector","result":[]}}'; // synthetic: the documented empty form

  it("asks for the increase of non-mTLS requests and connections to the target over the window, by source", async () => {
    const p = prometheus([vector, presence, empty, empty, presence, empty]);
    const evidence = await prometheusEvidence("http://prometheus.istio-system:9090", target, options, p.fetch);
    const plaintext =
      'istio_requests_total{reporter="destination",destination_workload="my-nginx",destination_workload_namespace="default",connection_security_policy!="mutual_tls"}';
    expect(p.queries[0]).toBe(`sum by (source_workload, source_workload_namespace) (increase(${plaintext}[60s]))`);
    expect(p.queries[3]).toContain("increase(istio_tcp_connections_opened_total{");
    expect(evidence).toMatchObject({ via: "Prometheus, increase over 60s and series new in it" });
    expect((evidence as { callers: { source: string }[] }).callers.map((c) => c.source)).toEqual(["default/sleep"]);
  });

  it("counts a plaintext series that first appears within the window, which increase() reads as 0", async () => {
    // A caller's first plaintext since the pod started: no earlier sample, so increase() has nothing to start from.
    const p = prometheus([empty, presence, vector, empty, presence, empty]);
    const evidence = await prometheusEvidence("http://prometheus.istio-system:9090", target, options, p.fetch);
    expect(p.queries[2]).toBe(
      'sum by (source_workload, source_workload_namespace) (istio_requests_total{reporter="destination",destination_workload="my-nginx",destination_workload_namespace="default",connection_security_policy!="mutual_tls"} unless istio_requests_total{reporter="destination",destination_workload="my-nginx",destination_workload_namespace="default",connection_security_policy!="mutual_tls"} offset 60s)',
    );
    expect((evidence as { callers: { source: string }[] }).callers.map((c) => c.source)).toEqual(["default/sleep"]);
  });

  it("has no evidence when Prometheus answers with an error", async () => {
    const p = prometheus([recorded("prom-api-error-bad-data-timestamp-prometheus4197.json")], 400);
    expect(await prometheusEvidence("http://prom:9090", target, options, p.fetch)).toMatchObject({
      error: expect.stringMatching(/^Prometheus error \(bad_data\): cannot parse/),
    });
    const q = prometheus([recorded("prom-api-error-execution-too-many-samples-pingcap-diag347.json")], 422);
    expect(await prometheusEvidence("http://prom:9090", target, options, q.fetch)).toMatchObject({
      error: expect.stringMatching(/^Prometheus error \(execution\)/),
    });
  });

  it("has no evidence when Prometheus knows no series of the workload at all", async () => {
    const p = prometheus([empty]);
    expect(await prometheusEvidence("http://prom:9090", target, options, p.fetch)).toEqual({
      error: "Prometheus has no Istio series for default/my-nginx: is its sidecar scraped, and has it had traffic?",
    });
  });

  it("has no evidence when Prometheus cannot be reached", async () => {
    const down = (async () => {
      throw new TypeError("fetch failed");
    }) as unknown as typeof fetch;
    expect(await prometheusEvidence("http://prom:9090", target, options, down)).toEqual({ error: "Prometheus unreachable: fetch failed" });
  });
});

describe("the gate's verdict", () => {
  const targets = [target, { ...target, workload: "default/api", name: "api", ports: [8080] }];

  it("passes when no target received plaintext, fails naming the callers, and is inconclusive without evidence", () => {
    const pass = judgeTargets(
      "s",
      "p",
      targets,
      new Map([
        ["default/my-nginx", { callers: [], via: "x" }],
        ["default/api", { callers: [], via: "x" }],
      ]),
      [],
    );
    expect(pass.outcome).toBe("pass");
    expect(gateExitCode(pass)).toBe(0);
    const fail = judgeTargets(
      "s",
      "p",
      targets,
      new Map([
        ["default/my-nginx", { callers: [{ source: "default/sleep", requests: 4, connections: 0 }], via: "x" }],
        ["default/api", { error: "Prometheus error" }],
      ]),
      [],
    );
    expect(fail.outcome).toBe("fail");
    expect(gateExitCode(fail)).toBe(1);
    expect(fail.targets[0]).toMatchObject({ verdict: "fail", evidence: "plaintext from default/sleep (4 requests, 0 connections) (x)" });
    const none = judgeTargets("s", "p", targets, new Map([["default/my-nginx", { callers: [], via: "x" }]]), []);
    expect(none.outcome).toBe("inconclusive");
    expect(gateExitCode(none)).toBe(3);
    expect(none.targets[1]).toMatchObject({ verdict: "inconclusive", evidence: "no evidence gathered" });
  });

  it("gives plaintext from unknown callers the next step: who unknown is, where its address is, what else counts as unknown", () => {
    const r = judgeTargets(
      "s",
      "p",
      [target],
      new Map([["default/my-nginx", { callers: [{ source: "unknown", requests: 311, connections: 0 }], via: "x" }]]),
      [],
    );
    expect(r.targets[0].evidence).toBe(
      'plaintext from unknown (311 requests, 0 connections) (x): "unknown" is a client without a sidecar (it sends no peer metadata); ' +
        "its address is in default/my-nginx's access log (kubectl logs -n default deployment/my-nginx -c istio-proxy, where the mesh writes one). " +
        "A scraper reading an application port directly (not Istio's merged metrics on 15020) or a kubelet probe Istio does not rewrite counts as unknown too. " +
        "Bring it into the mesh, or acknowledge the port in acknowledgePlaintext",
    );
  });

  it("lets a stage acknowledge plaintext at a target, printing the reason and not stopping", () => {
    const r = judgeTargets(
      "s",
      "p",
      [target],
      new Map([["default/my-nginx", { callers: [{ source: "unknown", requests: 1, connections: 0 }], via: "x" }]]),
      [{ target: "default/my-nginx:80", reason: "the health checker moves to mTLS next sprint" }],
    );
    expect(r.outcome).toBe("pass");
    expect(r.targets[0]).toMatchObject({ verdict: "fail", acknowledged: "the health checker moves to mTLS next sprint" });
    expect(gateSummary(r)).toMatch(/, 1 acknowledged$/);
  });

  it("reads acknowledgements from the rollout file's stage", async () => {
    const rollout = parseRollout({
      namespaces: [{ name: "shop", injection: true }],
      workloads: [{ name: "api", namespace: "shop", image: "api:1", service: { ports: [{ port: 80, targetPort: 8080 }] } }],
      stages: [
        { name: "open" },
        {
          name: "strict",
          acknowledgePlaintext: [{ target: "shop/api:8080", reason: "probes from the old monitor" }],
          peerAuthentications: [{ name: "default", namespace: "shop", mode: "STRICT" }],
        },
      ],
    });
    const runner = sidecar([NONE_SERIES, grown]);
    const r = await runPreflight(rollout, "strict", { stage: "open" }, { runner }, options);
    expect(r.targets).toMatchObject([{ workload: "shop/api", verdict: "fail", acknowledged: "probes from the old monitor" }]);
    expect(r.outcome).toBe("pass");
  });
});

describe("the gate against the cluster's live policies", () => {
  const at = (stage: string) => clusterState(lab, buildPlan(lab, stage));
  const targetsAgainstLive = async (stage: string, cluster: ClusterState) => {
    const counters = {};
    const runner: KubectlRunner = async (args) => answerKubectl(args, cluster, counters);
    const r = await runPreflight(lab, stage, "live", { runner }, options);
    return { result: r, targets: r.targets.map((t) => `${t.workload}:${t.ports.join(",")}`) };
  };

  it("reads the cluster once, a kubectl get for each of controllers, pods and policies, dormant policies among them", async () => {
    const calls: string[][] = [];
    const cluster = at("permissive");
    await runPreflight(
      lab,
      "purchase-history-strict",
      "live",
      { runner: async (a) => (calls.push(a), answerKubectl(a, cluster, {})) },
      options,
    );
    expect(calls.slice(0, 3)).toEqual(
      [CONTROLLERS, "pods", PEER_AUTHENTICATIONS].map((kind) => [
        "get",
        kind,
        "--all-namespaces",
        // The policies' field managers: who else writes them.
        ...(kind === PEER_AUTHENTICATIONS ? ["--show-managed-fields"] : []),
        "-o",
        "json",
      ]),
    );
    expect(cluster.peerAuthentications).toHaveLength(3); // one in force, two dormant
  });

  it("gates everything a skipped stage would have gated", async () => {
    const { targets } = await targetsAgainstLive("istioinaction-strict", at("permissive"));
    expect(targets).toEqual(["istioinaction/web-api:8080", "istioinaction/recommendation:8080", "istioinaction/purchase-history-v1:8080"]);
  });

  it("gates nothing on a rollback, which only loosens", async () => {
    const { targets, result } = await targetsAgainstLive("istioinaction-strict", at("mesh-strict"));
    expect(targets).toEqual([]);
    expect(result.outcome).toBe("pass");
    expect(gateSummary(result)).toBe(
      "CLEAR: stage istioinaction-strict tightens 0 workloads against the cluster's live policies: 0 clear, 0 still receive plaintext, 0 without evidence",
    );
  });

  it("stops in bounded time with one setup error when kubectl never answers", async () => {
    const hang: KubectlRunner = () => new Promise(() => {});
    const started = Date.now();
    const run = runPreflight(lab, "purchase-history-strict", "live", { runner: hang }, { ...options, callTimeoutMs: 200 });
    await expect(run).rejects.toMatchObject({
      setup: true,
      message: `the cluster could not be read: the cluster did not answer kubectl get ${CONTROLLERS} --all-namespaces -o json within 200ms: is it reachable?`,
    });
    expect(Date.now() - started).toBeLessThan(2_000);
  });

  it("stops with one setup error when the cluster has no PeerAuthentication API", async () => {
    const runner: KubectlRunner = async (args) =>
      args[1] === PEER_AUTHENTICATIONS
        ? { exitCode: 1, stdout: "", stderr: 'error: the server doesn\'t have a resource type "peerauthentications"\n', timedOut: false }
        : answerKubectl(args, at("permissive"), {});
    await expect(runPreflight(lab, "purchase-history-strict", "live", { runner }, options)).rejects.toMatchObject({
      setup: true,
      message:
        "the cluster could not be read: the cluster has no PeerAuthentication API (security.istio.io): is Istio installed, with its CRDs?",
    });
  });
});

describe("a workload that keeps a port open to plaintext", () => {
  it("cannot be judged from metrics without ports: plaintext there is inconclusive, not a failure", async () => {
    const rollout = parseRollout({
      namespaces: [{ name: "shop", injection: true }],
      workloads: [
        {
          name: "api",
          namespace: "shop",
          image: "api:1",
          service: {
            ports: [
              { name: "http", port: 80, targetPort: 8080 },
              { name: "metrics", port: 9090 },
            ],
          },
        },
      ],
      stages: [
        {
          name: "http-strict",
          peerAuthentications: [{ name: "api", namespace: "shop", selector: { app: "api" }, portLevelMtls: { 8080: "STRICT" } }],
        },
      ],
    });
    const [t] = tightenedTargets(rollout, "http-strict", null);
    expect(t).toMatchObject({ ports: [8080], keepsPlaintextPorts: [9090] });
    const r = judgeTargets(
      "http-strict",
      null,
      [t],
      new Map([["shop/api", { callers: [{ source: "unknown", requests: 2, connections: 0 }], via: "x" }]]),
      [],
    );
    expect(r.targets[0]).toMatchObject({ verdict: "inconclusive" });
    expect(r.targets[0].evidence).toMatch(/keeps port\(s\) 9090 open to plaintext and the metrics name no port/);
  });
});
