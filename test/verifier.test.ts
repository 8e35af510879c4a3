import { describe, expect, it } from "vitest";
import { buildPlan } from "../src/model/plan";
import { loadRollout } from "../src/rollout/load";
import { probeArgs, statsArgs } from "../src/verify/observe";
import { exitCodeOf, renderVerificationText, summaryLine, verificationJson } from "../src/verify/report";
import type { KubectlRunner } from "../src/cluster/runner";
import { verifyPlan, VerifyOptions } from "../src/verify/verifier";
import { answerKubectl, ClusterState, clusterState, Counters, fakeVerifyOptions } from "./support/fakeCluster";
import { verifyOnFakeClock } from "./support/fakeClock";

const lab = loadRollout();
const plan = (stage: string) => buildPlan(lab, stage);
const options = (over: Partial<VerifyOptions> = {}): VerifyOptions => fakeVerifyOptions({ requiredStreak: 2, ...over });

/** The fake cluster behind the kubectl seam; `state` may change while the verifier runs. */
function clusterRunner(state: () => ClusterState, calls: string[][] = []): KubectlRunner {
  const counters: Counters = {};
  return async (args) => {
    calls.push(args);
    return answerKubectl(args, state(), counters);
  };
}

const edge = (result: Awaited<ReturnType<typeof verifyPlan>>, from: string, to: string) =>
  result.edges.find((e) => e.from === from && e.to === to)!;

describe("the verifier against a cluster that matches the stage", () => {
  for (const stage of lab.stages.map((s) => s.name)) {
    it(`passes stage ${stage} once every edge has matched on two consecutive rounds`, async () => {
      const result = await verifyOnFakeClock(
        plan(stage),
        lab,
        clusterRunner(() => clusterState(lab, plan(stage))),
        options(),
      );
      expect(result.edges.map((e) => `${e.from} -> ${e.to}: ${e.verdict}`).filter((v) => !v.endsWith("holds"))).toEqual([]);
      expect(result.outcome).toBe("pass");
      expect(result.rounds).toBe(2);
      expect(exitCodeOf(result)).toBe(0);
    });
  }

  it("rests each verdict on evidence: XFCC from httpbin, the server's mTLS counter, curl's reset", async () => {
    const result = await verifyOnFakeClock(
      plan("istioinaction-strict"),
      lab,
      clusterRunner(() => clusterState(lab, plan("istioinaction-strict"))),
      options(),
    );
    expect(edge(result, "istioinaction/sleep", "default/httpbin")).toMatchObject({
      observed: "mtls",
      evidence: "HTTP 200; X-Forwarded-Client-Cert URI=spiffe://cluster.local/ns/istioinaction/sa/sleep",
    });
    expect(edge(result, "istioinaction/sleep", "istioinaction/recommendation")).toMatchObject({
      observed: "mtls",
      evidence: "HTTP 200; istioinaction/recommendation counted +1 mutual_tls from istioinaction/sleep",
    });
    expect(edge(result, "default/sleep", "istioinaction/web-api")).toMatchObject({
      observed: "refused",
      evidence: "curl: (56) Recv failure: Connection reset by peer",
    });
    expect(edge(result, "default/sleep", "default/httpbin")).toMatchObject({
      observed: "plaintext",
      evidence: "HTTP 200; no X-Forwarded-Client-Cert echoed",
    });
  });

  it("runs every probe as kubectl exec of curl in the client's container, one argument per value", async () => {
    const calls: string[][] = [];
    await verifyOnFakeClock(
      plan("permissive"),
      lab,
      clusterRunner(() => clusterState(lab, plan("permissive")), calls),
      options(),
    );
    const toHttpbin = plan("permissive").expectations.find((e) => e.from === "default/sleep" && e.to === "default/httpbin")!;
    const client = lab.workloads.find((w) => w.ref === "default/sleep")!;
    const server = lab.workloads.find((w) => w.ref === "default/httpbin")!;
    expect(probeArgs({ edge: toHttpbin, client, server }, { curlMaxTimeSeconds: 5, callTimeoutMs: 1 })).toEqual([
      "exec",
      "-n",
      "default",
      "deployment/sleep",
      "-c",
      "sleep",
      "--",
      "curl",
      "-sS",
      "--max-time",
      "5",
      "-w",
      "\\n%{http_code}",
      "http://httpbin.default:8000/headers",
    ]);
    expect(calls).toContainEqual(probeArgs({ edge: toHttpbin, client, server }, { curlMaxTimeSeconds: 5, callTimeoutMs: 1 }));
    expect(calls).toContainEqual(statsArgs(server));
    expect(calls.every((c) => c[0] === "exec")).toBe(true);
  });
});

