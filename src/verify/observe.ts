import { servicePortOf, type Edge, type Outcome } from "../model/expectations";
import type { LivePodsOf } from "../model/liveModes";
import type { Workload } from "../model/rollout";
import { familyOf, Protocol, ProtocolFamily, protocolOf } from "../model/protocol";
import {
  ChainHop,
  classifyProbe,
  counterGrowth,
  COUNTERS_WENT_DOWN,
  countsFromSource,
  echoedXfcc,
  fakeServiceHops,
  reachedServer,
  serverSpoke,
  xfccClientUri,
} from "./evidence";
import { kubectlFailure } from "../cluster/failure";
import { pause } from "../cluster/pause";
import { podOf } from "../cluster/podOf";
import type { KubectlRunner, RunResult } from "../cluster/runner";

/**
 * `unverifiable`: nothing this cluster offers can decide the edge, however often it is probed (the observation says
 * what would); `inconclusive`: this probe decided nothing, another may.
 */
export type Observed = Outcome | "inconclusive" | "unverifiable";

export interface Observation {
  observed: Observed;
  /**
   * A pod of the server without a sidecar took the connection (a workload declared `sidecar: partial`): none of
   * its pods with one counted it. Such a pod is outside the mesh, so plaintext is what it gets from anyone.
   */
  byPodWithoutSidecar?: boolean;
  /** What the verdict rests on, or why there is none. */
  evidence: string;
  /** The upstream calls a fake-service server reported making. */
  chain?: ChainHop[];
}

export interface ProbeTarget {
  edge: Edge;
  client: Workload;
  server: Workload;
  /**
   * The server's live pods, as read before probing: the sidecars of those with one are read for evidence (a probe
   * lands on any of them), and the count of those without one. Unread: kubectl picks one pod of the controller.
   */
  serverPods?: ServerPods;
}

/** A server's live pods, as the model reads them from the cluster (src/model/liveModes.ts). */
export type ServerPods = LivePodsOf;

/** The most pods of one server whose sidecars are read for one probe: a probe lands on one, and each read is an exec. */
export const MAX_COUNTER_PODS = 8;

/** What is known of the cluster besides the probe: read once before the run (src/cluster/readLive.ts). */
export interface ProbeFacts {
  /**
   * Every workload's pods run a sidecar exactly where the rollout says they do, as read before probing: a server
   * the rollout says has none has none, so a connection it closes reached its application.
   */
  sidecarsRead: boolean;
}

export interface ProbeTiming {
  /** curl's own --max-time, in seconds. */
  curlMaxTimeSeconds: number;
  /** How long one kubectl call may take, curl included. */
  callTimeoutMs: number;
  /** No call may run past this moment (epoch ms). */
  deadline?: number;
}

/** The time one more call may take, or 0 when the deadline has passed. */
function timeLeft(timing: ProbeTiming): number {
  const untilDeadline = timing.deadline === undefined ? Infinity : timing.deadline - Date.now();
  return Math.max(0, Math.min(timing.callTimeoutMs, untilDeadline));
}

const DEADLINE_PASSED = "the deadline passed before the probe could run";

/** A call the run's deadline cut short, not its own timeout: it observed nothing about the edge. */
function cutByDeadline(result: RunResult, timeout: number, timing: ProbeTiming): boolean {
  return result.timedOut && timeout < timing.callTimeoutMs;
}

/** The kubectl arguments of one probe: curl from the client's container to the service port. */
export function probeArgs(target: ProbeTarget, timing: ProbeTiming): string[] {
  const { client, server, edge } = target;
  return [
    "exec",
    "-n",
    client.namespace,
    podOf(client),
    "-c",
    client.container,
    "--",
    "curl",
    "-sS",
    "--max-time",
    String(timing.curlMaxTimeSeconds),
    "-w",
    "\\n%{http_code}",
    `http://${edge.host}:${edge.port}${server.probePath}`,
  ];
}

