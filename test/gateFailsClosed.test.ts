/**
 * The pre-flight gate never passes on bad evidence: every Prometheus answer that is not a well-formed
 * vector of finite, non-negative samples, every redirect, every malformed `kubectl get` answer is
 * "no evidence" (exit 3), never CLEAR. The Prometheus here is a real HTTP server on loopback.
 */
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as commands from "../src/cli/commands";
import { main } from "../src/cli/main";
import { withoutCredentials } from "../src/cluster/prometheus";
import { PEER_AUTHENTICATIONS } from "../src/cluster/snapshot";
import { buildPlan } from "../src/model/plan";
import { sidecarEvidence } from "../src/preflight/gate";
import { LiveReadError, runPreflight } from "../src/preflight/run";
import { loadRollout } from "../src/rollout/load";
import type { KubectlRunner } from "../src/cluster/runner";
import { answerKubectl, clusterState } from "./support/fakeCluster";
import { recorded } from "./support/recorded";
import { NGINX_TARGET, sidecar } from "./support/sidecarFixtures";

/** The documented answer shapes (prometheus.io querying/api), with the values a test needs. */
const vector = (...elements: unknown[]) => JSON.stringify({ status: "success", data: { resultType: "vector", result: elements } });
const plaintextFrom = (value: unknown) => ({
  metric: { source_workload: "legacy", source_workload_namespace: "batch" },
  value: [1700000000.1, value],
});
const counted = (value: unknown) => ({ metric: {}, value: [1700000000.1, value] });

interface Answer {
  status?: number;
  headers?: Record<string, string>;
  body: string;
}
/** What Prometheus answers to the gate's two kinds of query: the plaintext increase, and the series count. */
interface Scenario {
  plaintext: Answer;
  count: Answer;
}
const ok = (body: string): Answer => ({ body });
const CLEAN: Scenario = { plaintext: ok(vector()), count: ok(vector(counted("4"))) };

let scenario: Scenario = CLEAN;
let otherHostAsked = 0;
let prometheus: http.Server;
let elsewhere: http.Server;
let url = "";
let elsewhereUrl = "";