describe("the verifier against a cluster that contradicts the stage", () => {
  it("believes httpbin's echo over the rollout: XFCC seen from a client declared without sidecar contradicts plaintext", async () => {
    const state = clusterState(lab, plan("permissive"));
    state.outcomes["default/sleep httpbin.default:8000"] = "mtls";
    const result = await verifyOnFakeClock(
      plan("permissive"),
      lab,
      clusterRunner(() => state),
      options({ timeoutMs: 1_000 }),
    );
    expect(edge(result, "default/sleep", "default/httpbin")).toMatchObject({
      expect: "plaintext",
      observed: "mtls",
      verdict: "contradicts",
    });
  });

  it("fails when the out-of-mesh client still gets through where the stage expects it refused", async () => {
    const result = await verifyOnFakeClock(
      plan("istioinaction-strict"),
      lab,
      clusterRunner(() => clusterState(lab, plan("permissive"))),
      options({ timeoutMs: 1_000 }),
    );
    expect(result.outcome).toBe("fail");
    expect(exitCodeOf(result)).toBe(1);
    expect(edge(result, "default/sleep", "istioinaction/web-api")).toMatchObject({
      expect: "refused",
      observed: "plaintext",
      verdict: "contradicts",
    });
    expect(edge(result, "default/sleep", "default/httpbin").verdict).toBe("holds");
  });

  it("fails when the server answered before the connection broke: a status then a reset is not a refusal", async () => {
    // Only the out-of-mesh client's call to web-api is cut mid-body; the cluster otherwise holds the stage.
    const state = clusterState(lab, plan("istioinaction-strict"));
    state.outcomes["default/sleep web-api.istioinaction:8080"] = "answered-then-reset";
    const result = await verifyOnFakeClock(
      plan("istioinaction-strict"),
      lab,
      clusterRunner(() => state),
      options({ timeoutMs: 1_000 }),
    );
    expect(result.outcome).toBe("fail");
    expect(edge(result, "default/sleep", "istioinaction/web-api")).toMatchObject({
      expect: "refused",
      observed: "plaintext",
      verdict: "contradicts",
      evidence: "HTTP 200 (then curl: (56) Recv failure: Connection reset by peer); the client has no sidecar",
    });
  });

  it("still reads the declared calls at the end when an edge contradicts until the deadline", async () => {
    const result = await verifyOnFakeClock(
      plan("istioinaction-strict"),
      lab,
      clusterRunner(() => clusterState(lab, plan("permissive"))),
      options({ timeoutMs: 4_000 }),
    );
    expect(result.outcome).toBe("fail");
    expect(result.elapsedMs).toBeLessThanOrEqual(4_000);
    expect(result.calls.map((c) => [`${c.from} -> ${c.to}`, c.verdict])).toEqual([
      ["istioinaction/web-api -> istioinaction/recommendation", "holds"],
      ["istioinaction/recommendation -> istioinaction/purchase-history-v1", "holds"],
    ]);
    for (const c of result.calls) expect(c.evidence).not.toMatch(/not read/);
  });

  it("reads a sidecar client's 503 with Envoy's reset text as refused, so an in-mesh refusal contradicts mtls", async () => {
    const state = clusterState(lab, plan("permissive"));
    state.outcomes["istioinaction/sleep recommendation.istioinaction:8080"] = "refused";
    const result = await verifyOnFakeClock(
      plan("permissive"),
      lab,
      clusterRunner(() => state),
      options({ timeoutMs: 1_000 }),
    );
    expect(edge(result, "istioinaction/sleep", "istioinaction/recommendation")).toMatchObject({
      observed: "refused",
      verdict: "contradicts",
      evidence: expect.stringMatching(/^503 from the client sidecar: upstream connect error or disconnect\/reset before headers/),
    });
  });

  it("names the broken hop of the web-api -> recommendation -> purchase-history chain", async () => {
    const result = await verifyOnFakeClock(
      plan("permissive"),
      lab,
      clusterRunner(() => clusterState(lab, plan("permissive"), "upstream-503")),
      options({ timeoutMs: 1_000 }),
    );
    const toWebApi = edge(result, "default/sleep", "istioinaction/web-api");
    expect(toWebApi.verdict).toBe("contradicts");
    expect(toWebApi.brokenHops).toEqual([
      "web-api -> http://recommendation:8080 failed (503: Error processing upstream request: http://recommendation:8080/)",
    ]);
    expect(renderVerificationText(result)).toContain("broken hop: web-api -> http://recommendation:8080 failed (503");
  });
});