/** The kubectl arguments that read a server sidecar's Istio metrics. */
export function statsArgs(server: Pick<Workload, "namespace" | "name" | "kind">, pod = podOf(server)): string[] {
  return ["exec", "-n", server.namespace, pod, "-c", "istio-proxy", "--", "pilot-agent", "request", "GET", "stats/prometheus"];
}

/** The kubectl arguments that read a server sidecar's Envoy counters (the inbound listener's among them). */
export function envoyStatsArgs(server: Pick<Workload, "namespace" | "name" | "kind">, pod = podOf(server)): string[] {
  return ["exec", "-n", server.namespace, pod, "-c", "istio-proxy", "--", "pilot-agent", "request", "GET", "stats"];
}

/** The counter Envoy bumps when a connection matches no filter chain: plaintext at a STRICT inbound listener. */
export const NO_FILTER_CHAIN_MATCH = "listener.0.0.0.0_15006.no_filter_chain_match";

/**
 * The server sidecar's access log of the last minutes. A connection no filter chain took is logged with the
 * response flag NR and the details `filter_chain_not_found` (text or JSON encoding alike).
 */
export function accessLogArgs(server: Pick<Workload, "namespace" | "name" | "kind">, pod = podOf(server)): string[] {
  return ["logs", "-n", server.namespace, pod, "-c", "istio-proxy", `--since=${ACCESS_LOG_SINCE_SECONDS}s`];
}

/** What `kubectl exec` and `kubectl logs` are pointed at for the server's counters: its pods with a sidecar, or its controller. */
function counterPods(target: ProbeTarget): string[] {
  const pods = target.serverPods?.withSidecar ?? [];
  return pods.length > 0 ? pods.slice(0, MAX_COUNTER_PODS).map((p) => `pod/${p}`) : [podOf(target.server)];
}
const ACCESS_LOG_SINCE_SECONDS = 300;
/** Envoy writes its access log in batches (its flush interval is a second): a refusal shows up a little later. */
const ACCESS_LOG_FLUSH_MS = 1_500;
/** A line of Envoy's access log: Istio's default text format (`[START_TIME] "…`) or its JSON encoding. */
/** A series Istio's stats plugin writes at the receiving sidecar: its metrics are on. */
const DESTINATION_SERIES = /^istio_(requests|tcp_connections_opened)_total\{[^}\n]*reporter="destination"/m;
const ACCESS_LOG_LINE = /^\[\d{4}-\d{2}-\d{2}T[^\]]+\] "|^\{.*"start_time"/;

/** What the server's sidecar counted: requests and connections from this client by security policy, and refused connections. */
interface ServerCounts {
  counts: Map<string, number>;
  /** Connections no filter chain took: the listener's counter or, where the sidecar does not report it, access-log lines. */
  refusals?: { count: number; from: "listener" | "log" };
  /** Why its access log could not be read, when the listener counter was missing too. */
  logUnreadable?: string;
  /** Lines of its access log in the window, when the listener counter was missing: none at all means the mesh writes none for it. */
  accessLogLines?: number;
  /** Its Istio metrics hold destination series at all: its sidecar counts what it takes (its metrics are not off). */
  counting: boolean;
}

type CountsRead = { read: ServerCounts; error?: undefined } | { read?: undefined; error: string };

/** Istio names a client by its sidecar's peer metadata; one without a sidecar sends none and is counted as unknown. */
const sourceOf = (client: Workload) => (client.sidecar ? client : { namespace: "unknown", name: "unknown" });

/**
 * What the server's sidecars counted, summed over the pods read: a probe lands on one of them. A pod's counter that
 * goes down between two reads shows in the sum's growth as a counter that went down: no evidence.
 */
