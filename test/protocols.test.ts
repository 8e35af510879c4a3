/**
 * Probes that know what a port speaks (Istio's protocol selection): an HTTP port's reset is a refusal;
 * any other port's answer is read from the server sidecar's counters or access log, and a connection
 * an application closes is never taken for a refusal.
 */
import { describe, expect, it } from "vitest";
import { buildPlan } from "../src/model/plan";
import { protocolOf } from "../src/model/protocol";
import { parseRollout } from "../src/model/rollout";
import { clusterState, ClusterState, fakeRunner, fakeVerifyOptions } from "./support/fakeCluster";
import { verifyOnFakeClock } from "./support/fakeClock";

describe("Istio's protocol selection", () => {
  it.each([
    [{ name: "http", port: 80 }, "http"],
    [{ name: "http-web", port: 80 }, "http"],
    [{ name: "HTTP2-api", port: 80 }, "http2"],
    [{ name: "grpc", port: 7070 }, "grpc"],
    [{ name: "grpc-web-ui", port: 80 }, "grpc-web"],
    [{ name: "tcp-redis", port: 6379 }, "tcp"],
    [{ name: "redis", port: 6379 }, "redis"],
    [{ name: "mongo", port: 27017 }, "mongo"],
    [{ name: "tls-ldaps", port: 636 }, "tls"],
    [{ name: "https", port: 443 }, "https"],
    [{ name: "web", port: 8080 }, "sniffed"],
    [{ port: 8080 }, "sniffed"],
    [{ port: 3306 }, "tcp"], // well-known ports default to TCP
    [{ name: "db", port: 27017 }, "tcp"],
    [{ name: "http", port: 80, appProtocol: "tcp" }, "tcp"], // appProtocol wins over the name
    [{ name: "web", port: 80, appProtocol: "kubernetes.io/h2c" }, "http2"],
    [{ name: "web", port: 80, appProtocol: "kubernetes.io/ws" }, "http"],
    [{ name: "web", port: 443, appProtocol: "kubernetes.io/wss" }, "https"],
  ] as const)("%j speaks %s", (port, protocol) => {
    expect(protocolOf(port)).toBe(protocol);
  });
});

/** A database namespace: MySQL (deployed by the stack, so its sidecar reports the listener counter), Redis running already, a gRPC server without sidecar. */
const rollout = parseRollout({
  namespaces: [{ name: "db", injection: true }],
  workloads: [
    { name: "mysql", namespace: "db", image: "docker.io/library/mysql:8.4", service: { ports: [{ name: "tcp-mysql", port: 3306 }] } },
    { name: "redis", namespace: "db", deploy: false, sidecar: true, service: { ports: [{ name: "tcp-redis", port: 6379 }] } },
    { name: "legacy-grpc", namespace: "db", deploy: false, sidecar: false, service: { ports: [{ name: "grpc", port: 50051 }] } },
  ],
  probes: { namespaces: ["db"] },
  stages: [{ name: "open" }, { name: "strict", peerAuthentications: [{ name: "default", namespace: "db", mode: "STRICT" }] }],
});

async function verify(stage: string, tweak: (s: ClusterState) => void = () => {}, timeoutMs = 8_000) {
  const plan = buildPlan(rollout, stage);
  const state = clusterState(rollout, plan);
  tweak(state);
  const result = await verifyOnFakeClock(plan, rollout, fakeRunner(state), fakeVerifyOptions({ timeoutMs }));
  const edge = (from: string, to: string) => result.edges.find((e) => e.from === from && e.to === to)!;
  return { result, edge };
}
const OUTSIDE = "mtls-rollout-probes/mtls-probe";
const INSIDE = "db/mtls-probe";

describe("probes on TCP and server-first ports", () => {
  it("take a TCP refusal from the listener's no_filter_chain_match counter growing across the probe", async () => {
    const { edge } = await verify("strict");
    const e = edge(OUTSIDE, "db/mysql");
    expect(e).toMatchObject({ expect: "refused", observed: "refused", verdict: "holds" });
    expect(e.evidence).toBe(
      "tcp port, curl: (56) Recv failure: Connection reset by peer; db/mysql listener.0.0.0.0_15006.no_filter_chain_match +1: no filter chain took the connection",
    );
  });

  it("take it from the access log's NR filter_chain_not_found where the sidecar does not report the counter", async () => {
    const { edge } = await verify("strict");
    const e = edge(OUTSIDE, "db/redis");
    expect(e).toMatchObject({ expect: "refused", observed: "refused", verdict: "holds" });
    expect(e.evidence).toMatch(
      /^tcp port, curl: \(56\) .*; db\/redis its access log gained 1 "NR filter_chain_not_found" line\(s\): no filter chain took the connection$/,
    );
  });

  it("do not claim a TCP refusal with neither the counter nor an access log", async () => {
    const { edge, result } = await verify("strict", (s) => (s.noAccessLog = true), 5_000);
    const e = edge(OUTSIDE, "db/redis");
    expect(e).toMatchObject({ observed: "inconclusive", verdict: "inconclusive" });
    expect(e.evidence).toBe(
      "tcp port, curl: (56) Recv failure: Connection reset by peer; no evidence: db/redis counted nothing from unknown (a client without sidecar), and its access log (if the mesh writes one) shows no refused connection",
    );
    expect(result.outcome).toBe("inconclusive");
  });

  it("read a server-first protocol closing the connection as what the counters say, never as a refusal", async () => {
    const { edge } = await verify("open", (s) => (s.workloads["db/mysql"].kind = "server-first"));
    const e = edge(OUTSIDE, "db/mysql");
    expect(e).toMatchObject({ expect: "plaintext", observed: "plaintext", verdict: "holds" });
    expect(e.evidence).toMatch(
      /^tcp port, curl exit 1: curl: \(1\) Received HTTP\/0\.9 when not allowed; db\/mysql counted \+1 without mTLS from unknown \(a client without sidecar\); other clients without a sidecar count as unknown too$/,
    );
  });

  it("leave a server-first close inconclusive, not refused, when the server counted nothing", async () => {
    const { edge } = await verify(
      "open",
      (s) => {
        s.workloads["db/mysql"].kind = "server-first";
        s.workloads["db/mysql"].listenerStats = false;
        s.noAccessLog = true;
        // A sidecar that counts nothing for this client: its Istio metrics are missing (e.g. telemetry off).
        s.silentServers = ["db/mysql"];
      },
      5_000,
    );
    const e = edge(OUTSIDE, "db/mysql");
    expect(e.observed).toBe("inconclusive");
    expect(e.evidence).toMatch(/^tcp port, curl exit 1: curl: \(1\) Received HTTP\/0\.9 when not allowed; no evidence: /);
  });

  it("read mTLS on a TCP port from istio_tcp_connections_opened_total's mutual_tls series", async () => {
    const { edge } = await verify("strict");
    expect(edge(INSIDE, "db/mysql")).toMatchObject({
      expect: "mtls",
      observed: "mtls",
      evidence: "tcp port, HTTP 200; db/mysql counted +1 mutual_tls from db/mtls-probe",
    });
  });

  it("read a server without sidecar that closes on curl's request as plaintext that reached the app, never refused", async () => {
    const { edge } = await verify("strict", (s) => (s.workloads["db/legacy-grpc"].kind = "server-first"));
    for (const from of [OUTSIDE, INSIDE]) {
      expect(edge(from, "db/legacy-grpc")).toMatchObject({
        expect: "plaintext",
        observed: "plaintext",
        evidence: "the server has no sidecar; the application answered (curl exit 1: curl: (1) Received HTTP/0.9 when not allowed)",
      });
    }
  });
});
