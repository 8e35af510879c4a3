/**
 * Declared calls, verified from the traffic itself: the callee's sidecar counts what the caller sent
 * during the run, by security policy (recorded series shapes, relabelled; see test/support/fakeCluster.ts).
 */
import * as path from "node:path";
import { describe, expect, it } from "vitest";

import { buildPlan } from "../src/model/plan";
import { parseRollout } from "../src/model/rollout";
import { loadRollout } from "../src/rollout/load";
import type { KubectlRunner } from "../src/cluster/runner";
import { readDestinations } from "../src/verify/calls";
import { SUMMARY_ROWS } from "../src/render/summary";
import { renderVerificationText, summaryLine } from "../src/verify/report";
import { clusterState, ClusterState, fakeRunner, fakeVerifyOptions } from "./support/fakeCluster";
import { verifyOnFakeClock } from "./support/fakeClock";

// frontend -> cart -> redis are declared calls; none of them is a fake-service app that calls on a probe.
const rollout = loadRollout(path.join(__dirname, "fixtures", "rollouts", "own-mesh.yaml"));

async function verify(tweak: (s: ClusterState) => void, requireCalls = false) {
  const plan = buildPlan(rollout, "shop-strict");
  const state = clusterState(rollout, plan);
  tweak(state);
  return verifyOnFakeClock(plan, rollout, fakeRunner(state), fakeVerifyOptions({ requireCalls }));
}
const call = (r: Awaited<ReturnType<typeof verify>>, from: string) => r.calls.find((c) => c.from === from)!;