async function readCounts(runner: KubectlRunner, target: ProbeTarget, timing: ProbeTiming, withListener: boolean): Promise<CountsRead> {
  const reads: ServerCounts[] = [];
  for (const pod of counterPods(target)) {
    const read = await readPodCounts(runner, target, pod, timing, withListener);
    if (read.error !== undefined) return read;
    reads.push(read.read);
  }
  if (reads.length === 1) return { read: reads[0] };
  const counts = new Map<string, number>();
  for (const r of reads) for (const [k, v] of r.counts) counts.set(k, (counts.get(k) ?? 0) + v);
  const from = new Set(reads.map((r) => r.refusals?.from));
  if (from.size > 1)
    return { error: `the pods of ${target.server.ref} report refusals differently (listener counter on some, not on others)` };
  const [refusalsFrom] = from;
  const logUnreadable = reads.find((r) => r.logUnreadable !== undefined)?.logUnreadable;
  return {
    read: {
      counts,
      counting: reads.every((r) => r.counting),
      ...(refusalsFrom ? { refusals: { count: reads.reduce((n, r) => n + (r.refusals?.count ?? 0), 0), from: refusalsFrom } } : {}),
      ...(logUnreadable !== undefined ? { logUnreadable } : {}),
      ...(reads.some((r) => r.accessLogLines !== undefined)
        ? { accessLogLines: reads.reduce((n, r) => n + (r.accessLogLines ?? 0), 0) }
        : {}),
    },
  };
}

async function readPodCounts(
  runner: KubectlRunner,
  target: ProbeTarget,
  pod: string,
  timing: ProbeTiming,
  withListener: boolean,
): Promise<CountsRead> {
  const server = target.server;
  const call = async (args: string[]): Promise<{ text: string } | { error: string }> => {
    const timeout = timeLeft(timing);
    if (timeout === 0) return { error: DEADLINE_PASSED };
    const result = await runner(args, timeout);
    if (cutByDeadline(result, timeout, timing)) return { error: DEADLINE_PASSED };
    if (result.exitCode !== 0) return { error: `metrics of ${server.ref} unreadable: ${kubectlFailure(result, timeout)}` };
    return { text: result.stdout };
  };
  const metrics = await call(statsArgs(server, pod));
  if ("error" in metrics) return metrics;
  const counted = countsFromSource(metrics.text, sourceOf(target.client));
  if ("error" in counted) return { error: `metrics of ${server.ref} unusable: ${counted.error}` };
  const counting = DESTINATION_SERIES.test(metrics.text);
  if (!withListener) return { read: { counts: counted.counts, counting } };
  const envoy = await call(envoyStatsArgs(server, pod));
  if ("error" in envoy) return envoy;
  const line = new RegExp(`^${NO_FILTER_CHAIN_MATCH.replace(/\./g, "\\.")}:(.*)$`, "m").exec(envoy.text);
  if (line && !/^ \d{1,15}$/.test(line[1]))
    return { error: `metrics of ${server.ref} unusable: ${NO_FILTER_CHAIN_MATCH}:${line[1].slice(0, 40)}` };
  if (line) return { read: { counts: counted.counts, refusals: { count: Number(line[1]), from: "listener" }, counting } };
  // Not reported (the pods lack the stats annotation): the access log says the same, when the mesh writes one.
  const log = await call(accessLogArgs(server, pod));
  // An empty log is no refusal yet, or no access log at all: either way no evidence of one.
  if ("error" in log) return { read: { counts: counted.counts, logUnreadable: log.error, counting } };
  const lines = log.text.split("\n");
  const logged = lines.filter((l) => l.includes("filter_chain_not_found")).length;
  // Envoy's access-log lines (Istio's default text format, or its JSON), not the proxy's own messages.
  const accessLogLines = lines.filter((l) => ACCESS_LOG_LINE.test(l)).length;
  return { read: { counts: counted.counts, refusals: { count: logged, from: "log" }, accessLogLines, counting } };
}

/** The Service port an edge goes to, and how its answer can be read. */
function familyOfEdge(target: ProbeTarget): { protocol: Protocol; family: ProtocolFamily } {
  const port = servicePortOf(target.server, target.edge);
  const protocol = port ? protocolOf(port) : "sniffed";
  return { protocol, family: familyOf(protocol) };
}

