/**
 * A Prometheus HTTP API client for instant vector queries, that fails closed: every answer that is
 * not a well-formed vector of finite, non-negative samples is an error, never an empty result.
 * Sample values are JSON strings, with the special values spelled "NaN", "+Inf" and "-Inf"
 * (prometheus.io, querying/api, "Expression query result formats").
 */
import { z } from "zod";

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
});

const vectorData = z.object({ resultType: z.literal("vector"), result: z.array(z.unknown()) });

const clip = (text: string, max = 120) => {
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

/** A Prometheus URL fit to print: user and password (a stack may hold them in a secret) replaced by `***`. */
export function withoutCredentials(url: string): string {
  try {
    const u = new URL(url);
    if (!u.username && !u.password) return url;
    u.username = "***";
    u.password = "";
    return u.toString();
  } catch {
    return "(a URL that does not parse)";
  }
}

/** The query URL under the base URL's path (`http://host/prometheus/` + `api/v1/query`). */
export function queryUrl(prometheusUrl: string, promql: string): URL {
  const url = new URL("api/v1/query", prometheusUrl.endsWith("/") ? prometheusUrl : `${prometheusUrl}/`);
  url.searchParams.set("query", promql);
  return url;
}

/** Runs one instant query; an answer that is not exactly a vector of valid samples is an error. */
export async function queryVector(prometheusUrl: string, promql: string, options: QueryOptions): Promise<VectorAnswer> {
  const fetchImpl = options.fetch ?? fetch;
  const maxBytes = options.maxBodyBytes ?? MAX_BODY_BYTES;
  let status: number;
  let text: string | undefined;
  try {
    const signal = AbortSignal.timeout(options.timeoutMs);
    // A redirect could lead anywhere, with the query; the URL given is the only one asked.
    const res = await fetchImpl(queryUrl(prometheusUrl, promql), { signal, redirect: "manual" });
    status = res.status;
    if (status >= 300 && status < 400) {
      await res.body?.cancel().catch(() => {});
      const location = res.headers.get("location");
      return {
        error: `Prometheus answered HTTP ${status}, a redirect${location ? ` to ${clip(location, 80)}` : ""}, which is not followed`,
      };
    }
    text = await boundedText(res, maxBytes);
  } catch (err) {
    const e = err as Error;
    const why = e.name === "TimeoutError" || e.name === "AbortError" ? `no answer within ${options.timeoutMs}ms` : e.message;
    return { error: `Prometheus unreachable: ${clip(why)}` };
  }
  if (text === undefined) return { error: `Prometheus answered with more than ${maxBytes} bytes` };
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return { error: `Prometheus answered HTTP ${status} without JSON: ${clip(text, 80)}` };
  }
  const answer = answerSchema.safeParse(json);
  if (!answer.success) return { error: `Prometheus answered HTTP ${status} with JSON that is not an API answer` };
  if (answer.data.status !== "success" || status < 200 || status >= 300) {
    const type = answer.data.errorType ? ` (${clip(answer.data.errorType, 40)})` : "";
    return { error: `Prometheus error${type}: ${clip(answer.data.error ?? `HTTP ${status}, status ${answer.data.status}`)}` };
  }
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
