/**
 * A Prometheus as teams run it: behind a private CA, a bearer token (from a file that rotates, or the stack's
 * variable), a tenant header. A real HTTPS server on loopback, with a certificate from a test CA
 * (test/fixtures/tls, made with openssl: see test/fixtures/SOURCES.md), answers the gate's queries as Prometheus'
 * HTTP API documents them (prometheus.io, querying/api), and records what each request carried.
 */
import * as fs from "node:fs";
import * as https from "node:https";
import type { AddressInfo } from "node:net";
import * as path from "node:path";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import * as commands from "../src/cli/commands";
import { main } from "../src/cli/main";
import { queryVector } from "../src/cluster/prometheus";
import { tempFile } from "./support/files";

const TLS = path.join(__dirname, "fixtures", "tls");
const CA = path.join(TLS, "ca.pem");
const TOKEN = "eyJhbGciOiJSUzI1NiJ9.test-token.sig";

const vector = (...elements: unknown[]) => JSON.stringify({ status: "success", data: { resultType: "vector", result: elements } });
/** No plaintext; and the target's Istio series exist (4 of them). */
const answerTo = (query: string) => (query.startsWith("count(") ? vector({ metric: {}, value: [1700000000.1, "4"] }) : vector());

let seen: { authorization?: string; tenant?: string }[] = [];
/** When set, Prometheus answers 500 with this error text (some proxies echo the request's headers in theirs). */
let failWith: string | undefined;
/** When set, a proxy answers 502 in plain text that quotes the request's Authorization header, after this much text. */
let proxyEchoAfter: number | undefined;
let server: https.Server;
let url = "";