/**
 * Observes one edge. What a probe's answer means depends on the port's protocol (Istio's protocol
 * selection): an HTTP port answers curl in HTTP and a reset is the server sidecar's refusal; any other
 * port answers in its own protocol, or closes on curl's request, so there a refusal, mTLS or plaintext is
 * read only from the server sidecar's counters, before and after the probe (the verifier probes one server
 * at a time for that reason). With sidecars on both ends even an HTTP answer needs evidence of mTLS: the
 * XFCC header httpbin echoes, else the same counters. `undefined` when the deadline left no time.
 */
export async function observeEdge(
  runner: KubectlRunner,
  target: ProbeTarget,
  timing: ProbeTiming,
  facts: ProbeFacts = { sidecarsRead: false },
): Promise<Observation | undefined> {
  const { client, server } = target;
  const { protocol, family } = familyOfEdge(target);
  // An HTTP port's reset is evidence in itself; any other port's answer is not.
  const countsNeeded = server.sidecar && (client.sidecar || family !== "http");
  const withListener = server.sidecar && family !== "http";
  const before = countsNeeded ? await readCounts(runner, target, timing, withListener) : undefined;
  // Through the client's sidecar, a close on a port that is not HTTP is the sidecar's own, whether or not the server
  // was reached: its outbound cluster's connection counters tell (the probe kit reports them).
  const throughClientSidecar = client.sidecar && !server.sidecar && family !== "http";
  const connectsBefore = throughClientSidecar ? await readConnects(runner, target, timing) : undefined;

  const timeout = timeLeft(timing);
  // Out of time: say what used it up if a call hung, else report nothing new for this round.
  if (timeout === 0)
    return before?.error && before.error !== DEADLINE_PASSED ? { observed: "inconclusive", evidence: before.error } : undefined;
  const result = await runner(probeArgs(target, timing), timeout);
  if (cutByDeadline(result, timeout, timing)) return undefined;
  const probe = classifyProbe(result, timeout, client.sidecar);
  const closed = probe.kind === "refused" || (probe.kind === "inconclusive" && reachedServer(result));
  const spoke = serverSpoke(result);
  const said = probe.kind === "http" ? answerText(probe) : probe.kind === "refused" ? probe.evidence : probe.reason;

  if (!server.sidecar) {
    if (probe.kind === "http" && family !== "opaque") return observeHttp(runner, target, timing, probe, before);
    if (probe.kind === "http" || spoke) {
      // Bytes from the server: an application answered. A sidecar the model does not know of would have sent none.
      return { observed: "plaintext", evidence: `the server has no sidecar; the application answered (${said})` };
    }
    if (throughClientSidecar && closed) return connected(runner, target, timing, connectsBefore!, `${protocol} port, ${said}`);
    // No pod of the server runs a sidecar, as read before probing (and some runs): nothing there could refuse, so the
    // connection a client without a sidecar saw closed without a byte (curl 52 or 56; nothing listening is curl 7)
    // was closed by its application, which the plaintext reached.
    const podsRead = target.serverPods !== undefined && target.serverPods.withSidecar.length === 0 && target.serverPods.withoutSidecar > 0;
    if (!client.sidecar && probe.kind === "refused" && facts.sidecarsRead && podsRead) {
      return {
        observed: "plaintext",
        evidence: `${protocol} port, ${said}: the application closed the connection, which reached it in plaintext (no pod of ${server.ref} runs a sidecar, as read before probing)`,
      };
    }
    // Otherwise (pods unread, or the reset came back as the client sidecar's 503) a reset on an HTTP port is a
    // sidecar's refusal, which the model would never expect here: it contradicts.
    if (probe.kind === "refused" && family === "http") return { observed: "refused", evidence: probe.evidence };
    return {
      observed: "inconclusive",
      evidence: `${protocol} port, ${said}: the connection closed without an answer, and an application closing on curl's request looks the same as a sidecar the model does not know of`,
    };
  }
  if (probe.kind === "http" && family !== "opaque") return observeHttp(runner, target, timing, probe, before);
  if (family === "http") {
    if (probe.kind !== "refused") return { observed: "inconclusive", evidence: probe.kind === "inconclusive" ? probe.reason : "" };
    // Through the client's sidecar a reset is its 503, whoever reset: the server's counters tell a refused
    // connection (nothing counted) from an application that reset one it took (counted, in mTLS or not).
    return client.sidecar
      ? refusedOrAccepted(runner, target, timing, probe.evidence, before)
      : { observed: "refused", evidence: probe.evidence };
  }
  if (!closed && probe.kind !== "http") return { observed: "inconclusive", evidence: probe.reason };
  // Bytes decide: a sidecar that refuses plaintext on a STRICT port closes without a byte, so an opaque port's
  // answer (a greeting, an error in the server's own protocol) to a client without a sidecar is its application's,
  // reached in plaintext, whatever the counters say.
  if (!client.sidecar && family === "opaque" && (spoke || probe.kind === "http")) {
    return {
      observed: "plaintext",
      evidence: `${protocol} port, ${said}: ${server.ref}'s application answered the plaintext connection (a refusing sidecar sends no byte)`,
    };
  }

  // An opaque or sniffed port: the server sidecar's counters decide.
  const curlSaid = said;
  if (before?.read?.refusals?.from === "log") await pause(Math.min(ACCESS_LOG_FLUSH_MS, timeLeft(timing)));
  const after = await readCounts(runner, target, timing, withListener);
  if (after.error === DEADLINE_PASSED) return undefined;
  if (!before?.read || !after.read) {
    return { observed: "inconclusive", evidence: `${protocol} port, ${curlSaid}; no evidence obtainable: ${before?.error ?? after.error}` };
  }
  const growth = counterGrowth(before.read.counts, after.read.counts);
  if (growth === undefined)
    return { observed: "inconclusive", evidence: `${protocol} port, ${curlSaid}; ${COUNTERS_WENT_DOWN(server.ref)}` };
  const mtls = growth.get("mutual_tls") ?? 0;
  const plain = [...growth].filter(([policy]) => policy !== "mutual_tls").reduce((sum, [, n]) => sum + n, 0);
  const b = before.read.refusals;
  const a = after.read.refusals;
  // A count that went down is no count at all (another pod); log lines also leave the window's old end, so
  // their growth may miss one, never invent one.
  const refused = a && b && a.from === b.from && (a.count >= b.count || a.from === "log") ? Math.max(0, a.count - b.count) : undefined;
  const refusalEvidence =
    a?.from === "log" ? `its access log gained ${refused} "NR filter_chain_not_found" line(s)` : `${NO_FILTER_CHAIN_MATCH} +${refused}`;
  const source = client.sidecar ? client.ref : "unknown (a client without sidecar)";
  const shared = client.sidecar ? "" : "; other clients without a sidecar count as unknown too";
  if (refused && mtls === 0 && plain === 0) {
    return {
      observed: "refused",
      evidence: `${protocol} port, ${curlSaid}; ${server.ref} ${refusalEvidence}: no filter chain took the connection`,
    };
  }
  if (mtls > 0 && plain === 0 && !refused) {
    return { observed: "mtls", evidence: `${protocol} port, ${curlSaid}; ${server.ref} counted +${mtls} mutual_tls from ${source}` };
  }
  if (plain > 0 && mtls === 0 && !refused) {
    return {
      observed: "plaintext",
      evidence: `${protocol} port, ${curlSaid}; ${server.ref} counted +${plain} without mTLS from ${source}${shared}`,
    };
  }
  if (mtls + plain + (refused ?? 0) === 0 && podsWithoutSidecar(target) > 0 && after.read.counting && before.read.counting) {
    return { ...takenWithoutSidecar(target, `${protocol} port, ${curlSaid}`), byPodWithoutSidecar: true };
  }
  // Nothing counted, and nothing that could show a refusal: no probe will ever decide this edge. A listener counter
  // that went down (the sidecar restarted) is the moment's, not the cluster's: inconclusive, not unverifiable.
  const listenerReported = a?.from === "listener" || b?.from === "listener";
  const noRefusalEvidence = !listenerReported && (a === undefined || (a.from === "log" && after.read.accessLogLines === 0));
  if (mtls + plain + (refused ?? 0) === 0 && noRefusalEvidence) {
    const log =
      after.read.logUnreadable !== undefined
        ? `its access log could not be read (${after.read.logUnreadable})`
        : "it writes no access log (none for the probe's connection either)";
    return {
      observed: "unverifiable",
      evidence:
        `${protocol} port, ${curlSaid}; ${server.ref} counted nothing from ${source}, its sidecar does not report ${NO_FILTER_CHAIN_MATCH}, and ${log}: ` +
        `a refused connection cannot be told from one its application closed. What would decide it: the pods' proxy.istio.io/config annotation ` +
        `with proxyStatsMatcher inclusionPrefixes ["listener.0.0.0.0_15006"], or access logs for ${server.ref} (the stack's mtls-rollout:accessLogs, a Telemetry with the envoy provider, or meshConfig.accessLogFile)${
          after.read.logUnreadable !== undefined ? " and get on pods/log" : ""
        }; or acknowledge it in the stage's acknowledgeUnverifiable`,
    };
  }
  const why =
    mtls + plain + (refused ?? 0) > 0
      ? `${server.ref} counted more than one kind of connection during the probe`
      : listenerReported && refused === undefined
        ? `${server.ref}'s ${NO_FILTER_CHAIN_MATCH} went down between the reads (its sidecar restarted, or another pod answered)`
        : a?.from === "log"
          ? `${server.ref} counted nothing from ${source}, and its access log shows no refused connection`
          : `${server.ref} counted nothing from ${source} and refused no connection`;
  return { observed: "inconclusive", evidence: `${protocol} port, ${curlSaid}; no evidence: ${why}` };
}

