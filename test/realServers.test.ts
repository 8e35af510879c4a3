/**
 * verify against real servers of the protocols a team's mesh carries: PostgreSQL, Redis, MariaDB and memcached
 * from Debian's packages, on loopback (test/support/realServers.ts), each behind a stand-in sidecar
 * (test/support/standInSidecar.ts) that does what an inbound Envoy does at STRICT or PERMISSIVE, or without one.
 * The probes are real curl runs, as `kubectl exec … -- curl` would run them in the probe pod; everything else kubectl
 * answers comes from the fake cluster. What the real servers do with curl's HTTP request, as measured here: Redis,
 * PostgreSQL and memcached close without a byte (curl exit 52), MariaDB greets first (curl exit 1, "Received
 * HTTP/0.9"), and a STRICT sidecar resets (curl exit 56).
 */
import { execFile } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as commands from "../src/cli/commands";
import type { CommandContext } from "../src/cli/command";
import type { KubectlRunner, RunResult } from "../src/cluster/runner";
import { buildPlan } from "../src/model/plan";
import { loadRollout } from "../src/rollout/load";
import { answerKubectl, clusterState, clusterStatsText, refOfTarget } from "./support/fakeCluster";
import { tempFile } from "./support/files";
import { policiesAt } from "./support/labCluster";
import { type RealServer, type ServerKind, startServer } from "./support/realServers";
import { StandInSidecar } from "./support/standInSidecar";

const ROLLOUT = [
  "namespaces: [ { name: data, injection: true, existing: true } ]",
  "workloads:",
  "  - { name: postgres, namespace: data, kind: StatefulSet, deploy: false, sidecar: true, service: { ports: [ { name: tcp-postgres, port: 5432 } ] } }",
  "  - { name: redis, namespace: data, deploy: false, sidecar: true, service: { ports: [ { name: redis, port: 6379 } ] } }",
  "  - { name: mariadb, namespace: data, deploy: false, sidecar: true, service: { ports: [ { name: mysql, port: 3306 } ] } }",
  "  - { name: memcached, namespace: data, deploy: false, sidecar: false, service: { ports: [ { name: tcp-memcache, port: 11211 } ] } }",
  "probes: { namespaces: [ data ] }",
  "stages:",
  "  - { name: open }",
  "  - name: strict",
  "    peerAuthentications: [ { name: default, namespace: data, mode: STRICT } ]",
];
const ACKNOWLEDGING = [
  ...ROLLOUT,
  "    acknowledgeUnverifiable:",
  "      - { target: data/postgres:5432, reason: 'the DBA team''s pods, no access log' }",
  "      - { target: data/redis:6379, reason: 'the cache team''s pods, no access log' }",
  "      - { target: data/mariadb:3306, reason: 'the DBA team''s pods, no access log' }",
];
const FILE = tempFile("data.yaml", ROLLOUT);
const ACKNOWLEDGING_FILE = tempFile("data-ack.yaml", ACKNOWLEDGING);
const rollout = loadRollout(FILE);

/** Istio's protocol of each Service port, by its name (the evidence names it). */
const PROTOCOL: Record<string, string> = { postgres: "tcp", redis: "redis", mariadb: "mysql" };
const KINDS: Record<string, ServerKind> = { postgres: "postgresql", redis: "redis", mariadb: "mariadb", memcached: "memcached" };
const servers = new Map<string, RealServer>();
/** Every stand-in sidecar the tests started, to stop at the end. */
const started = new Set<StandInSidecar>();

beforeAll(async () => {
  await Promise.all(Object.entries(KINDS).map(async ([name, kind]) => servers.set(`data/${name}`, await startServer(kind))));
}, 180_000);
afterAll(async () => {
  await Promise.all([...started].map((s) => s.stop()));
  await Promise.all([...servers.values()].map((s) => s.stop()));
});

type StandIns = Map<string, StandInSidecar>;

/** Sidecars of their own in front of the servers that have one, all at one mode, reporting what `reports` says. */
async function sidecars(mode: "STRICT" | "PERMISSIVE", reports: { listenerStats: boolean; accessLog: boolean }): Promise<StandIns> {
  const standIns: StandIns = new Map();
  for (const w of rollout.workloads.filter((x) => x.sidecar && !x.probe)) {
    const standIn = await new StandInSidecar({ ref: w.ref, upstreamPort: servers.get(w.ref)!.port, ...reports }).start();
    started.add(standIn);
    standIn.mode = mode;
    standIns.set(w.ref, standIn);
  }
  return standIns;
}