function listen(server: http.Server): Promise<string> {
  return new Promise((resolve) =>
    server.listen(0, "127.0.0.1", () => resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`)),
  );
}

beforeAll(async () => {
  prometheus = http.createServer((req, res) => {
    const query = new URL(req.url!, "http://x").searchParams.get("query") ?? "";
    const answer = query.startsWith("count(") ? scenario.count : scenario.plaintext;
    res.writeHead(answer.status ?? 200, { "content-type": "application/json", ...answer.headers });
    res.end(answer.body);
  });
  // Where a redirect points: it answers a clean vector, so following it would pass the gate.
  elsewhere = http.createServer((_req, res) => {
    otherHostAsked++;
    res.writeHead(200, { "content-type": "application/json" });
    res.end(query.startsWith("count(") ? CLEAN.count.body : CLEAN.plaintext.body);
  });
  const query = "";
  url = await listen(prometheus);
  elsewhereUrl = await listen(elsewhere);
});

afterAll(() => {
  prometheus.close();
  elsewhere.close();
});

async function gate(s: Scenario): Promise<{ code: number; stdout: string; stderr: string }> {
  scenario = s;
  let stdout = "";
  let stderr = "";
  const code = await main(
    ["preflight", "--stage", "purchase-history-strict", "--previous", "permissive", "--prometheus", url, "--json"],
    {
      stdout: (t) => (stdout += t),
      stderr: (t) => (stderr += t),
      interactive: false,
      env: {},
    },
    () => commands,
  );
  return { code, stdout, stderr };
}

describe("the gate against a hostile Prometheus on loopback", () => {
  it("is clear on a clean answer and stops on plaintext, so the hostile cases below are not vacuous", async () => {
    expect((await gate(CLEAN)).code).toBe(0);
    const seen = await gate({ ...CLEAN, plaintext: ok(vector(plaintextFrom("0.3"))) });
    expect(seen.code).toBe(1);
    // The same answer for requests and TCP connections; 0.3 is what increase() makes of one request in a short window.
    expect(JSON.parse(seen.stdout).targets[0].callers).toEqual([{ source: "batch/legacy", requests: 1, connections: 1 }]);
  });

  const hostile: [string, Scenario][] = [
    ["a plaintext count of NaN", { ...CLEAN, plaintext: ok(vector(plaintextFrom("NaN"))) }],
    ["a plaintext count of +Inf (Prometheus's spelling)", { ...CLEAN, plaintext: ok(vector(plaintextFrom("+Inf"))) }],
    ["a plaintext count of -Inf", { ...CLEAN, plaintext: ok(vector(plaintextFrom("-Inf"))) }],
    ["a negative plaintext count", { ...CLEAN, plaintext: ok(vector(plaintextFrom("-3"))) }],
    ["a value that is a number, not a string", { ...CLEAN, plaintext: ok(vector(plaintextFrom(5))) }],
    ["a value that is not a [time, value] pair", { ...CLEAN, plaintext: ok(vector({ metric: {}, value: "7" })) }],
    ["a value pair with one element", { ...CLEAN, plaintext: ok(vector({ metric: {}, value: [1700000000] })) }],
    ["a value that is an empty string", { ...CLEAN, plaintext: ok(vector(plaintextFrom(""))) }],
    ["a value written in hexadecimal", { ...CLEAN, plaintext: ok(vector(plaintextFrom("0x10"))) }],
    ["a null result entry", { ...CLEAN, plaintext: ok(vector(null)) }],
    ["a result entry without metric", { ...CLEAN, plaintext: ok(vector({ value: [1, "2"] })) }],
    ["labels that are not strings", { ...CLEAN, plaintext: ok(vector({ metric: { source_workload: 1 }, value: [1, "2"] })) }],
    ["a null result", { ...CLEAN, plaintext: ok(JSON.stringify({ status: "success", data: { resultType: "vector", result: null } })) }],
    ["no data", { ...CLEAN, plaintext: ok(JSON.stringify({ status: "success" })) }],
    [
      "a matrix instead of a vector",
      { ...CLEAN, plaintext: ok(JSON.stringify({ status: "success", data: { resultType: "matrix", result: [] } })) },
    ],
    ["JSON null", { ...CLEAN, plaintext: ok("null") }],
    ["a JSON list", { ...CLEAN, plaintext: ok("[]") }],
    ["an HTML page", { ...CLEAN, plaintext: ok("<html><body>login</body></html>") }],
    ["success with HTTP 500", { ...CLEAN, plaintext: { status: 500, body: vector() } }],
    ["a series count of NaN", { ...CLEAN, count: ok(vector(counted("NaN"))) }],
    ["a negative series count", { ...CLEAN, count: ok(vector(counted("-4"))) }],
    ["a series count of +Inf", { ...CLEAN, count: ok(vector(counted("+Inf"))) }],
    ["a null series count entry", { ...CLEAN, count: ok(vector(null)) }],
    ["a valid answer larger than the client reads", { ...CLEAN, plaintext: ok(vector() + " ".repeat(9 * 1024 * 1024)) }],
    // A partial answer (a Thanos store, a Cortex or Mimir zone down) lacks series it cannot name: its empty result
    // is no "no plaintext". Prometheus API docs, "Format overview": warnings; VictoriaMetrics cluster: isPartial.
    [
      "success with warnings (a store down)",
      {
        ...CLEAN,
        plaintext: ok(
          JSON.stringify({
            status: "success",
            data: { resultType: "vector", result: [] },
            warnings: ["No StoreAPIs matched for this query"],
          }),
        ),
      },
    ],
    [
      "a series count with warnings",
      {
        ...CLEAN,
        count: ok(
          JSON.stringify({
            status: "success",
            data: { resultType: "vector", result: [counted("4")] },
            warnings: ["query result may contain partial data"],
          }),
        ),
      },
    ],
    [
      "an answer marked partial (isPartial)",
      { ...CLEAN, plaintext: ok(JSON.stringify({ status: "success", isPartial: true, data: { resultType: "vector", result: [] } })) },
    ],
  ];

  it.each(hostile)("has no evidence (exit 3), never CLEAR, on %s", async (_name, s) => {
    const { code, stdout, stderr } = await gate(s);
    // What it asks, said before it asks; nothing else on stderr.
    expect(stderr).toMatch(
      /^preflight: stage purchase-history-strict against permissive on the current kube context: 1 workload turn STRICT; asking Prometheus http:\/\/127\.0\.0\.1:\d+ for the plaintext of the last 3600s\n$/,
    );
    expect(code).toBe(3);
    const result = JSON.parse(stdout);
    expect(result.outcome).toBe("inconclusive");
    expect(result.targets[0].verdict).toBe("inconclusive");
    expect(result.summary).toMatch(/^NO EVIDENCE: /);
  });

  it("does not follow a redirect to another host", async () => {
    const before = otherHostAsked;
    const { code, stdout } = await gate({
      plaintext: { status: 302, headers: { location: `${elsewhereUrl}/api/v1/query?query=up` }, body: "" },
      count: { status: 302, headers: { location: `${elsewhereUrl}/api/v1/query?query=up` }, body: "" },
    });
    expect(code).toBe(3);
    expect(otherHostAsked).toBe(before);
    expect(JSON.parse(stdout).targets[0].evidence).toMatch(
      /^Prometheus answered HTTP 302, a redirect to http:\/\/127\.0\.0\.1:\d+\/api\/v1\/query\?query=up, which is not followed$/,
    );
  });

  it("names what was wrong in the evidence", async () => {
    const { stdout } = await gate({ ...CLEAN, plaintext: ok(vector(plaintextFrom("+Inf"))) });
    expect(JSON.parse(stdout).targets[0].evidence).toBe('Prometheus answered a value that is not a finite count at data.result[0]: "+Inf"');
  });
});

describe("the gate on malformed kubectl answers under --previous live", () => {
  const lab = loadRollout();
  const options = { windowSeconds: 1, callTimeoutMs: 2_000, sleep: async () => {} };
  const state = clusterState(lab, buildPlan(lab, "permissive"));
  const answering =
    (policies: string): KubectlRunner =>
    async (args) =>
      args[0] === "get" && args[1] === PEER_AUTHENTICATIONS
        ? { exitCode: 0, stdout: policies, stderr: "", timedOut: false }
        : answerKubectl(args, state, {});
  const item = (
    spec: unknown,
    metadata: unknown = { name: "default", namespace: "istio-system", creationTimestamp: "2026-11-01T10:00:00Z" },
  ) =>
    JSON.stringify({
      apiVersion: "v1",
      kind: "List",
      items: [{ apiVersion: "security.istio.io/v1", kind: "PeerAuthentication", metadata, spec }],
    });

  const malformed: [string, string, RegExp][] = [
    ["null", "null", /kubectl printed no JSON object/],
    ["not JSON", "error: You must be logged in", /kubectl's answer is not JSON/],
    ["a list without items", '{"apiVersion":"v1","kind":"List"}', /the answer has no items list \(got nothing\)/],
    ["items null", '{"apiVersion":"v1","kind":"List","items":null}', /the answer has no items list \(got null\)/],
    ["a null item", '{"apiVersion":"v1","kind":"List","items":[null]}', /malformed object at items\[0\]/],
    ["an unknown mode", item({ mtls: { mode: "STRCT" } }), /malformed object at items\[0\]\.spec\.mtls\.mode: .*\(got "STRCT"\)/],
    ["a policy without a name", item({ mtls: { mode: "STRICT" } }, { namespace: "istio-system" }), /items\[0\]\.metadata\.name/],
    [
      "a port key that is no port",
      item({ selector: { matchLabels: { app: "x" } }, portLevelMtls: { http: { mode: "STRICT" } } }),
      /items\[0\]\.spec\.portLevelMtls/,
    ],
    [
      "matchLabels that are not strings",
      item({ selector: { matchLabels: { app: 1 } } }),
      /items\[0\]\.spec\.selector\.matchLabels: must be a map of strings to strings \(got \{"app":1\}\)/,
    ],
  ];

  it.each(malformed)("cannot tell what tightens, and says why in one error, when kubectl answers %s", async (_name, answer, why) => {
    const run = runPreflight(lab, "purchase-history-strict", "live", { runner: answering(answer) }, options);
    await expect(run).rejects.toThrow(LiveReadError);
    await expect(run).rejects.toMatchObject({ setup: false, message: expect.stringMatching(why) });
  });

  it("still reads a well-formed list with null spec fields as the API server may write them", async () => {
    const r = await runPreflight(lab, "purchase-history-strict", "live", { runner: answering(item(null)) }, options);
    expect(r.targets.map((t) => t.workload)).toEqual(["istioinaction/purchase-history-v1"]);
    expect(r.outcome).toBe("pass");
  });
});

describe("the gate on malformed sidecar counters", () => {
  const options = { windowSeconds: 1, callTimeoutMs: 1_000, sleep: async () => {} };
  const NONE_SERIES = recorded("prom-dest-none-nginx-15000.txt");

  it.each([
    ["NaN", NONE_SERIES.replace(/\} 9\n?$/, "} NaN\n")],
    ["+Inf", NONE_SERIES.replace(/\} 9\n?$/, "} +Inf\n")],
    ["a negative count", NONE_SERIES.replace(/\} 9\n?$/, "} -12\n")],
    ["unterminated labels", NONE_SERIES.replace(/\} 9\n?$/, " 9\n")],
  ])("has no evidence when a plaintext series reads %s", async (_name, bad) => {
    const evidence = await sidecarEvidence(sidecar([NONE_SERIES, bad]), NGINX_TARGET, options);
    expect(evidence).toMatchObject({
      error: expect.stringMatching(/^the sidecar of default\/my-nginx reported an unreadable Istio sample: istio_requests_total/),
    });
  });

  it("has no evidence when the TLS inspector's counter is unreadable", async () => {
    const evidence = await sidecarEvidence(sidecar(["", ""], ["tls_inspector.tls_not_found: -1\n", ""]), NGINX_TARGET, options);
    expect(evidence).toEqual({ error: "the sidecar of default/my-nginx reported an unreadable tls_inspector.tls_not_found: -1" });
  });
});

describe("a Prometheus URL with credentials", () => {
  it("is printed without them", () => {
    expect(withoutCredentials("https://gate:s3cr3t@prometheus.example.com/prom")).toBe("https://***@prometheus.example.com/prom");
    expect(withoutCredentials("http://prometheus:9090")).toBe("http://prometheus:9090");
  });

  /** preflight against a Prometheus behind basic authentication (user gate, password s3cr3t), the URL given as `how`. */
  async function gateWithCredentials(base: string, how: "option" | "variable") {
    const credentialed = base.replace("http://", "http://gate:s3cr3t@");
    let stdout = "";
    let stderr = "";
    const code = await main(
      [
        "preflight",
        "--stage",
        "purchase-history-strict",
        "--previous",
        "permissive",
        ...(how === "option" ? ["--prometheus", credentialed] : []),
        "--json",
      ],
      {
        stdout: (t) => (stdout += t),
        stderr: (t) => (stderr += t),
        interactive: false,
        env: how === "variable" ? { MTLS_ROLLOUT_PROMETHEUS_URL: credentialed } : {},
      },
      () => commands,
    );
    return { code, stdout, stderr };
  }

  it("sends them as basic authentication, as Prometheus' basic_auth expects, and works", async () => {
    const seen: (string | undefined)[] = [];
    const guarded = http.createServer((req, res) => {
      seen.push(req.headers.authorization);
      if (req.headers.authorization !== `Basic ${Buffer.from("gate:s3cr3t").toString("base64")}`) {
        res.writeHead(401, { "content-type": "application/json", "www-authenticate": 'Basic realm="prometheus"' });
        res.end(JSON.stringify({ status: "error", errorType: "unauthorized", error: "unauthorized" }));
        return;
      }
      const query = new URL(req.url!, "http://x").searchParams;
      expect(query.get("partial_response")).toBe("false");
      res.writeHead(200, { "content-type": "application/json" });
      res.end((query.get("query") ?? "").startsWith("count(") ? CLEAN.count.body : CLEAN.plaintext.body);
    });
    const base = await listen(guarded);
    try {
      for (const how of ["option", "variable"] as const) {
        const { code, stdout, stderr } = await gateWithCredentials(base, how);
        expect(code, stderr).toBe(0);
        expect(stdout + stderr).not.toContain("s3cr3t");
        expect(stderr).toContain(`asking Prometheus ${base.replace("http://", "http://***@")}/ for the plaintext`);
      }
      expect(seen.every((a) => a === `Basic ${Buffer.from("gate:s3cr3t").toString("base64")}`)).toBe(true);
      // Refused credentials are said to be refused, still without them.
      const wrong = await main(
        [
          "preflight",
          "--stage",
          "purchase-history-strict",
          "--previous",
          "permissive",
          "--prometheus",
          base.replace("http://", "http://gate:nope@"),
          "--json",
        ],
        { stdout: () => {}, stderr: () => {}, interactive: false, env: {} },
        () => commands,
      );
      expect(wrong).toBe(3);
    } finally {
      guarded.close();
    }
  });

  it("never prints them when Prometheus cannot be reached, in the table, the JSON or an error", async () => {
    for (const how of ["option", "variable"] as const) {
      // A port nothing listens on any more.
      const server = http.createServer();
      const base = await listen(server);
      await new Promise<void>((r) => server.close(() => r()));
      const { code, stdout, stderr } = await gateWithCredentials(base, how);
      expect(code).toBe(3);
      expect(JSON.parse(stdout).targets[0].evidence).toMatch(/^Prometheus unreachable: /);
      expect(stdout + stderr).not.toContain("s3cr3t");
      expect(stdout + stderr).not.toContain(Buffer.from("gate:s3cr3t").toString("base64"));
    }
  });

  it("refuses a URL that is not http(s) without repeating what it holds", async () => {
    let stderr = "";
    const code = await main(
      ["preflight", "--stage", "purchase-history-strict", "--prometheus", "ftp://gate:s3cr3t@prometheus.example.com"],
      { stdout: () => {}, stderr: (t) => (stderr += t), interactive: false, env: {} },
      () => commands,
    );
    expect(code).toBe(2);
    expect(stderr).toBe('error: --prometheus: must be an http(s) URL (got "ftp://***@prometheus.example.com/")\n');
  });
});

describe("Prometheus answers read strictly", () => {
  it.each([
    [
      "warnings, then an empty warnings list",
      '{"status":"success","data":{"resultType":"vector","result":[]},"warnings":["store down"],"warnings":[]}',
    ],
    [
      "a second, empty result",
      `{"status":"success","data":{"resultType":"vector","result":[${JSON.stringify(plaintextFrom("9"))}],"result":[]}}`,
    ],
    ["an error status, then success", '{"status":"error","status":"success","data":{"resultType":"vector","result":[]}}'],
  ])("has no evidence (exit 3) on JSON that says two things: %s", async (_name, body) => {
    const { code, stdout } = await gate({ ...CLEAN, plaintext: ok(body) });
    expect(code).toBe(3);
    expect(JSON.parse(stdout).targets[0].evidence).toMatch(
      /^Prometheus answered HTTP 200 with JSON that says two things: a key appears twice/,
    );
  });

  it("masks a token given as the URL's user alone, wherever an error might quote it", async () => {
    const echo = http.createServer((req, res) => {
      // An error that quotes what it was sent: the CLI prints Prometheus' error text, so the token must be masked in it.
      res.writeHead(400, { "content-type": "application/json" });
      res.end(
        JSON.stringify({
          status: "error",
          errorType: "unauthorized",
          error: `token ${Buffer.from((req.headers.authorization ?? "").slice(6), "base64").toString()} rejected`,
        }),
      );
    });
    const base = await listen(echo);
    try {
      let stdout = "";
      const code = await main(
        ["preflight", "--stage", "purchase-history-strict", "--previous", "permissive", "--json"],
        {
          stdout: (t) => (stdout += t),
          stderr: () => {},
          interactive: false,
          env: { MTLS_ROLLOUT_PROMETHEUS_URL: base.replace("http://", "http://glpat-SECRETTOKEN@") },
        },
        () => commands,
      );
      expect(code).toBe(3);
      expect(JSON.parse(stdout).targets[0].evidence).toBe("Prometheus error (unauthorized): token ***: rejected");
    } finally {
      echo.close();
    }
  });
});
