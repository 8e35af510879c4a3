/**
 * Reading what a probe returned: curl's and kubectl's exit codes, httpbin's echoed headers,
 * fake-service's upstream calls and Istio's destination-side request counters. Pure functions.
 */
import { parseSamples } from "../cluster/promText";
import { firstLine, kubectlFailure } from "../cluster/failure";
import type { RunResult } from "../cluster/runner";

export type ProbeResult =
  /** `cut`: the connection broke after the status arrived (curl's complaint): the body is partial. */
  | { kind: "http"; status: number; body: string; cut?: string }
  | { kind: "refused"; evidence: string }
  | { kind: "inconclusive"; reason: string };

const REMOTE_EXIT = /command terminated with exit code (\d+)/;
/** Envoy's own reply when the upstream connection ended: old Envoy (no reason) or `reset reason: connection termination`. */
const REFUSED_BY_SERVER = /^upstream connect error or disconnect\/reset before headers\.?( reset reason: connection termination)?$/;
const ENVOY_LOCAL_REPLY = /^(upstream connect error or disconnect\/reset before headers|no healthy upstream|upstream request timeout)/;

/**
 * Whether the probe's connection reached the server at all: curl ran and did not fail to resolve (6),
 * to connect (7) or to connect in time (28, "Failed to connect" / "Connection timed out"). Whatever
 * happened after the connection (an answer, a close, a reset, a silence) is the server's.
 */
export function reachedServer(result: RunResult): boolean {
  const remote = REMOTE_EXIT.exec(result.stderr);
  if (result.exitCode === 0) return true;
  if (!remote) return false;
  const code = Number(remote[1]);
  if (code === 6 || code === 7 || code === 126 || code === 127) return false;
  return !(code === 28 && /Failed to connect|Connection timed out|Connection timeout/.test(result.stderr));
}

/**
 * Whether the server sent bytes of its own that are not HTTP: curl exit 1 "Received HTTP/0.9 when not allowed"
 * (a greeting, or a reply in another protocol) or exit 8 ("Weird server reply"). A sidecar that refuses
 * plaintext sends nothing before it closes, so these are an application's answer.
 */
export function serverSpoke(result: RunResult): boolean {
  const code = REMOTE_EXIT.exec(result.stderr)?.[1];
  return (code === "1" && /Received HTTP\/0\.9/.test(result.stderr)) || code === "8";
}

const lastLine = (stdout: string) => {
  const out = stdout.replace(/\n$/, "");
  return out.slice(out.lastIndexOf("\n") + 1);
};

/** The status `-w '\n%{http_code}'` wrote last and the body before it, when an HTTP status arrived (not 000). */
function httpAnswer(stdout: string): { status: number; body: string } | undefined {
  const out = stdout.replace(/\n$/, "");
  const cut = out.lastIndexOf("\n");
  const statusText = cut >= 0 ? out.slice(cut + 1) : out;
  if (!/^\d{3}$/.test(statusText) || statusText === "000") return undefined;
  return { status: Number(statusText), body: cut >= 0 ? out.slice(0, cut) : "" };
}

/** curl exit codes the verifier understands (curl's man page, EXIT CODES). */
const CURL_EXITS: Record<number, string> = {
  6: "DNS failure (curl exit 6: could not resolve host)",
  7: "connection refused (curl exit 7: failed to connect)",
  28: "timeout (curl exit 28)",
};

/**
 * Classifies `kubectl exec … -- curl -sS --max-time T -w '\n%{http_code}' URL`.
 * Exit 56 (connection reset) and 52 (empty reply) are Envoy closing a plaintext connection on a
 * STRICT port; a client sidecar turns the same reset into a 503 with Envoy's reset text.
 */
export function classifyProbe(result: RunResult, timeoutMs: number, clientHasSidecar: boolean): ProbeResult {
  const remote = REMOTE_EXIT.exec(result.stderr);
  if (result.exitCode !== 0 && !remote) return { kind: "inconclusive", reason: kubectlFailure(result, timeoutMs) };
  // curl writes -w's status even when it fails (tool_operate.c writes the write-out whatever the result): a status
  // other than 000 is an HTTP answer that came back before the connection broke (exit 56 on a reset mid-body, 18 on
  // a close). An answer is not a refusal: a refusing sidecar sends no byte. It is read as any answer is, below.
  const answered = httpAnswer(result.stdout);
  const curlLine = result.stderr.split("\n").find((l) => l.startsWith("curl:"));
  const curlSaid = curlLine === undefined ? undefined : firstLine(curlLine);
  if (remote && !answered) {
    const code = Number(remote[1]);
    if (code === 56 || code === 52) return { kind: "refused", evidence: curlSaid ?? `curl exit ${code}` };
    if (code === 126 || code === 127) return { kind: "inconclusive", reason: `curl could not run in the client container (exit ${code})` };
    return { kind: "inconclusive", reason: CURL_EXITS[code] ?? `curl exit ${code}${curlSaid ? `: ${curlSaid}` : ""}` };
  }
  if (!answered) {
    return { kind: "inconclusive", reason: `unrecognised curl output: ${JSON.stringify(lastLine(result.stdout).slice(0, 60))}` };
  }
  const cut = remote ? { cut: curlSaid ?? `curl exit ${remote[1]}` } : {};
  const { status, body } = answered;
  const envoyReply = ENVOY_LOCAL_REPLY.test(body.trim());
  // The server closed the connection the client sidecar opened: plaintext refused by a STRICT port.
  if (clientHasSidecar && status === 503 && REFUSED_BY_SERVER.test(body.trim())) {
    return { kind: "refused", evidence: `503 from the client sidecar: ${firstLine(body)}` };
  }
  // Any other reply Envoy made up itself (app not listening, TLS failures, no endpoints) says
  // nothing about whether the server accepts plaintext.
  if (status >= 500 && envoyReply) return { kind: "inconclusive", reason: `HTTP ${status} from Envoy: ${firstLine(body)}` };
  return { kind: "http", status, body, ...cut };
}

