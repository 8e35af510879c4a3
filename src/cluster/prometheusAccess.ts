/**
 * A Prometheus access (src/cluster/prometheus.ts) checked where it comes in: from the CLI's options and environment,
 * or from the stack's config. Every problem names where the value came from and never repeats a credential.
 */
import * as fs from "node:fs";
import type { Problem } from "../model/errors";
import { readTokenFile, type PrometheusAccess } from "./prometheus";

/** Where each part came from, as the problems name it: an option, a variable, a config key. */
export interface AccessNames {
  url: string;
  token: string;
  tokenFile: string;
  headers: string;
  caFile: string;
}

/** RFC 9110's token: the characters a header name may have. */
const HEADER_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** Visible characters, spaces and tabs: a CR or LF would start another header. */
const HEADER_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;
/** Headers fetch sets itself, or that would change what the request is. */
const RESERVED_HEADERS = new Set(["host", "content-length", "transfer-encoding", "connection", "te", "upgrade", "keep-alive"]);
/** A bundle of CA certificates is well under this; a larger file is not one. */
const MAX_CA_BYTES = 1024 * 1024;

/** `Name: value` lines (the variable's form, and each --prometheus-header), into a map; problems name the line, never the value. */
export function parseHeaderLines(lines: readonly string[], where: string, problems: Problem[]): Record<string, string> {
  const headers: Record<string, string> = {};
  lines.forEach((line, i) => {
    if (line.trim() === "") return;
    const colon = line.indexOf(":");
    const name = colon < 0 ? "" : line.slice(0, colon).trim();
    const path = lines.length > 1 ? `${where}[${i}]` : where;
    if (colon < 0 || !HEADER_NAME.test(name)) {
      problems.push({ path, message: `must be "Name: value", a header name of letters, digits and !#$%&'*+-.^_\`|~ before the colon` });
      return;
    }
    const value = line.slice(colon + 1).trim();
    if (!HEADER_VALUE.test(value)) {
      problems.push({ path, message: `the value of header ${name} holds a control character (a line break would start another header)` });
      return;
    }
    headers[name] = value;
  });
  return headers;
}

/**
 * The problems of an access, the files it names read once: a token file that cannot be read, a CA file that holds
 * no certificate, two credentials at once. Empty when it can be used.
 */
export function prometheusAccessProblems(access: PrometheusAccess, names: AccessNames): Problem[] {
  const problems: Problem[] = [];
  let url: URL | undefined;
  try {
    url = new URL(access.url);
  } catch {
    url = undefined;
  }
  if (url?.protocol !== "http:" && url?.protocol !== "https:") {
    // The value may hold a password: it is not repeated.
    problems.push({ path: names.url, message: "must be an http(s) URL" });
    return problems;
  }
  const credentials = [
    ...(url.username || url.password ? [`a user in ${names.url}`] : []),
    ...(access.token !== undefined ? [names.token] : []),
    ...(access.tokenFile !== undefined ? [names.tokenFile] : []),
    ...(Object.keys(access.headers ?? {}).some((h) => h.toLowerCase() === "authorization")
      ? [`an Authorization header in ${names.headers}`]
      : []),
  ];
  if (credentials.length > 1) {
    problems.push({
      path: credentials.includes(names.tokenFile) ? names.tokenFile : names.token,
      message: `one credential at a time: ${credentials.join(", ")}`,
    });
  }
  if (access.token !== undefined && (access.token.length === 0 || /[\s\u0000-\u001f\u007f]/.test(access.token))) {
    problems.push({ path: names.token, message: "must be one token: not empty, without white space or control characters" });
  }
  if (access.tokenFile !== undefined) {
    const read = readTokenFile(access.tokenFile);
    if ("error" in read) problems.push({ path: names.tokenFile, message: read.error });
  }
  for (const name of Object.keys(access.headers ?? {})) {
    if (RESERVED_HEADERS.has(name.toLowerCase()))
      problems.push({ path: names.headers, message: `header ${name} is set by the HTTP client itself` });
  }
  if (access.caFile !== undefined) {
    if (url.protocol !== "https:")
      problems.push({ path: names.caFile, message: `needs an https URL in ${names.url}: a CA vouches for TLS only` });
    const problem = caFileProblem(access.caFile);
    if (problem) problems.push({ path: names.caFile, message: problem });
  }
  return problems;
}

function caFileProblem(file: string): string | undefined {
  try {
    if (fs.statSync(file).size > MAX_CA_BYTES) return `${file} holds more than ${MAX_CA_BYTES} bytes, more than a CA bundle`;
    const text = fs.readFileSync(file, "utf8");
    if (!text.includes("-----BEGIN CERTIFICATE-----")) return `${file} holds no PEM certificate (-----BEGIN CERTIFICATE-----)`;
  } catch (err) {
    return `${file} cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`;
  }
  return undefined;
}