describe("convergence and the deadline", () => {
  it("waits for Istio to push a change: passes once the cluster has moved to the new stage", async () => {
    let probes = 0;
    const before = clusterState(lab, plan("permissive"));
    const after = clusterState(lab, plan("istioinaction-strict"));
    const counters: Counters = {};
    const runner: KubectlRunner = async (args) => {
      if (args.includes("curl")) probes++;
      // The first round still sees the old configuration.
      return answerKubectl(args, probes <= plan("permissive").expectations.length ? before : after, counters);
    };
    const result = await verifyOnFakeClock(plan("istioinaction-strict"), lab, runner, options());
    expect(result.outcome).toBe("pass");
    expect(result.rounds).toBe(3);
    expect(result.edges.every((e) => e.streak >= 2)).toBe(true);
  });

  it("does not count rounds while istiod may still be pushing: an old answer cannot pass", async () => {
    let probes = 0;
    const counters: Counters = {};
    const before = clusterState(lab, plan("permissive"));
    const after = clusterState(lab, plan("istioinaction-strict"));
    // The cluster answers as before for the first three rounds: all inside the settle time.
    const runner: KubectlRunner = async (args) => {
      if (args.includes("curl")) probes++;
      return answerKubectl(args, probes <= 3 * 8 ? before : after, counters);
    };
    const result = await verifyOnFakeClock(plan("permissive"), lab, runner, options({ settleMs: 250, roundIntervalMs: 100 }));
    // Every permissive edge matched from the first round, yet they only count after the settle time, when the
    // cluster has moved on: the out-of-mesh client is refused, which contradicts permissive.
    expect(result.elapsedMs).toBeGreaterThanOrEqual(250);
    expect(result.outcome).toBe("fail");
    expect(edge(result, "default/sleep", "istioinaction/web-api")).toMatchObject({ observed: "refused", verdict: "contradicts" });
  });

  it("probes held edges again every round, so an edge that changes after matching is caught", async () => {
    let probes = 0;
    const counters: Counters = {};
    const matching = clusterState(lab, plan("permissive"));
    const drifted = clusterState(lab, plan("istioinaction-strict"));
    const runner: KubectlRunner = async (args) => {
      if (args.includes("curl")) probes++;
      return answerKubectl(args, probes <= 8 ? matching : drifted, counters);
    };
    const result = await verifyOnFakeClock(plan("permissive"), lab, runner, options({ requiredStreak: 2, timeoutMs: 1_000 }));
    expect(result.outcome).toBe("fail");
    expect(edge(result, "default/sleep", "istioinaction/web-api").streak).toBe(0);
  });

  it("does not call an edge held that matched on fewer consecutive rounds than required", async () => {
    const result = await verifyOnFakeClock(
      plan("permissive"),
      lab,
      clusterRunner(() => clusterState(lab, plan("permissive"))),
      options({ requiredStreak: 50, timeoutMs: 400, roundIntervalMs: 100 }),
    );
    expect(result.outcome).toBe("inconclusive");
    expect(exitCodeOf(result)).toBe(3);
    expect(result.edges[0].evidence).toMatch(/\(matched on \d+ of 50 consecutive rounds before the deadline\)$/);
  });

  it("ends at the deadline with every edge inconclusive when kubectl never returns", async () => {
    const hang: KubectlRunner = () => new Promise(() => {});
    const started = Date.now();
    const result = await verifyOnFakeClock(
      plan("permissive"),
      lab,
      hang,
      options({ timeoutMs: 500, timing: { curlMaxTimeSeconds: 5, callTimeoutMs: 300 } }),
    );
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(result.outcome).toBe("inconclusive");
    expect(result.edges.every((e) => e.verdict === "inconclusive")).toBe(true);
    expect(result.edges.some((e) => /kubectl did not return within 300ms$/.test(e.evidence))).toBe(true);
  });
});

