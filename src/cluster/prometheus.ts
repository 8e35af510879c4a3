/**
 * A Prometheus HTTP API client for instant vector queries, that fails closed: every answer that is
 * not a well-formed vector of finite, non-negative samples is an error, never an empty result.
 * Sample values are JSON strings, with the special values spelled "NaN", "+Inf" and "-Inf"
 * (prometheus.io, querying/api, "Expression query result formats").
 */
import * as fs from "node:fs";
import { Agent, fetch as undiciFetch } from "undici";
import { z } from "zod";
import { withoutCredentials } from "./credentials";
import { parseStrictJson } from "./strictJson";

export { withoutCredentials } from "./credentials";

/** One element of an instant vector: its labels and its value. */
export interface VectorSample {
  labels: Record<string, string>;
  value: number;
}

export type VectorAnswer = { samples: VectorSample[] } | { error: string };

export interface QueryOptions {
  /** The whole request, body included. */
  timeoutMs: number;
  /** A seam for tests; the global fetch by default. */
  fetch?: typeof fetch;
  /** Bytes of body read at most; more is an error (default MAX_BODY_BYTES). */
  maxBodyBytes?: number;
  /** Ends the request at once (Ctrl-C). */
  signal?: AbortSignal;
}

/** Far more than any answer the gate or discover asks for (one series per caller), far less than memory. */
export const MAX_BODY_BYTES = 8 * 1024 * 1024;

/** A plain decimal as Prometheus writes a float: no sign, no NaN or Inf. */
const NON_NEGATIVE_DECIMAL = /^(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?$/;

/** The value of a sample, or undefined when it is not a finite number of at least zero. */
export function sampleValue(text: string): number | undefined {
  if (!NON_NEGATIVE_DECIMAL.test(text)) return undefined;
  const value = Number(text);
  return Number.isFinite(value) ? value : undefined;
}

const vectorElement = z.object({
  metric: z.record(z.string(), z.string()),
  value: z.tuple([z.number(), z.string()]),
});

const answerSchema = z.object({
  status: z.string(),
  error: z.string().optional(),
  errorType: z.string().optional(),
  data: z.unknown().optional(),
  /**
   * Set when the answer is not the whole result: Prometheus when a secondary store failed, Thanos, Cortex and Mimir
   * when a store or zone is down (Prometheus API docs, "Format overview"). `infos` are notes, not gaps.
   */
  warnings: z.array(z.unknown()).optional(),
  /** VictoriaMetrics cluster's flag for an answer missing some storage nodes. */
  isPartial: z.boolean().optional(),
});

const vectorData = z.object({ resultType: z.literal("vector"), result: z.array(z.unknown()) });

const clipText = (text: string, max = 120) => {
  const flat = text.replace(/[\u0000-\u001f\u007f-\u009f]+/g, " ").trim();
  return flat.length > max ? `${flat.slice(0, max - 3)}...` : flat;
};

/** Reads at most `max` bytes of the body; undefined when there is more. */
async function boundedText(res: Response, max: number): Promise<string | undefined> {
  const declared = Number(res.headers.get("content-length"));
  if (Number.isFinite(declared) && declared > max) {
    await res.body?.cancel().catch(() => {});
    return undefined;
  }
  if (!res.body) return "";
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > max) {
      await reader.cancel().catch(() => {});
      return undefined;
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString("utf8");
}

/**
 * How to reach a Prometheus as teams run it: behind basic authentication (the URL's userinfo), a bearer token (a
 * service account's, read from its file at every query since a projected token rotates), a tenant header (Mimir's,
 * Cortex's and Thanos' `X-Scope-OrgID`), a private CA. Validated where it comes in (src/cli/prometheusAccess.ts).
 */
export interface PrometheusAccess {
  url: string;
  /** A bearer token itself (the stack passes its secret config in the environment). */
  token?: string;
  /** A file holding the bearer token. */
  tokenFile?: string;
  /** More request headers; every value is treated as a credential. */
  headers?: Record<string, string>;
  /** A PEM file of the CA certificates the server's certificate must chain to, instead of Node's bundled ones. */
  caFile?: string;
}

/** Where to send queries and how: the URL without its userinfo, which becomes a Basic Authorization header. */
export interface PrometheusEndpoint {
  base: URL;
  headers: Record<string, string>;
  /** Every form of the credentials, to be scrubbed from any text that might carry them. */
  secrets: string[];
  tokenFile?: string;
  caFile?: string;
}

/** Forms of a credential worth scrubbing: short ones would blank ordinary words. */
const scrubbable = (values: string[]) => values.filter((v) => v.length >= 3);

/**
 * The endpoint of a Prometheus URL. Node's fetch refuses a URL with userinfo (and quotes it, password and all, in
 * its error): the user and password are sent as HTTP Basic authentication instead (RFC 7617), as Prometheus' own
 * `basic_auth` and most proxies in front of it expect.
 */
export function prometheusEndpoint(access: PrometheusAccess | string): PrometheusEndpoint {
  const given = typeof access === "string" ? { url: access } : access;
  const base = new URL(given.url.endsWith("/") ? given.url : `${given.url}/`);
  const secrets: string[] = [];
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(given.headers ?? {})) {
    headers[name.toLowerCase()] = value;
    // The value, and each word of it: an error quotes `Bearer abc…`'s token alone as readily as the whole.
    secrets.push(...scrubbable([value]), ...value.split(/\s+/).filter((w) => w.length >= 6));
  }
  if (base.username || base.password) {
    const user = decodeURIComponent(base.username);
    const password = decodeURIComponent(base.password);
    const token = Buffer.from(`${user}:${password}`, "utf8").toString("base64");
    headers.authorization = `Basic ${token}`;
    // The user too: a token is often given as the user alone (`https://TOKEN@prometheus…`).
    secrets.push(...scrubbable([base.password, password, token, base.username, user, `${user}:${password}`]));
    base.username = "";
    base.password = "";
  }
  if (given.token !== undefined) {
    headers.authorization = `Bearer ${given.token}`;
    secrets.push(...scrubbable([given.token]));
  }
  return { base, headers, secrets, tokenFile: given.tokenFile, caFile: given.caFile };
}