function parseJson(body: string): unknown {
  try {
    return JSON.parse(body);
  } catch {
    return undefined;
  }
}

/**
 * The X-Forwarded-Client-Cert header as httpbin echoes it from `/headers`: a string
 * (kennethreitz/httpbin) or an array of strings (go-httpbin). `undefined` when the body is not an
 * echo of headers at all; `null` when it is and carries no XFCC.
 */
export function echoedXfcc(body: string): string | null | undefined {
  const json = parseJson(body) as { headers?: unknown } | undefined;
  if (!json || typeof json !== "object" || !json.headers || typeof json.headers !== "object") return undefined;
  for (const [name, value] of Object.entries(json.headers as Record<string, unknown>)) {
    if (name.toLowerCase() !== "x-forwarded-client-cert") continue;
    if (typeof value === "string") return value;
    if (Array.isArray(value) && typeof value[0] === "string") return value.join(",");
  }
  return null;
}

/** The client identity an XFCC header names (`URI=spiffe://…`), for the evidence column. */
export function xfccClientUri(xfcc: string): string | undefined {
  return /URI=(spiffe:\/\/[^;,"]+)/.exec(xfcc)?.[1];
}

export interface ChainHop {
  from: string;
  to: string;
  uri?: string;
  code?: number;
  error?: string;
}

interface FakeServiceNode {
  name?: unknown;
  uri?: unknown;
  code?: unknown;
  error?: unknown;
  upstream_calls?: unknown;
}

/**
 * The calls fake-service reports it made (`upstream_calls`: an array in v0.7, a map keyed by URI
 * in later versions), flattened to hops. `undefined` when the body is not fake-service's JSON.
 */
export function fakeServiceHops(body: string): ChainHop[] | undefined {
  const root = parseJson(body) as FakeServiceNode | undefined;
  if (!root || typeof root !== "object" || typeof root.name !== "string" || !("upstream_calls" in root || "code" in root)) return undefined;
  const hops: ChainHop[] = [];
  const walk = (node: FakeServiceNode) => {
    const calls = node.upstream_calls;
    const children = Array.isArray(calls) ? calls : calls && typeof calls === "object" ? Object.values(calls) : [];
    for (const child of children as FakeServiceNode[]) {
      if (!child || typeof child !== "object") continue;
      hops.push({
        from: String(node.name),
        to: typeof child.name === "string" ? child.name : String(child.uri ?? "?"),
        uri: typeof child.uri === "string" ? child.uri : undefined,
        code: typeof child.code === "number" ? child.code : undefined,
        error: typeof child.error === "string" && child.error ? child.error : undefined,
      });
      walk(child);
    }
  };
  walk(root);
  return hops;
}

export const REQUEST_METRICS = new Set(["istio_requests_total", "istio_tcp_connections_opened_total"]);

/**
 * Destination-reported requests (and TCP connections) from one source workload, per
 * `connection_security_policy` (`mutual_tls` or `none`, as the server sidecar records them).
 * An unreadable sample of those metrics leaves the counts unknown: the error names it.
 */
export function countsFromSource(
  prometheusText: string,
  source: { namespace: string; name: string },
): { counts: Map<string, number> } | { error: string } {
  const parsed = parseSamples(prometheusText, REQUEST_METRICS);
  if (parsed.malformed.length > 0) return { error: `unreadable Istio sample: ${parsed.malformed[0]}` };
  const counts = new Map<string, number>();
  for (const s of parsed.samples) {
    const l = s.labels;
    if (l.reporter !== "destination" || l.source_workload !== source.name || l.source_workload_namespace !== source.namespace) continue;
    const policy = l.connection_security_policy ?? "unknown";
    counts.set(policy, (counts.get(policy) ?? 0) + s.value);
  }
  return { counts };
}

/**
 * What grew between two reads. A counter that went down means the reads came from two pods (kubectl picked
 * another one) or a sidecar that restarted: the growth is then unknown, not the whole count.
 */
export function counterGrowth(before: Map<string, number>, after: Map<string, number>): Map<string, number> | undefined {
  const growth = new Map<string, number>();
  for (const [policy, prior] of before) if ((after.get(policy) ?? 0) < prior) return undefined;
  for (const [policy, value] of after) {
    const grew = value - (before.get(policy) ?? 0);
    if (grew > 0) growth.set(policy, grew);
  }
  return growth;
}

/** Why a reading of growth has no verdict. */
export const COUNTERS_WENT_DOWN = (server: string) =>
  `${server}'s counters went down between the reads (another pod answered, or its sidecar restarted)`;