describe("inconclusive observations never pass", () => {
  it.each([
    ["dns-failure", /^DNS failure \(curl exit 6/],
    ["timeout", /^timeout \(curl exit 28\)$/],
    ["connection-refused", /^connection refused \(curl exit 7/],
  ] as const)("reports %s with its reason and exit code 3", async (outcome, reason) => {
    const state = clusterState(lab, plan("permissive"));
    state.outcomes["default/sleep web-api.istioinaction:8080"] = outcome;
    const result = await verifyOnFakeClock(
      plan("permissive"),
      lab,
      clusterRunner(() => state),
      options({ timeoutMs: 1_000 }),
    );
    expect(edge(result, "default/sleep", "istioinaction/web-api")).toMatchObject({
      verdict: "inconclusive",
      observed: "inconclusive",
      evidence: expect.stringMatching(reason),
    });
    expect(result.outcome).toBe("inconclusive");
    expect(exitCodeOf(result)).toBe(3);
  });

  it("reports a missing client deployment and a missing container", async () => {
    const state = clusterState(lab, plan("permissive"));
    delete state.workloads["default/sleep"];
    state.workloads["istioinaction/sleep"].container = "curl";
    const result = await verifyOnFakeClock(
      plan("permissive"),
      lab,
      clusterRunner(() => state),
      options({ timeoutMs: 1_000 }),
    );
    expect(edge(result, "default/sleep", "default/httpbin").evidence).toBe(
      'pod or deployment missing: Error from server (NotFound): deployments.apps "sleep" not found',
    );
    expect(edge(result, "istioinaction/sleep", "default/httpbin").evidence).toMatch(
      /^container missing: error: unable to upgrade connection: container not found \("sleep"\)/,
    );
  });

  it("calls an mTLS edge without any counted request inconclusive: no evidence is not a pass", async () => {
    const state = clusterState(lab, plan("permissive"));
    const counters: Counters = {};
    const runner: KubectlRunner = async (args) => {
      const r = answerKubectl(args, state, counters);
      for (const server of Object.keys(counters)) counters[server] = {}; // a sidecar whose stats never move
      return r;
    };
    const result = await verifyOnFakeClock(plan("permissive"), lab, runner, options({ timeoutMs: 1_000 }));
    expect(edge(result, "istioinaction/sleep", "istioinaction/web-api")).toMatchObject({
      verdict: "inconclusive",
      evidence: "HTTP 200; no evidence obtainable: istioinaction/web-api counted no request from istioinaction/sleep",
    });
  });
});

describe("the verification report", () => {
  it("prints one JSON object with every edge's expectation, observation, verdict and evidence, and a summary line", async () => {
    const result = await verifyOnFakeClock(
      plan("mesh-strict"),
      lab,
      clusterRunner(() => clusterState(lab, plan("mesh-strict"))),
      options(),
    );
    const json = verificationJson(result);
    expect(json).toMatchObject({ stage: "mesh-strict", outcome: "pass", rounds: 2, requiredStreak: 2 });
    expect(json.edges).toHaveLength(8);
    expect(Object.keys(json.edges[0])).toEqual([
      "from",
      "standsFor",
      "to",
      "host",
      "port",
      "targetPort",
      "expect",
      "observed",
      "verdict",
      "evidence",
      "brokenHops",
      "streak",
    ]);
    expect(summaryLine(result)).toMatch(
      /^PASS: stage mesh-strict: 8 edges, 8 hold, 0 contradict, 0 inconclusive; 2 declared calls, 2 hold, 0 contradict, 0 unverified \(2 rounds, \d+\.\ds\)$/,
    );
    expect(renderVerificationText(result).trim().split("\n").pop()).toBe(summaryLine(result));
  });
});