/** A client sidecar's 503 for a reset connection, on an HTTP port with sidecars on both ends: the server's counters decide. */
async function refusedOrAccepted(
  runner: KubectlRunner,
  target: ProbeTarget,
  timing: ProbeTiming,
  said: string,
  before: CountsRead | undefined,
): Promise<Observation | undefined> {
  const after = await readCounts(runner, target, timing, false);
  if (after.error === DEADLINE_PASSED) return undefined;
  if (!before?.read || !after.read)
    return { observed: "inconclusive", evidence: `${said}; no evidence obtainable: ${before?.error ?? after.error}` };
  const growth = counterGrowth(before.read.counts, after.read.counts);
  if (growth === undefined) return { observed: "inconclusive", evidence: `${said}; ${COUNTERS_WENT_DOWN(target.server.ref)}` };
  const mtls = growth.get("mutual_tls") ?? 0;
  const other = [...growth].filter(([policy]) => policy !== "mutual_tls").reduce((sum, [, n]) => sum + n, 0);
  if (mtls === 0 && other === 0 && podsWithoutSidecar(target) > 0) {
    return {
      observed: "inconclusive",
      evidence: `${said}; no pod of ${target.server.ref} with a sidecar counted it, and one without a sidecar may have reset it`,
    };
  }
  if (mtls === 0 && other === 0)
    return { observed: "refused", evidence: `${said}; ${target.server.ref} counted no request from ${target.client.ref}` };
  if (other === 0)
    return {
      observed: "mtls",
      evidence: `${said}, but ${target.server.ref} counted +${mtls} mutual_tls from ${target.client.ref}: its application reset the request`,
    };
  if (mtls === 0)
    return {
      observed: "plaintext",
      evidence: `${said}, but ${target.server.ref} counted +${other} without mTLS from ${target.client.ref}: its application reset the request`,
    };
  return { observed: "inconclusive", evidence: `${said}; ${target.server.ref} counted both mTLS and plaintext from ${target.client.ref}` };
}