/** The bearer token in a file, as a service account's projected token is written: trailing white space is no part of it. */
export function readTokenFile(file: string): { token: string } | { error: string } {
  let text: string;
  let fd: number | undefined;
  try {
    // A regular file only: a device (/dev/zero) would be read without end, a FIFO would block.
    if (!fs.statSync(file).isFile()) return { error: `the Prometheus token file ${file} is not a regular file` };
    fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
    if (!fs.fstatSync(fd).isFile()) return { error: `the Prometheus token file ${file} is not a regular file` };
    const buffer = Buffer.alloc(MAX_TOKEN_BYTES + 1);
    const read = fs.readSync(fd, buffer, 0, buffer.length, 0);
    if (read > MAX_TOKEN_BYTES) return { error: `the Prometheus token file ${file} holds more than ${MAX_TOKEN_BYTES} bytes` };
    text = buffer.subarray(0, read).toString("utf8");
  } catch (err) {
    return { error: `the Prometheus token file ${file} cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})` };
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
  const token = text.trim();
  if (token.length === 0) return { error: `the Prometheus token file ${file} is empty` };
  if (/[\s\u0000-\u001f\u007f]/.test(token))
    return { error: `the Prometheus token file ${file} holds more than one line or a control character` };
  return { token };
}

/** A service account token is about a kilobyte; a file far larger is not a token. */
const MAX_TOKEN_BYTES = 64 * 1024;

/**
 * One connection pool per CA file: TLS to a Prometheus behind a private CA. undici is the library Node's own fetch is
 * built on; its Agent takes the CA, which the global fetch gives no way to pass.
 */
const agents = new Map<string, { agent: Agent; fetch: typeof fetch }>();

function fetchTrusting(caFile: string): typeof fetch {
  let entry = agents.get(caFile);
  if (!entry) {
    const agent = new Agent({ connect: { ca: fs.readFileSync(caFile, "utf8") } });
    const trusting = ((input: Parameters<typeof fetch>[0], init?: Parameters<typeof fetch>[1]) =>
      undiciFetch(input as string | URL, { ...(init as object), dispatcher: agent })) as unknown as typeof fetch;
    entry = { agent, fetch: trusting };
    agents.set(caFile, entry);
  }
  return entry.fetch;
}

/** Text with every form of the endpoint's credentials replaced by `***`. */
function scrub(text: string, endpoint: PrometheusEndpoint): string {
  let out = text;
  for (const secret of endpoint.secrets) out = out.split(secret).join("***");
  return out;
}

/**
 * The query URL under the base URL's path (`http://host/prometheus/` + `api/v1/query`). `partial_response=false`
 * makes a Thanos querier fail instead of answering without an unreachable store (its default is a partial answer
 * with a warning); Prometheus ignores the parameter.
 */
export function queryUrl(prometheusUrl: string | URL, promql: string): URL {
  const base = typeof prometheusUrl === "string" ? prometheusEndpoint(prometheusUrl).base : prometheusUrl;
  const url = new URL("api/v1/query", base);
  url.searchParams.set("query", promql);
  url.searchParams.set("partial_response", "false");
  return url;
}

/** Runs one instant query; an answer that is not exactly a whole vector of valid samples is an error. */
export async function queryVector(prometheus: PrometheusAccess | string, promql: string, options: QueryOptions): Promise<VectorAnswer> {
  let endpoint: PrometheusEndpoint;
  try {
    endpoint = prometheusEndpoint(prometheus);
  } catch {
    return { error: "Prometheus URL does not parse" };
  }
  if (endpoint.tokenFile !== undefined) {
    // Read at every query: a projected service account token is rewritten before it expires.
    const read = readTokenFile(endpoint.tokenFile);
    if ("error" in read) return read;
    endpoint.headers.authorization = `Bearer ${read.token}`;
    endpoint.secrets.push(...scrubbable([read.token]));
  }
  let fetchImpl = options.fetch ?? fetch;
  if (endpoint.caFile !== undefined && options.fetch === undefined) {
    try {
      fetchImpl = fetchTrusting(endpoint.caFile);
    } catch (err) {
      return {
        error: `the Prometheus CA file ${endpoint.caFile} cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`,
      };
    }
  }
  const answer = await query(endpoint, promql, { ...options, fetch: fetchImpl });
  return "error" in answer ? { error: scrub(answer.error, endpoint) } : answer;
}

async function query(endpoint: PrometheusEndpoint, promql: string, options: QueryOptions & { fetch: typeof fetch }): Promise<VectorAnswer> {
  const fetchImpl = options.fetch;
  // What Prometheus or a proxy answers may quote the credentials: scrubbed whole, before it is cut short.
  const clip = (text: string, max?: number) => clipText(scrub(text, endpoint), max);
  const maxBytes = options.maxBodyBytes ?? MAX_BODY_BYTES;
  let status: number;
  let text: string | undefined;
  try {
    const timeout = AbortSignal.timeout(options.timeoutMs);
    const signal = options.signal ? AbortSignal.any([timeout, options.signal]) : timeout;
    // A redirect could lead anywhere, with the query and the credentials; the URL given is the only one asked.
    const res = await fetchImpl(queryUrl(endpoint.base, promql), { signal, redirect: "manual", headers: endpoint.headers });
    status = res.status;
    if (status >= 300 && status < 400) {
      await res.body?.cancel().catch(() => {});
      const location = res.headers.get("location");
      return {
        error: `Prometheus answered HTTP ${status}, a redirect${location ? ` to ${clip(withoutCredentials(location), 80)}` : ""}, which is not followed`,
      };
    }
    text = await boundedText(res, maxBytes);
  } catch (err) {
    const e = err as Error;
    if (options.signal?.aborted) return { error: `interrupted (${String(options.signal.reason)})` };
    // fetch says only "fetch failed"; what failed (a refused connection, a certificate no CA vouches for) is its cause.
    const cause = (e as Error & { cause?: { code?: string; message?: string } }).cause;
    const why =
      e.name === "TimeoutError" || e.name === "AbortError"
        ? `no answer within ${options.timeoutMs}ms`
        : cause
          ? `${e.message}: ${cause.message && cause.code && !cause.message.includes(cause.code) ? `${cause.message} (${cause.code})` : (cause.message ?? cause.code)}`
          : e.message;
    return { error: `Prometheus unreachable: ${clip(why)}` };
  }
  if (text === undefined) return { error: `Prometheus answered with more than ${maxBytes} bytes` };
  // Read as strictly as kubectl's answers: `"warnings": […]` then `"warnings": []` must not read as no warning.
  const parsed = parseStrictJson(text);
  if ("error" in parsed) {
    return parsed.error.startsWith("not JSON")
      ? { error: `Prometheus answered HTTP ${status} without JSON: ${clip(text, 80)}` }
      : { error: `Prometheus answered HTTP ${status} with JSON that says two things: ${parsed.error}` };
  }
  const json = parsed.value;
  const answer = answerSchema.safeParse(json);
  if (!answer.success) return { error: `Prometheus answered HTTP ${status} with JSON that is not an API answer` };
  if (status === 401 || status === 403) {
    return { error: `Prometheus refused the request (HTTP ${status}): its credentials are missing or not accepted` };
  }
  if (answer.data.status !== "success" || status < 200 || status >= 300) {
    const type = answer.data.errorType ? ` (${clip(answer.data.errorType, 40)})` : "";
    return { error: `Prometheus error${type}: ${clip(answer.data.error ?? `HTTP ${status}, status ${answer.data.status}`)}` };
  }
  // A partial answer lacks series it cannot name: an empty result from it is no evidence of no traffic.
  const warnings = answer.data.warnings ?? [];
  if (warnings.length > 0) {
    return { error: `Prometheus answered with warnings, so the result may be partial: ${clip(String(warnings[0]))}` };
  }
  if (answer.data.isPartial === true) return { error: "Prometheus answered a partial result (isPartial: true)" };
  const data = vectorData.safeParse(answer.data.data);
  if (!data.success) return { error: 'Prometheus answered without an instant vector (data.resultType "vector", data.result a list)' };
  const samples: VectorSample[] = [];
  for (const [i, raw] of data.data.result.entries()) {
    const element = vectorElement.safeParse(raw);
    if (!element.success)
      return { error: `Prometheus answered a malformed sample at data.result[${i}]: ${clip(JSON.stringify(raw) ?? "", 80)}` };
    const value = sampleValue(element.data.value[1]);
    if (value === undefined) {
      return {
        error: `Prometheus answered a value that is not a finite count at data.result[${i}]: ${clip(JSON.stringify(element.data.value[1]), 40)}`,
      };
    }
    samples.push({ labels: element.data.metric, value });
  }
  return { samples };
}