const curl = (args: string[], timeoutMs: number): Promise<RunResult> =>
  new Promise((resolve) => {
    execFile("curl", args, { timeout: timeoutMs, encoding: "utf8" }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === "number" ? err.code : 1) : 0;
      // kubectl exec says how the remote command ended, and ends with its code.
      resolve({
        exitCode: code,
        stdout,
        stderr: code === 0 ? stderr : `${stderr}command terminated with exit code ${code}\n`,
        timedOut: false,
      });
    });
  });

/** kubectl: the probes' curl runs for real against loopback, the sidecars' reads ask the stand-ins, the rest is the fake cluster's. */
function kubectlOf(stage: string, standIns: StandIns): KubectlRunner {
  const state = { ...clusterState(rollout, buildPlan(rollout, stage)), peerAuthentications: policiesAt(rollout, stage) };
  const counters = {};
  const connects = new Map<string, { total: number; fail: number }>();
  return async (argv, timeoutMs) => {
    const args = argv[0] === "--context" ? argv.slice(2) : argv;
    const dashes = args.indexOf("--");
    const ref = args[0] === "exec" || args[0] === "logs" ? refOfTarget(state, args[2], args[3]) : "";
    if (args[0] === "logs" && standIns.has(ref))
      return { exitCode: 0, stdout: standIns.get(ref)!.accessLogText(), stderr: "", timedOut: false };
    if (args[0] === "exec" && args[dashes + 1] === "pilot-agent" && standIns.has(ref)) {
      const standIn = standIns.get(ref)!;
      const stdout = args[dashes + 4] === "stats" ? standIn.envoyStats() : standIn.istioMetrics();
      return { exitCode: 0, stdout, stderr: "", timedOut: false };
    }
    if (args[0] === "exec" && args[dashes + 1] === "pilot-agent" && args[dashes + 4].startsWith("stats?filter=")) {
      // The probe's sidecar's connections to a server without one, as Envoy's cluster stats count them.
      const count = (hostPort: string, stat: "total" | "connect_fail") => {
        const c = connects.get(`${ref} ${hostPort}`) ?? { total: 0, fail: 0 };
        return stat === "total" ? c.total : c.fail;
      };
      return { exitCode: 0, stdout: clusterStatsText(args[dashes + 4], count), stderr: "", timedOut: false };
    }
    if (args[0] === "exec" && args[dashes + 1] === "curl") {
      const curlArgs = args.slice(dashes + 2);
      const url = new URL(curlArgs[curlArgs.length - 1]);
      const server = state.services[url.hostname];
      const clientHasSidecar = state.workloads[ref]?.sidecar === true;
      const standIn = standIns.get(server);
      // A client sidecar reaches a server sidecar in mTLS (auto mTLS): the stand-in's mTLS port stands for it.
      const port = standIn ? (clientHasSidecar ? standIn.mtlsPort : standIn.port) : servers.get(server)!.port;
      const answer = await curl([...curlArgs.slice(0, -1), `http://127.0.0.1:${port}${url.pathname}`], timeoutMs);
      if (clientHasSidecar && !standIn) {
        // Its sidecar connected, unless nothing listened (curl's exit 7 is the refused connect Envoy would count).
        const key = `${ref} ${url.hostname}:${url.port}`;
        const c = connects.get(key) ?? { total: 0, fail: 0 };
        connects.set(key, { total: c.total + 1, fail: c.fail + (answer.exitCode === 7 ? 1 : 0) });
      }
      return answer;
    }
    return answerKubectl(args, state, counters);
  };
}

async function verify(stage: string, standIns: StandIns, file = FILE, timeout = 20) {
  let stdout = "";
  let stderr = "";
  let code = -1;
  const context: CommandContext = {
    io: { stdout: (t) => (stdout += t), stderr: (t) => (stderr += t), interactive: false, env: {} },
    setExit: (c) => (code = c),
    kubectl: () => kubectlOf(stage, standIns),
  };
  await commands.verify({ stage, rollout: file, timeout, rounds: 1, concurrency: 4, settle: 0, matrix: "classes", json: true }, context);
  const result = JSON.parse(stdout) as {
    outcome: string;
    edges: { from: string; to: string; observed: string; verdict: string; evidence: string }[];
  };
  const edge = (from: "inside" | "outside", to: string) =>
    result.edges.find(
      (e) => e.to === `data/${to}` && e.from === (from === "inside" ? "data/mtls-probe" : "mtls-rollout-probes/mtls-probe"),
    )!;
  return { code, result, edge, stderr };
}