/** A client sidecar's connections to the edge's outbound cluster: opened in all, and failed to connect. */
type Connects = { total: number; failed: number } | { error: string };

/**
 * Envoy's stats of the outbound cluster of a Service port, `outbound|PORT||HOST` (istio `BuildSubsetKey`; HOST the
 * Service's name in the cluster's DNS domain), under `cluster.<name>.` (Envoy's cluster statistics).
 */
const clusterStat = (edge: Edge, stat: string) =>
  `^cluster\\.outbound\\|${edge.port}\\|\\|${edge.host.replace(/\./g, "\\.")}\\.svc\\.[^:]*\\.${stat}`;

async function readConnects(runner: KubectlRunner, target: ProbeTarget, timing: ProbeTiming): Promise<Connects> {
  const timeout = timeLeft(timing);
  if (timeout === 0) return { error: DEADLINE_PASSED };
  const { client, edge } = target;
  // Envoy's admin /stats takes a regular expression to filter by: only these two lines come back.
  const filter = `${clusterStat(edge, "upstream_cx_(total|connect_fail)")}$`;
  const args = [
    "exec",
    "-n",
    client.namespace,
    podOf(client),
    "-c",
    "istio-proxy",
    "--",
    "pilot-agent",
    "request",
    "GET",
    `stats?filter=${filter}`,
  ];
  const result = await runner(args, timeout);
  if (result.exitCode !== 0) return { error: `${client.ref}'s sidecar stats unreadable: ${kubectlFailure(result, timeout)}` };
  const value = (stat: string) => {
    const m = new RegExp(`${clusterStat(edge, stat)}: (\\d{1,15})$`, "m").exec(result.stdout);
    return m ? Number(m[1]) : undefined;
  };
  const total = value("upstream_cx_total");
  const failed = value("upstream_cx_connect_fail");
  if (total === undefined || failed === undefined) {
    return {
      error: `${client.ref}'s sidecar does not report its connections to ${edge.host}:${edge.port} (the stack's probe kit does: proxyStatsMatcher inclusionSuffixes upstream_cx_total and upstream_cx_connect_fail)`,
    };
  }
  return { total, failed };
}

