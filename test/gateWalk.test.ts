/**
 * The lab with Prometheus, walked through its four stages: each stage's verification sends plaintext on
 * purpose (the sleep outside the mesh), and the next stage's pre-flight gate must not take it for a caller,
 * while a real plaintext client still stops it. The Prometheus here is an HTTP server on loopback that keeps
 * a timeline of what the sidecars counted and answers the gate's queries in the API's vector form.
 */
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildPlan } from "../src/model/plan";
import { runPreflight } from "../src/preflight/run";
import { loadRollout } from "../src/rollout/load";
import type { KubectlRunner } from "../src/cluster/runner";

const lab = loadRollout();

/** What destination sidecars counted: one event per request, with the source Istio names (`unknown` without sidecar). */
interface Event {
  at: number;
  source: string;
  destination: string;
  policy: "mutual_tls" | "none";
}
const timeline: Event[] = [];
let prometheus: http.Server;
let url = "";

/**
 * Answers `sum by (source…) (increase(METRIC{…destination…,policy!="mutual_tls"}[Ns]))`, `count(METRIC{…})` and
 * `sum by (source…) (X unless X offset Ns)` from the timeline.
 */
function answer(query: string): unknown {
  const dest = /destination_workload="([^"]+)",destination_workload_namespace="([^"]+)"/.exec(query)!;
  const destination = `${dest[2]}/${dest[1]}`;
  const result = (elements: { metric: Record<string, string>; value: string }[]) => ({
    status: "success",
    data: { resultType: "vector", result: elements.map((e) => ({ metric: e.metric, value: [Date.now() / 1000, e.value] })) },
  });
  const forDestination = timeline.filter((e) => e.destination === destination);
  if (query.startsWith("count(")) return result(forDestination.length > 0 ? [{ metric: {}, value: "2" }] : []);
  const bySource = new Map<string, number>();
  const plaintext = forDestination.filter((e) => e.policy !== "mutual_tls");
  // `X unless X offset Ns`: the series (a source's plaintext) that did not exist N seconds ago, with all they hold.
  const born = /unless .* offset ([\d.]+)s\)$/.exec(query);
  if (born) {
    const since = Date.now() - Number(born[1]) * 1000;
    for (const e of plaintext) bySource.set(e.source, (bySource.get(e.source) ?? 0) + 1);
    for (const e of plaintext) if (e.at <= since) bySource.delete(e.source);
  } else {
    const range = Number(/\[([\d.]+)s\]/.exec(query)![1]) * 1000;
    for (const e of plaintext) if (e.at > Date.now() - range) bySource.set(e.source, (bySource.get(e.source) ?? 0) + 1);
  }
  return result(
    [...bySource].map(([source, n]) => {
      const [ns, name] = source === "unknown" ? ["unknown", "unknown"] : source.split("/");
      return { metric: { source_workload: name, source_workload_namespace: ns }, value: String(n) };
    }),
  );
}

beforeAll(async () => {
  prometheus = http.createServer((req, res) => {
    const query = new URL(req.url!, "http://x").searchParams.get("query") ?? "";
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify(answer(query)));
  });
  await new Promise<void>((r) => prometheus.listen(0, "127.0.0.1", () => r()));
  url = `http://127.0.0.1:${(prometheus.address() as AddressInfo).port}`;
});
afterAll(() => prometheus.close());

/** A verification of `stage`: every probe once, counted at the destination as Istio would (plaintext from the sleep outside the mesh). */
function verificationOf(stage: string): number {
  for (const edge of buildPlan(lab, stage).expectations) {
    if (edge.expect === "refused") continue; // refused before any filter chain: Istio's metrics count nothing
    timeline.push({
      at: Date.now(),
      source: edge.from === "default/sleep" ? "unknown" : edge.from,
      destination: edge.to,
      policy: edge.expect === "mtls" ? "mutual_tls" : "none",
    });
  }
  return Date.now();
}

const noKubectl: KubectlRunner = async () => ({ exitCode: 1, stdout: "", stderr: "not used\n", timedOut: false });
const gate = (stage: string, previous: string, since?: number) =>
  runPreflight(
    lab,
    stage,
    { stage: previous },
    { runner: noKubectl, prometheus: url },
    {
      windowSeconds: 3600,
      callTimeoutMs: 2_000,
      minimumLookbackSeconds: 0.3,
      ...(since !== undefined ? { since } : {}),
    },
  );

describe("the lab with Prometheus, stage by stage", () => {
  it("passes every gate after the verification before it, and still stops a real plaintext client", async () => {
    const stages = ["permissive", "purchase-history-strict", "istioinaction-strict", "mesh-strict"];
    let ended = verificationOf("permissive");
    for (const [i, stage] of stages.slice(1).entries()) {
      // Without the end of the last verification, its own probes read as plaintext callers: the problem.
      const blind = await gate(stage, stages[i]);
      expect(blind.outcome, `${stage} without --since`).toBe("fail");
      expect(blind.targets.flatMap((t) => t.callers.map((c) => c.source))).toContain("unknown");
      const result = await gate(stage, stages[i], ended);
      expect(result.outcome, stage).toBe("pass");
      expect(result.targets.length).toBeGreaterThan(0);
      expect(result.targets[0].evidence).toBe("no plaintext in the window (Prometheus, increase over 0.3s and series new in it)");
      ended = verificationOf(stage);
    }
    // A client without a sidecar calls httpbin after the last verification: the mesh-strict gate stops.
    await new Promise((r) => setTimeout(r, 50));
    timeline.push({ at: Date.now(), source: "unknown", destination: "default/httpbin", policy: "none" });
    const caught = await gate("mesh-strict", "istioinaction-strict", ended);
    expect(caught.outcome).toBe("fail");
    expect(caught.targets).toMatchObject([{ workload: "default/httpbin", verdict: "fail", callers: [{ source: "unknown", requests: 1 }] }]);
  });

  it("waits until Prometheus can hold traffic since the verification, and says so", async () => {
    const waits: [number, number][] = [];
    const started = Date.now();
    const since = Date.now() - 100;
    await runPreflight(
      lab,
      "purchase-history-strict",
      { stage: "permissive" },
      { runner: noKubectl, prometheus: url, onWait: (s, l) => waits.push([s, l]) },
      { windowSeconds: 3600, callTimeoutMs: 2_000, minimumLookbackSeconds: 1, since },
    );
    expect(Date.now() - started).toBeGreaterThanOrEqual(850);
    expect(waits).toEqual([[1, 1]]);
  });
});