// Each test with sidecars of its own: they run at once, each mostly waiting on its rounds.
describe.concurrent("verify against real PostgreSQL, Redis, MariaDB and memcached", () => {
  it("PERMISSIVE: plaintext from a client without sidecar, read from the counters where the server closes, from the bytes where it greets", async () => {
    const standIns = await sidecars("PERMISSIVE", { listenerStats: false, accessLog: false });
    const { code, edge, stderr } = await verify("open", standIns);
    expect(code, stderr).toBe(0);
    for (const name of ["postgres", "redis"]) {
      expect(edge("outside", name)).toMatchObject({ observed: "plaintext", verdict: "holds" });
      expect(edge("outside", name).evidence).toMatch(
        new RegExp(`^${PROTOCOL[name]} port, curl: \\(52\\) Empty reply from server; data/${name} counted \\+1 without mTLS from unknown`),
      );
    }
    expect(edge("outside", "mariadb")).toMatchObject({
      observed: "plaintext",
      evidence:
        "mysql port, curl exit 1: curl: (1) Received HTTP/0.9 when not allowed: data/mariadb's application answered the plaintext connection (a refusing sidecar sends no byte)",
    });
    // memcached runs no sidecar, as the pods read before probing say: its close is the application's.
    expect(edge("outside", "memcached")).toMatchObject({
      observed: "plaintext",
      evidence:
        "tcp port, curl: (52) Empty reply from server: the application closed the connection, which reached it in plaintext (no pod of data/memcached runs a sidecar, as read before probing)",
    });
    for (const name of ["postgres", "redis", "mariadb"]) {
      expect(edge("inside", name)).toMatchObject({ observed: "mtls", verdict: "holds" });
    }
    // Through the probe's sidecar memcached's close is the sidecar's: its connection counters say it got there.
    expect(edge("inside", "memcached").evidence).toMatch(
      /^tcp port, curl: \(52\) Empty reply from server; data\/mtls-probe's sidecar connected to memcached\.data:11211 \(upstream_cx_total \+1, no connect failure\)/,
    );
  });

  it("STRICT where the sidecars report the listener counter: every refusal read from it", async () => {
    const standIns = await sidecars("STRICT", { listenerStats: true, accessLog: false });
    const { code, edge, stderr } = await verify("strict", standIns);
    expect(code, stderr).toBe(0);
    for (const name of ["postgres", "redis", "mariadb"]) {
      expect(edge("outside", name)).toMatchObject({ observed: "refused", verdict: "holds" });
      expect(edge("outside", name).evidence).toBe(
        `${PROTOCOL[name]} port, curl: (56) Recv failure: Connection reset by peer; data/${name} listener.0.0.0.0_15006.no_filter_chain_match +1: no filter chain took the connection`,
      );
      expect(edge("inside", name)).toMatchObject({ observed: "mtls", verdict: "holds" });
    }
  });

  it("STRICT where only the access log shows refusals (the stack's mtls-rollout:accessLogs)", async () => {
    const standIns = await sidecars("STRICT", { listenerStats: false, accessLog: true });
    const { code, edge, stderr } = await verify("strict", standIns);
    expect(code, stderr).toBe(0);
    for (const name of ["postgres", "redis", "mariadb"]) {
      expect(edge("outside", name).evidence).toMatch(
        /its access log gained 1 "NR filter_chain_not_found" line\(s\): no filter chain took the connection$/,
      );
    }
  });

  it("STRICT with neither: unverifiable at once, exit 3; a stage that acknowledges them passes", async () => {
    const standIns = await sidecars("STRICT", { listenerStats: false, accessLog: false });
    const bare = await verify("strict", standIns);
    expect(bare.code, bare.stderr).toBe(3);
    for (const name of ["postgres", "redis", "mariadb"]) expect(bare.edge("outside", name)).toMatchObject({ verdict: "unverifiable" });
    expect(bare.result.edges.filter((e) => e.verdict === "unverifiable")).toHaveLength(3);
    const fresh = await sidecars("STRICT", { listenerStats: false, accessLog: false });
    const acknowledged = await verify("strict", fresh, ACKNOWLEDGING_FILE);
    expect(acknowledged.code, acknowledged.stderr).toBe(0);
    expect(acknowledged.result.outcome).toBe("pass");
  });

  it("STRICT declared but not enforced (the sidecars still PERMISSIVE): plaintext contradicts, from the counters and from MariaDB's greeting", async () => {
    const standIns = await sidecars("PERMISSIVE", { listenerStats: false, accessLog: false });
    const { code, edge } = await verify("strict", standIns, FILE, 6);
    expect(code).toBe(1);
    for (const name of ["postgres", "redis", "mariadb"])
      expect(edge("outside", name)).toMatchObject({ observed: "plaintext", verdict: "contradicts" });
  });
});