/** What the client's sidecar did with the probe's connection: reached the server (plaintext: it has no sidecar), or not. */
async function connected(
  runner: KubectlRunner,
  target: ProbeTarget,
  timing: ProbeTiming,
  before: Connects,
  said: string,
): Promise<Observation | undefined> {
  const after = await readConnects(runner, target, timing);
  if ("error" in after && after.error === DEADLINE_PASSED) return undefined;
  if ("error" in before || "error" in after) {
    const why = "error" in before ? before.error : (after as { error: string }).error;
    return { observed: "inconclusive", evidence: `${said}: through the client's sidecar a close is its own, and ${why}` };
  }
  const opened = after.total - before.total;
  const failed = after.failed - before.failed;
  if (opened < 0 || failed < 0) {
    return { observed: "inconclusive", evidence: `${said}; ${target.client.ref}'s connection counters went down (its sidecar restarted)` };
  }
  if (opened > 0 && failed === 0) {
    return {
      observed: "plaintext",
      evidence: `${said}; ${target.client.ref}'s sidecar connected to ${target.edge.host}:${target.edge.port} (upstream_cx_total +${opened}, no connect failure), whose server has no sidecar: its application took it in plaintext and closed it`,
    };
  }
  return {
    observed: "inconclusive",
    evidence:
      failed > 0
        ? `${said}; ${target.client.ref}'s sidecar could not connect to ${target.edge.host}:${target.edge.port} (upstream_cx_connect_fail +${failed}): the server is down or not listening`
        : `${said}; ${target.client.ref}'s sidecar opened no connection to ${target.edge.host}:${target.edge.port}`,
  };
}

/**
 * The server's live pods without a sidecar (a workload declared `sidecar: partial`), when every one of its pods with
 * a sidecar is read: only then does nothing counted mean that a pod without one took the connection. 0 otherwise.
 */
