/**
 * What a review of the verifier on real services found, each held by a test: no pass on an Envoy error to a
 * server without sidecar, a sidecar the model does not know of is found out, an application's reset behind
 * a sidecar is not a refusal, declared calls count from the settle time, a healthy cluster with a broken
 * aggregated API passes setup, and a failing representative probe hands over to another of its class.
 */
import { describe, expect, it } from "vitest";
import type { KubectlRunner } from "../src/cluster/runner";
import { buildPlan } from "../src/model/plan";
import { parseRollout, Rollout } from "../src/model/rollout";
import { loadRollout } from "../src/rollout/load";
import { checkSetup } from "../src/verify/setup";
import type { VerifyOptions } from "../src/verify/verifier";
import { answerKubectl, clusterState, ClusterState, fakeRunner, fakeVerifyOptions } from "./support/fakeCluster";
import { verifyOnFakeClock } from "./support/fakeClock";

const options = (extra: Partial<VerifyOptions> = {}): VerifyOptions => fakeVerifyOptions({ timeoutMs: 4_000, ...extra });

async function run(rollout: Rollout, stage: string, tweak: (s: ClusterState) => void, extra: Partial<VerifyOptions> = {}) {
  const plan = buildPlan(rollout, stage);
  const state = clusterState(rollout, plan);
  tweak(state);
  return verifyOnFakeClock(plan, rollout, fakeRunner(state), options(extra));
}

// A server without sidecar (legacy/api), a meshed one (shop/cart), clients with and without sidecars.
const mesh = parseRollout({
  namespaces: [{ name: "shop", injection: true }, { name: "legacy" }],
  workloads: [
    { name: "cart", namespace: "shop", image: "cart:1", service: { ports: [{ name: "http", port: 80 }] } },
    { name: "api", namespace: "legacy", image: "api:1", sidecar: false, service: { ports: [{ name: "http", port: 80 }] } },
    { name: "inside", namespace: "shop", image: "curl:8", probe: true },
    { name: "outside", namespace: "legacy", image: "curl:8", probe: true },
  ],
  stages: [{ name: "open" }, { name: "strict", peerAuthentications: [{ name: "default", namespace: "shop", mode: "STRICT" }] }],
});
const edge = (r: Awaited<ReturnType<typeof run>>, from: string, to: string) => r.edges.find((e) => e.from === from && e.to === to)!;

describe("a server without a sidecar", () => {
  it("is not plaintext when all the client's sidecar says is that it could not connect (Envoy's 503)", async () => {
    const r = await run(mesh, "open", (s) => (s.outcomes["shop/inside api.legacy:80"] = "upstream-connect-error"));
    expect(edge(r, "shop/inside", "legacy/api")).toMatchObject({ observed: "inconclusive", verdict: "inconclusive" });
    expect(r.outcome).toBe("inconclusive");
  });

  it("that has one after all (injected, STRICT) is found out: its reset on an HTTP port contradicts plaintext", async () => {
    const r = await run(mesh, "open", (s) => (s.outcomes["legacy/outside api.legacy:80"] = "refused"));
    expect(edge(r, "legacy/outside", "legacy/api")).toMatchObject({ expect: "plaintext", observed: "refused", verdict: "contradicts" });
    expect(r.outcome).toBe("fail");
  });
});

describe("an application that resets a request behind a meshed server", () => {
  it("is read from the server's counters as the mTLS connection it was, not a refusal", async () => {
    const r = await run(mesh, "strict", (s) => (s.outcomes["shop/inside cart.shop:80"] = "app-reset"));
    const e = edge(r, "shop/inside", "shop/cart");
    expect(e).toMatchObject({ expect: "mtls", observed: "mtls", verdict: "holds" });
    expect(e.evidence).toMatch(/but shop\/cart counted \+1 mutual_tls from shop\/inside: its application reset the request$/);
  });

  it("is still a refusal when the server counted nothing", async () => {
    const r = await run(mesh, "strict", (s) => {
      s.outcomes["shop/inside cart.shop:80"] = "app-reset";
      s.silentServers = ["shop/cart"];
    });
    expect(edge(r, "shop/inside", "shop/cart")).toMatchObject({ observed: "refused", verdict: "contradicts" });
  });
});