describe("declared calls from the callee's counters", () => {
  it("hold when the callee counted mTLS from the caller during the run", async () => {
    const r = await verify((s) => (s.traffic = [{ from: "shop/frontend", to: "shop/cart", policy: "mutual_tls" }]));
    expect(call(r, "shop/frontend")).toMatchObject({
      to: "shop/cart",
      expect: "mtls",
      observed: "mtls",
      verdict: "holds",
      evidence: expect.stringMatching(/^shop\/cart counted \+[1-9]\d* mutual_tls and \+0 without mTLS from shop\/frontend in \d+s$/),
    });
  });

  it("contradict, and fail the verification, when a call expected mTLS arrives in plaintext", async () => {
    const r = await verify((s) => (s.traffic = [{ from: "shop/cart", to: "shop/redis", policy: "none" }]));
    expect(call(r, "shop/cart")).toMatchObject({ expect: "mtls", observed: "plaintext", verdict: "contradicts" });
    expect(r.outcome).toBe("fail");
    expect(summaryLine(r)).toMatch(
      /^FAIL: stage shop-strict: 15 edges \(10 probed\), 10 hold, 0 contradict, 0 inconclusive; 2 declared calls, 0 hold, 1 contradict, 1 unverified \(/,
    );
  });

  it("are reported without traffic, not passed, and make the run inconclusive with --require-calls", async () => {
    const reported = await verify(() => {});
    expect(call(reported, "shop/frontend")).toMatchObject({
      observed: null,
      verdict: "unverified",
      evidence: expect.stringMatching(/^no traffic from shop\/frontend to shop\/cart during the run \(\d+s\)$/),
    });
    expect(reported.outcome).toBe("pass");
    expect(renderVerificationText(reported)).toMatch(
      /\nDeclared calls\nFrom shop\/frontend\n[^]*?│ shop\/cart +│ mtls +│ - +│ unverified +│ no traffic from shop\/frontend/,
    );
    const required = await verify(() => {}, true);
    expect(required.outcome).toBe("inconclusive");
  });

  it("cannot be told from the callee's counters when the caller has no sidecar: unverified, saying why", async () => {
    const mesh = parseRollout({
      namespaces: [{ name: "shop", injection: true }, { name: "legacy" }],
      workloads: [
        { name: "cart", namespace: "shop", deploy: false, sidecar: true, service: { ports: [{ name: "http", port: 80 }] } },
        { name: "batch", namespace: "legacy", deploy: false, sidecar: false, calls: ["shop/cart"] },
      ],
      probes: { namespaces: ["shop"] },
      stages: [{ name: "open" }],
    });
    const plan = buildPlan(mesh, "open");
    const state = clusterState(mesh, plan);
    state.traffic = [{ from: "unknown/unknown", to: "shop/cart", policy: "none" }];
    const r = await verifyOnFakeClock(plan, mesh, fakeRunner(state), fakeVerifyOptions());
    expect(r.calls).toEqual([
      expect.objectContaining({
        from: "legacy/batch",
        expect: "plaintext",
        verdict: "unverified",
        evidence: "legacy/batch has no sidecar, so Istio counts its calls as from unknown",
      }),
    ]);
  });
});

describe("reading the callees' counters", () => {
  // 30 callees, each called by one caller: a read of every callee at the start and at the end of the run.
  const many = parseRollout({
    namespaces: [{ name: "shop", injection: true }],
    workloads: Array.from({ length: 60 }, (_, i) => ({
      name: `w${i}`,
      namespace: "shop",
      image: "img:1",
      service: { ports: [{ port: 80, targetPort: 8080 }] },
      ...(i < 30 ? { calls: [`shop/w${i + 30}`] } : {}),
      ...(i === 0 ? { probe: true } : {}),
    })),
    stages: [{ name: "strict", peerAuthentications: [{ name: "default", namespace: "shop", mode: "STRICT" }] }],
  });
  const plan = buildPlan(many, "strict");
  const byRef = new Map(many.workloads.map((w) => [w.ref, w]));

  it("reads at most --concurrency callees at once, each kubectl call a process", async () => {
    let running = 0;
    let most = 0;
    const runner = fakeRunner(clusterState(many, plan));
    const counting: typeof runner = async (args, timeoutMs) => {
      most = Math.max(most, ++running);
      await new Promise((r) => setTimeout(r, 5));
      try {
        return await runner(args, timeoutMs);
      } finally {
        running--;
      }
    };
    const reads = await readDestinations(counting, plan.calls, byRef, 10_000, 4);
    expect([...reads.keys()]).toEqual(Array.from({ length: 30 }, (_, i) => `shop/w${i + 30}`));
    expect([...reads.values()].every((r) => !("error" in r))).toBe(true);
    expect(most).toBe(4);
  });

  it("does not read a callee whose turn comes after its time is up, and says so", async () => {
    const slow: KubectlRunner = async () => {
      await new Promise((r) => setTimeout(r, 60));
      return { exitCode: 0, stdout: "", stderr: "", timedOut: false };
    };
    const reads = await readDestinations(slow, plan.calls, byRef, 100, 2);
    const unread = [...reads.values()].filter((r) => "error" in r && r.error.endsWith("not read: no time left in the read"));
    expect(unread.length).toBeGreaterThan(20);
    expect(reads.size).toBe(30);
  });
});

describe("many declared calls as text", () => {
  it("counts them by the callee's namespace and lists a screen of the unverified ones, with how many more", async () => {
    // 70 callers, each calling a callee of its own; only the probe's probes send traffic (w0's call holds).
    const mesh = parseRollout({
      namespaces: [{ name: "shop", injection: true }],
      workloads: Array.from({ length: 140 }, (_, i) => ({
        name: `w${i}`,
        namespace: "shop",
        image: "img:1",
        service: { ports: [{ port: 80, targetPort: 8080 }] },
        ...(i < 70 ? { calls: [`shop/w${i + 70}`] } : {}),
        ...(i === 0 ? { probe: true } : {}),
      })),
      stages: [{ name: "strict", peerAuthentications: [{ name: "default", namespace: "shop", mode: "STRICT" }] }],
    });
    const plan = buildPlan(mesh, "strict");
    const result = await verifyOnFakeClock(plan, mesh, fakeRunner(clusterState(mesh, plan)), fakeVerifyOptions({ timeoutMs: 2_000 }));
    expect(result.calls.filter((c) => c.verdict === "unverified")).toHaveLength(69);
    const text = renderVerificationText(result, { style: { width: 120, color: false } });
    expect(text).toMatch(
      /\nDeclared calls\n┌─+┬[^]*?│ callee namespaces +│ holds +│ unverified +│ calls each +│\n│ shop +│ 1 +│ 69 +│ 70 +│/,
    );
    expect(text).toContain(`Unverified (69, the first ${SUMMARY_ROWS})`);
    expect(text).toContain(`… and ${69 - SUMMARY_ROWS} more unverified calls: --wide or --json for every one.`);
    expect(text).not.toContain("Contradicting (");
    expect(
      renderVerificationText(result, { style: { width: 120, color: false }, wide: true }).match(
        /│ shop\/w\d+ +│ mtls +│ - +│ unverified +│/g,
      ),
    ).toHaveLength(69);
  });
});