const podsWithoutSidecar = (target: ProbeTarget) =>
  target.serverPods && target.serverPods.withSidecar.length <= MAX_COUNTER_PODS ? target.serverPods.withoutSidecar : 0;

/** Nothing counted at the pods with a sidecar, yet the server answered or closed: a pod without one took it. */
function takenWithoutSidecar(target: ProbeTarget, said: string): Observation {
  const pods = target.serverPods!;
  return {
    observed: "plaintext",
    evidence: `${said}; none of the ${pods.withSidecar.length} pods of ${target.server.ref} with a sidecar counted it: one of its ${pods.withoutSidecar} pods without a sidecar took it, in plaintext`,
  };
}

/** An HTTP answer in words: its status, and how the connection broke after it, if it did. */
const answerText = (probe: { status: number; cut?: string }) =>
  probe.cut ? `HTTP ${probe.status} (then ${probe.cut})` : `HTTP ${probe.status}`;

/** An HTTP answer: httpbin's echo, or the server sidecar's request counters for this client. */
async function observeHttp(
  runner: KubectlRunner,
  target: ProbeTarget,
  timing: ProbeTiming,
  probe: { status: number; body: string; cut?: string },
  before: CountsRead | undefined,
): Promise<Observation | undefined> {
  const { client, server } = target;
  const answered = answerText(probe);
  const chain = fakeServiceHops(probe.body);
  const withChain = (o: Observation): Observation => (chain && chain.length > 0 ? { ...o, chain } : o);
  // httpbin's echo is direct evidence, whatever the rollout says about sidecars.
  const xfcc = echoedXfcc(probe.body);
  if (typeof xfcc === "string") {
    return withChain({ observed: "mtls", evidence: `${answered}; X-Forwarded-Client-Cert URI=${xfccClientUri(xfcc) ?? "?"}` });
  }
  if (xfcc === null) return withChain({ observed: "plaintext", evidence: `${answered}; no X-Forwarded-Client-Cert echoed` });
  if (!client.sidecar) return withChain({ observed: "plaintext", evidence: `${answered}; the client has no sidecar` });
  if (!server.sidecar) return withChain({ observed: "plaintext", evidence: `${answered}; the server has no sidecar` });

  const after = await readCounts(runner, target, timing, false);
  if (after.error === DEADLINE_PASSED) return undefined;
  if (!before?.read || !after.read) {
    return withChain({
      observed: "inconclusive",
      evidence: `${answered}; no evidence obtainable: ${before?.error ?? after.error}`,
    });
  }
  const growth = counterGrowth(before.read.counts, after.read.counts);
  if (growth === undefined) return withChain({ observed: "inconclusive", evidence: `${answered}; ${COUNTERS_WENT_DOWN(server.ref)}` });
  const mtls = growth.get("mutual_tls") ?? 0;
  const other = [...growth].filter(([policy]) => policy !== "mutual_tls").reduce((sum, [, n]) => sum + n, 0);
  const source = `${client.namespace}/${client.name}`;
  if (mtls > 0 && other === 0) {
    return withChain({ observed: "mtls", evidence: `${answered}; ${server.ref} counted +${mtls} mutual_tls from ${source}` });
  }
  if (other > 0 && mtls === 0) {
    return withChain({
      observed: "plaintext",
      evidence: `${answered}; ${server.ref} counted +${other} without mTLS from ${source}`,
    });
  }
  if (mtls === 0 && other === 0 && podsWithoutSidecar(target) > 0 && after.read.counting && before.read.counting) {
    return withChain({ ...takenWithoutSidecar(target, answered), byPodWithoutSidecar: true });
  }
  return withChain({
    observed: "inconclusive",
    evidence:
      mtls > 0
        ? `${answered}; ${server.ref} counted both mTLS and plaintext requests from ${source}`
        : `${answered}; no evidence obtainable: ${server.ref} counted no request from ${source}`,
  });
}