describe("declared calls and the settle time", () => {
  it("count only what the callee counted once the stage had settled", async () => {
    const lab = loadRollout();
    // Plaintext from web-api to recommendation before the push settled: the old stage's traffic, not this one's.
    const plan = buildPlan(lab, "mesh-strict");
    const state = clusterState(lab, plan);
    const counters: Record<string, Record<string, number>> = {};
    const started = Date.now();
    let sent = false;
    const runner: KubectlRunner = async (args) => {
      // Some 200 ms in, well before the settle time of 500 ms.
      if (!sent && Date.now() - started > 200) {
        sent = true;
        counters["istioinaction/recommendation"] = { ...counters["istioinaction/recommendation"], "istioinaction/web-api|none": 2 };
      }
      return answerKubectl(args, state, counters);
    };
    const r = await verifyOnFakeClock(
      plan,
      lab,
      runner,
      options({ settleMs: 500, requiredStreak: 2, roundIntervalMs: 300, timeoutMs: 8_000 }),
    );
    expect(r.calls.find((c) => c.from === "istioinaction/web-api")).toMatchObject({ verdict: "holds", observed: "mtls" });
    expect(r.outcome).toBe("pass");
  });
});

describe("setup on a healthy cluster", () => {
  it("passes when kubectl lists Istio's API but exits 1 for another group that is down (metrics.k8s.io)", async () => {
    const lab = loadRollout();
    const state = clusterState(lab, buildPlan(lab, "mesh-strict"));
    const runner: KubectlRunner = async (args) => {
      if (args[0] === "api-resources") {
        return {
          exitCode: 1,
          stdout:
            "authorizationpolicies.security.istio.io\npeerauthentications.security.istio.io\nrequestauthentications.security.istio.io\n",
          // kubectl's own words when an aggregated API does not answer (staging/src/k8s.io/kubectl/pkg/cmd/apiresources).
          stderr:
            "error: unable to retrieve the complete list of server APIs: metrics.k8s.io/v1beta1: the server is currently unable to handle the request\n",
          timedOut: false,
        };
      }
      return answerKubectl(args, state, {});
    };
    expect(await checkSetup(runner, buildPlan(lab, "mesh-strict"), lab.workloads, 2_000)).toBeUndefined();
  });

  it("checks exec where the counters of a server are read for a client without sidecar (a TCP port)", async () => {
    const db = parseRollout({
      namespaces: [{ name: "db", injection: true }, { name: "legacy" }],
      workloads: [
        { name: "redis", namespace: "db", image: "redis:7", service: { ports: [{ name: "tcp-redis", port: 6379 }] } },
        { name: "outside", namespace: "legacy", image: "curl:8", probe: true },
      ],
      stages: [{ name: "s" }],
    });
    const state = { ...clusterState(db, buildPlan(db, "s")), execDenied: ["db"] };
    const problem = await checkSetup(async (args) => answerKubectl(args, state, {}), buildPlan(db, "s"), db.workloads, 2_000);
    expect(problem).toMatch(/^not permitted to exec into pods in namespace db /);
  });
});

describe("probe classes", () => {
  it("hand over to another probe of the class when the chosen one fails", async () => {
    const two = parseRollout({
      namespaces: [{ name: "shop", injection: true }, { name: "legacy" }],
      workloads: [
        { name: "cart", namespace: "shop", image: "cart:1", service: { ports: [{ name: "http", port: 80 }] } },
        { name: "a", namespace: "legacy", image: "curl:8", probe: true },
        { name: "b", namespace: "legacy", image: "curl:8", probe: true },
      ],
      stages: [{ name: "s", peerAuthentications: [{ name: "default", namespace: "shop", mode: "STRICT" }] }],
    });
    const r = await run(two, "s", (s) => (s.outcomes["legacy/a cart.shop:80"] = "dns-failure"));
    expect(r.edges).toEqual([
      expect.objectContaining({ from: "legacy/b", standsFor: ["legacy/a"], observed: "refused", verdict: "holds" }),
    ]);
    expect(r.outcome).toBe("pass");
  });
});
