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
import type { VerifyOptions } from "../src/verify/verifier";
import { exitCodeOf, renderVerificationText, summaryLine, verificationJson } from "../src/verify/report";

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
const ROLLOUT_FILE = {
  namespaces: [{ name: "db", injection: true }],
  workloads: [
    { name: "mysql", namespace: "db", image: "docker.io/library/mysql:8.4", service: { ports: [{ name: "tcp-mysql", port: 3306 }] } },
    { name: "redis", namespace: "db", deploy: false, sidecar: true, service: { ports: [{ name: "tcp-redis", port: 6379 }] } },
    { name: "legacy-grpc", namespace: "db", deploy: false, sidecar: false, service: { ports: [{ name: "grpc", port: 50051 }] } },
  ],
  probes: { namespaces: ["db"] },
  stages: [{ name: "open" }, { name: "strict", peerAuthentications: [{ name: "default", namespace: "db", mode: "STRICT" }] }],
};
const rollout = parseRollout(ROLLOUT_FILE);

async function verify(
  stage: string,
  tweak: (s: ClusterState) => void = () => {},
  timeoutMs = 8_000,
  { of = rollout, live }: { of?: typeof rollout; live?: VerifyOptions["live"] } = {},
) {
  const plan = buildPlan(of, stage);
  const state = clusterState(of, plan);
  tweak(state);
  const result = await verifyOnFakeClock(plan, of, fakeRunner(state), fakeVerifyOptions({ timeoutMs, live }));
  const edge = (from: string, to: string) => result.edges.find((e) => e.from === from && e.to === to)!;
  return { result, edge };
}
/** The rollout whose STRICT stage accepts Redis' port unverifiable, for `reason`. */
const acknowledgingRedis = (reason: string) =>
  parseRollout({
    ...ROLLOUT_FILE,
    stages: [
      { name: "open" },
      {
        name: "strict",
        peerAuthentications: [{ name: "default", namespace: "db", mode: "STRICT" }],
        acknowledgeUnverifiable: [{ target: "db/redis:6379", reason }],
      },
    ],
  });
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

  it("call a TCP refusal with neither the counter nor an access log unverifiable, say what would decide it, and stop probing it", async () => {
    const { edge, result } = await verify("strict", (s) => (s.noAccessLog = true), 5_000);
    const e = edge(OUTSIDE, "db/redis");
    expect(e).toMatchObject({ observed: "unverifiable", verdict: "unverifiable" });
    expect(e.evidence).toBe(
      "tcp port, curl: (56) Recv failure: Connection reset by peer; db/redis counted nothing from unknown (a client without sidecar), its sidecar does not report listener.0.0.0.0_15006.no_filter_chain_match, and it writes no access log (none for the probe's connection either): a refused connection cannot be told from one its application closed. What would decide it: the pods' proxy.istio.io/config annotation with proxyStatsMatcher inclusionPrefixes [\"listener.0.0.0.0_15006\"], or access logs for db/redis (the stack's mtls-rollout:accessLogs, a Telemetry with the envoy provider, or meshConfig.accessLogFile); or acknowledge it in the stage's acknowledgeUnverifiable",
    );
    expect(result.outcome).toBe("inconclusive");
    // Found in the first round that counts, and not probed again: the run ended when every other edge held.
    expect(result.rounds).toBeLessThanOrEqual(3);
  });

  it("pass a stage whose only unverifiable edge it acknowledges, saying so in the summary, the table and the JSON", async () => {
    const acknowledging = acknowledgingRedis("redis runs a sidecar we do not own; its refusals are checked by the Redis team");
    const { edge, result } = await verify("strict", (s) => (s.noAccessLog = true), 5_000, { of: acknowledging });
    expect(edge(OUTSIDE, "db/redis")).toMatchObject({
      verdict: "unverifiable",
      acknowledged: "redis runs a sidecar we do not own; its refusals are checked by the Redis team",
    });
    expect(result.outcome).toBe("pass");
    expect(exitCodeOf(result)).toBe(0);
    expect(summaryLine(result)).toMatch(/^PASS: stage strict: .*, 0 inconclusive, 1 unverifiable \(1 acknowledged\) \(/);
    const text = renderVerificationText(result, { style: { width: 200, color: false }, wide: true });
    expect(text).toMatch(/db\/redis:6379[ │]+refused[ │]+unverifiable[ │]+unverifiable \(acknowledged\) /);
    expect(text).toContain("acknowledged: redis runs a");
    const json = verificationJson(result).edges.find((e) => e.from === OUTSIDE && e.to === "db/redis");
    expect(json).toMatchObject({ verdict: "unverifiable", acknowledged: expect.stringContaining("Redis team") });
  });

  it("never let an acknowledgement pass an edge that contradicted earlier in the run, nor settle it unverifiable in one round", async () => {
    const acknowledging = acknowledgingRedis("no access log on redis");
    const plan = buildPlan(acknowledging, "strict");
    const state = clusterState(acknowledging, plan);
    state.noAccessLog = true;
    // Round 1: Redis answers the client without a sidecar in its own protocol (plaintext reached it at STRICT: a pod
    // the push has not reached). From round 2 on: a close, which nothing on this cluster can tell from a refusal.
    state.workloads["db/redis"].kind = "server-first";
    const key = Object.keys(state.outcomes).find((k) => k.startsWith(`${OUTSIDE} `) && k.includes("redis"))!;
    state.outcomes[key] = "plaintext";
    let probes = 0;
    const runner = fakeRunner(state, (args) => {
      if (args.includes("curl") && args.some((a) => a.includes("redis")) && args[2] === "mtls-rollout-probes" && ++probes === 1) {
        queueMicrotask(() => {
          state.workloads["db/redis"].kind = "closes";
          state.outcomes[key] = "refused";
        });
      }
    });
    const result = await verifyOnFakeClock(plan, acknowledging, runner, fakeVerifyOptions({ timeoutMs: 8_000, requiredStreak: 2 }));
    const e = result.edges.find((x) => x.from === OUTSIDE && x.to === "db/redis")!;
    expect(e.verdict).toBe("unverifiable");
    expect(e.acknowledged).toBeUndefined();
    expect(e.evidence).toMatch(/; it contradicted its expectation earlier \(round 1: .*application answered the plaintext connection/);
    expect(result.outcome).toBe("inconclusive");
    // Unverifiable twice in a row (--rounds 2) before it was left alone: rounds 2 and 3.
    expect(probes).toBe(3);
  });

  it("keep an acknowledgement in force in later stages, and never let it pass an edge that contradicts", async () => {
    const later = parseRollout({
      ...ROLLOUT_FILE,
      stages: [
        { name: "open", acknowledgeUnverifiable: [{ target: "db/redis:6379", reason: "no access log on redis" }] },
        { name: "strict", peerAuthentications: [{ name: "default", namespace: "db", mode: "STRICT" }] },
      ],
    });
    expect(buildPlan(later, "strict").acknowledgeUnverifiable).toEqual([{ target: "db/redis:6379", reason: "no access log on redis" }]);
    // The stage is STRICT but the cluster still lets plaintext in: an acknowledgement is no excuse for that.
    const { edge, result } = await verify(
      "strict",
      (s) => {
        s.noAccessLog = true;
        for (const key of Object.keys(s.outcomes))
          if (key.startsWith(`${OUTSIDE} `) && key.includes("redis")) s.outcomes[key] = "plaintext";
      },
      5_000,
      { of: later },
    );
    expect(edge(OUTSIDE, "db/redis")).toMatchObject({ observed: "plaintext", verdict: "contradicts" });
    expect(edge(OUTSIDE, "db/redis").acknowledged).toBeUndefined();
    expect(result.outcome).toBe("fail");
  });

  it("read a server without sidecar that closes without a byte as plaintext once its pods were read, and as a sidecar the rollout does not know of before", async () => {
    const closes = (s: ClusterState) => (s.workloads["db/legacy-grpc"].kind = "closes");
    const read = await verify("strict", closes, 8_000, {
      live: { differing: [], pods: new Map([["db/legacy-grpc", { withSidecar: [], withoutSidecar: 1 }]]) },
    });
    expect(read.edge(OUTSIDE, "db/legacy-grpc")).toMatchObject({
      observed: "plaintext",
      verdict: "holds",
      evidence:
        "grpc port, curl: (52) Empty reply from server: the application closed the connection, which reached it in plaintext (no pod of db/legacy-grpc runs a sidecar, as read before probing)",
    });
    const unread = await verify("strict", closes, 5_000);
    // Before the pods are read, a reset on an HTTP-family port could be a sidecar the rollout does not know of.
    expect(unread.edge(OUTSIDE, "db/legacy-grpc")).toMatchObject({ observed: "refused", verdict: "contradicts" });
  });

  it("never read a server that is down as one that took the plaintext: an Envoy reply or a failed connect is no close of its", async () => {
    const pods = { differing: [], pods: new Map([["db/legacy-grpc", { withSidecar: [], withoutSidecar: 1 }]]) };
    // Through the client's sidecar on an HTTP port: Envoy's own 503 (nothing listens: delayed connect error 111).
    const envoyReply = await verify(
      "strict",
      (s) => {
        const key = Object.keys(s.outcomes).find((k) => k.startsWith(`${INSIDE} `) && k.includes("legacy-grpc"))!;
        s.outcomes[key] = "upstream-connect-error";
      },
      5_000,
      { live: pods },
    );
    expect(envoyReply.edge(INSIDE, "db/legacy-grpc")).toMatchObject({ verdict: "inconclusive" });
    // A client without a sidecar, at a Service whose pods were read and none runs: no plaintext reached anything.
    const noPods = await verify("strict", (s) => (s.workloads["db/legacy-grpc"].kind = "closes"), 5_000, {
      live: { differing: [], pods: new Map() },
    });
    expect(noPods.edge(OUTSIDE, "db/legacy-grpc")).not.toMatchObject({ verdict: "holds" });
  });

  it("read a close through the client's sidecar at a TCP server without one from the sidecar's own connection counters", async () => {
    // A TCP server without a sidecar, which closes on curl's request.
    const tcpRollout = parseRollout({
      ...ROLLOUT_FILE,
      workloads: [
        ...ROLLOUT_FILE.workloads,
        { name: "forward", namespace: "db", deploy: false, sidecar: false, service: { ports: [{ name: "tcp-forward", port: 24224 }] } },
      ],
    });
    const closes = (s: ClusterState) => (s.workloads["db/forward"].kind = "closes");
    const ok = await verify("strict", closes, 8_000, { of: tcpRollout });
    expect(ok.edge(INSIDE, "db/forward")).toMatchObject({
      observed: "plaintext",
      verdict: "holds",
      evidence:
        "tcp port, curl: (52) Empty reply from server; db/mtls-probe's sidecar connected to forward.db:24224 (upstream_cx_total +1, no connect failure), whose server has no sidecar: its application took it in plaintext and closed it",
    });
    // Nothing listening: the sidecar's connect fails, and says so.
    const down = await verify(
      "strict",
      (s) => {
        closes(s);
        const key = Object.keys(s.outcomes).find((k) => k.startsWith(`${INSIDE} `) && k.includes("forward"))!;
        s.outcomes[key] = "connection-refused";
      },
      5_000,
      { of: tcpRollout },
    );
    expect(down.edge(INSIDE, "db/forward")).toMatchObject({ verdict: "inconclusive" });
    expect(down.edge(INSIDE, "db/forward").evidence).toMatch(
      /db\/mtls-probe's sidecar could not connect to forward\.db:24224 \(upstream_cx_connect_fail \+1\): the server is down or not listening$/,
    );
  });

  it("read an application closing the connection without a byte as what the counters say, never as a refusal", async () => {
    const { edge } = await verify("open", (s) => (s.workloads["db/mysql"].kind = "closes"));
    const e = edge(OUTSIDE, "db/mysql");
    expect(e).toMatchObject({ expect: "plaintext", observed: "plaintext", verdict: "holds" });
    expect(e.evidence).toMatch(
      /^tcp port, curl: \(52\) Empty reply from server; db\/mysql counted \+1 without mTLS from unknown \(a client without sidecar\); other clients without a sidecar count as unknown too$/,
    );
  });

  it("read a server-first answer as plaintext that reached the app even when the server counted nothing: bytes decide", async () => {
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
    expect(e).toMatchObject({ observed: "plaintext", verdict: "holds" });
    expect(e.evidence).toBe(
      "tcp port, curl exit 1: curl: (1) Received HTTP/0.9 when not allowed: db/mysql's application answered the plaintext connection (a refusing sidecar sends no byte)",
    );
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