beforeAll(async () => {
  server = https.createServer(
    { cert: fs.readFileSync(path.join(TLS, "server.pem")), key: fs.readFileSync(path.join(TLS, "server-key.pem")) },
    (req, res) => {
      seen.push({ authorization: req.headers.authorization, tenant: req.headers["x-scope-orgid"] as string | undefined });
      if (proxyEchoAfter !== undefined) {
        res.writeHead(502, { "content-type": "text/plain" });
        res.end(`bad gateway: ${"x".repeat(proxyEchoAfter)} authorization=${req.headers.authorization}`);
        return;
      }
      res.setHeader("content-type", "application/json");
      if (failWith !== undefined) {
        res.writeHead(500);
        res.end(JSON.stringify({ status: "error", errorType: "internal", error: failWith }));
        return;
      }
      if (req.headers.authorization === undefined || req.headers["x-scope-orgid"] === undefined) {
        res.writeHead(401);
        res.end(JSON.stringify({ status: "error", errorType: "unauthorized", error: "no org id" }));
        return;
      }
      res.end(answerTo(new URL(req.url!, "https://x").searchParams.get("query") ?? ""));
    },
  );
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => {
  server.closeAllConnections();
  server.close();
});
beforeEach(() => {
  seen = [];
  failWith = undefined;
  proxyEchoAfter = undefined;
});

async function gate(args: string[], env: NodeJS.ProcessEnv = {}) {
  let stdout = "";
  let stderr = "";
  const code = await main(
    ["preflight", "--stage", "purchase-history-strict", "--previous", "permissive", "--json", ...args],
    { stdout: (t) => (stdout += t), stderr: (t) => (stderr += t), interactive: false, env },
    () => commands,
  );
  return { code, stdout, stderr };
}

describe("a Prometheus behind a private CA, a bearer token and a tenant header", () => {
  it("is read with the CA file, the token from its file and the header, and the token is never printed", async () => {
    const tokenFile = tempFile("token", `${TOKEN}\n`);
    const { code, stdout, stderr } = await gate([
      "--prometheus",
      url,
      "--prometheus-ca-file",
      CA,
      "--prometheus-token-file",
      tokenFile,
      "--prometheus-header",
      "X-Scope-OrgID: team-a",
    ]);
    expect(code, stderr).toBe(0);
    expect(JSON.parse(stdout)).toMatchObject({ outcome: "pass" });
    expect(seen.length).toBeGreaterThan(0);
    expect(seen.every((s) => s.authorization === `Bearer ${TOKEN}` && s.tenant === "team-a")).toBe(true);
    expect(stdout + stderr).not.toContain("test-token");
  });

  it("is read the same from the variables the stack's Command sets, the token itself among them", async () => {
    const { code, stderr } = await gate([], {
      MTLS_ROLLOUT_PROMETHEUS_URL: url,
      MTLS_ROLLOUT_PROMETHEUS_TOKEN: TOKEN,
      MTLS_ROLLOUT_PROMETHEUS_HEADERS: "X-Scope-OrgID: team-b\nX-Extra: 1",
      MTLS_ROLLOUT_PROMETHEUS_CA_FILE: CA,
      // Left empty by the stack when unset: empty is unset.
      MTLS_ROLLOUT_PROMETHEUS_TOKEN_FILE: "",
    });
    expect(code, stderr).toBe(0);
    expect(seen.every((s) => s.authorization === `Bearer ${TOKEN}` && s.tenant === "team-b")).toBe(true);
  });

  it("without the CA file, says the certificate is not trusted: no evidence, exit 3", async () => {
    const { code, stdout } = await gate(["--prometheus", url, "--prometheus-header", "X-Scope-OrgID: a"]);
    expect(code).toBe(3);
    expect(JSON.parse(stdout).targets[0].evidence).toMatch(/^Prometheus unreachable: fetch failed: .*certificate/);
    expect(seen).toEqual([]);
  });

  it("reads a rotated token: the file is read at every query", async () => {
    const tokenFile = tempFile("token", "first-token");
    const access = { url, caFile: CA, tokenFile, headers: { "X-Scope-OrgID": "team-a" } };
    expect(await queryVector(access, "count(up)", { timeoutMs: 5_000 })).toMatchObject({ samples: [{ value: 4 }] });
    fs.writeFileSync(tokenFile, "second-token\n");
    expect(await queryVector(access, "count(up)", { timeoutMs: 5_000 })).toMatchObject({ samples: [{ value: 4 }] });
    expect(seen.map((s) => s.authorization)).toEqual(["Bearer first-token", "Bearer second-token"]);
    fs.rmSync(tokenFile);
    expect(await queryVector(access, "count(up)", { timeoutMs: 5_000 })).toEqual({
      error: `the Prometheus token file ${tokenFile} cannot be read (ENOENT)`,
    });
  });

  it("scrubs the token and the header values from an error that echoes them", async () => {
    failWith = `upstream rejected Authorization: Bearer ${TOKEN} for tenant team-secret`;
    const { code, stdout, stderr } = await gate([], {
      MTLS_ROLLOUT_PROMETHEUS_URL: url,
      MTLS_ROLLOUT_PROMETHEUS_TOKEN: TOKEN,
      MTLS_ROLLOUT_PROMETHEUS_HEADERS: "X-Scope-OrgID: team-secret",
      MTLS_ROLLOUT_PROMETHEUS_CA_FILE: CA,
    });
    expect(code).toBe(3);
    expect(JSON.parse(stdout).targets[0].evidence).toBe(
      "Prometheus error (internal): upstream rejected Authorization: Bearer *** for tenant ***",
    );
    expect(stdout + stderr).not.toContain("test-token");
    expect(stdout + stderr).not.toContain("team-secret");
  });
});

describe("credentials in what a Prometheus or a proxy answers", () => {
  it("are scrubbed before an answer is cut short, so no part of them is printed", async () => {
    proxyEchoAfter = 40;
    const { code, stdout, stderr } = await gate([], {
      MTLS_ROLLOUT_PROMETHEUS_URL: url,
      MTLS_ROLLOUT_PROMETHEUS_TOKEN: TOKEN,
      MTLS_ROLLOUT_PROMETHEUS_HEADERS: "X-Scope-OrgID: team-a",
      MTLS_ROLLOUT_PROMETHEUS_CA_FILE: CA,
    });
    expect(code).toBe(3);
    expect(JSON.parse(stdout).targets[0].evidence).toMatch(
      /^Prometheus answered HTTP 502 without JSON: bad gateway: x+ authorization=Bearer \*\*\*$/,
    );
    expect(stdout + stderr).not.toContain("eyJhbGci");
  });

  it("scrub the token of an Authorization header when an error quotes it alone", async () => {
    failWith = "token abcdefgh123 expired";
    const { stdout, stderr } = await gate([], {
      MTLS_ROLLOUT_PROMETHEUS_URL: url,
      MTLS_ROLLOUT_PROMETHEUS_HEADERS: "Authorization: Bearer abcdefgh123\nX-Scope-OrgID: team-a",
      MTLS_ROLLOUT_PROMETHEUS_CA_FILE: CA,
    });
    expect(JSON.parse(stdout).targets[0].evidence).toBe("Prometheus error (internal): token *** expired");
    expect(stdout + stderr).not.toContain("abcdefgh123");
  });
});

describe("a Prometheus access that cannot work is bad input, named before the cluster is read", () => {
  const notCert = tempFile("not-a-ca.pem", "hello\n");
  it.each([
    [
      "a header without a colon",
      ["--prometheus", "http://prom:9090", "--prometheus-header", "X-Scope-OrgID team-a"],
      {},
      `error: --prometheus-header: must be "Name: value", a header name of letters, digits and !#$%&'*+-.^_\`|~ before the colon`,
    ],
    [
      "a header whose value would start another",
      ["--prometheus", "http://prom:9090", "--prometheus-header", "X-Scope-OrgID: a\r\nX-Admin: yes"],
      {},
      "error: --prometheus-header: the value of header X-Scope-OrgID holds a control character (a line break would start another header)",
    ],
    [
      "a header the HTTP client sets itself",
      ["--prometheus", "http://prom:9090", "--prometheus-header", "Host: evil.example.com"],
      {},
      "error: --prometheus-header: header Host is set by the HTTP client itself",
    ],
    [
      "a token file that is not there",
      ["--prometheus", "http://prom:9090", "--prometheus-token-file", "/nonexistent/token"],
      {},
      "error: --prometheus-token-file: the Prometheus token file /nonexistent/token cannot be read (ENOENT)",
    ],
    [
      "two credentials: a user in the URL and a token",
      ["--prometheus", "http://gate:s3cr3t@prom:9090"],
      { MTLS_ROLLOUT_PROMETHEUS_TOKEN: "abc" },
      "error: $MTLS_ROLLOUT_PROMETHEUS_TOKEN: one credential at a time: a user in --prometheus, $MTLS_ROLLOUT_PROMETHEUS_TOKEN",
    ],
    [
      "a CA file for a plain http URL",
      ["--prometheus", "http://prom:9090", "--prometheus-ca-file", CA],
      {},
      "error: --prometheus-ca-file: needs an https URL in --prometheus: a CA vouches for TLS only",
    ],
    [
      "a CA file without a certificate",
      ["--prometheus", "https://prom:9090", "--prometheus-ca-file", notCert],
      {},
      `error: --prometheus-ca-file: ${notCert} holds no PEM certificate (-----BEGIN CERTIFICATE-----)`,
    ],
    [
      "a token file that is a device, which would be read without end",
      ["--prometheus", "http://prom:9090", "--prometheus-token-file", "/dev/zero"],
      {},
      "error: --prometheus-token-file: the Prometheus token file /dev/zero is not a regular file",
    ],
    [
      "a token file that is a directory",
      ["--prometheus", "http://prom:9090", "--prometheus-token-file", "/tmp"],
      {},
      "error: --prometheus-token-file: the Prometheus token file /tmp is not a regular file",
    ],
    [
      "a token file without --prometheus",
      ["--prometheus-token-file", "/nonexistent/token"],
      {},
      "error: --prometheus-token-file: only counts with --prometheus",
    ],
  ] as const)("%s", async (_, args, env, line) => {
    const { code, stdout, stderr } = await gate([...args], env);
    expect(code).toBe(2);
    expect(stdout).toBe("");
    expect(stderr).toBe(`${line}\n`);
    expect(stderr).not.toContain("s3cr3t");
  });
});
