import { describe, expect, it } from "vitest";
import { classifyProbe, counterGrowth, countsFromSource, echoedXfcc, fakeServiceHops, xfccClientUri } from "../src/verify/evidence";
import type { RunResult } from "../src/cluster/runner";
import { recorded, terminated } from "./support/recorded";

const ok = (stdout: string): RunResult => ({ exitCode: 0, stdout, stderr: "", timedOut: false });
const failed = (exitCode: number, stderr: string): RunResult => ({ exitCode, stdout: "", stderr, timedOut: false });
const withStatus = (body: string, status: number) => `${body.replace(/\n$/, "")}\n${status}`;

describe("classifying a probe's kubectl and curl result", () => {
  it("reads curl exit 56 (connection reset by peer) as refused, quoting curl", () => {
    expect(classifyProbe(failed(56, recorded("curl-exit56-reset-istio-io-snip.txt")), 10_000, false)).toEqual({
      kind: "refused",
      evidence: "curl: (56) Recv failure: Connection reset by peer",
    });
  });

  // curl writes -w's output whatever the transfer's result (src/tool_operate.c, "Write the --write-out data before
  // cleanup"); its own test 217 expects exit 56 with the status printed. Recorded here with curl 7.88.1 against a server
  // that sends a status line, headers and part of a body, then resets the connection (RST) or closes it (FIN).
  it("reads an HTTP status printed before a reset (curl exit 56) as an answer, not as a refusal", () => {
    // `kubectl exec … -- curl` ending with curl's `code`: what it wrote, and its own error line.
    const curlRun = (code: number, stdout: string, said: string) => ({
      exitCode: 1,
      stdout,
      stderr: `curl: (${code}) ${said}\n${terminated(code)}`,
      timedOut: false,
    });
    const cut = curlRun(56, '{"partial":\n200', "Recv failure: Connection reset by peer");
    expect(classifyProbe(cut, 10_000, false)).toEqual({
      kind: "http",
      status: 200,
      body: '{"partial":',
      cut: "curl: (56) Recv failure: Connection reset by peer",
    });
    const closed = curlRun(18, '{"partial":\n200', "transfer closed with 989 bytes remaining to read");
    expect(classifyProbe(closed, 10_000, false)).toMatchObject({ kind: "http", status: 200 });
    // A reset before any byte prints 000: that is the refusal.
    const refused = curlRun(56, "\n000", "Recv failure: Connection reset by peer");
    expect(classifyProbe(refused, 10_000, false)).toEqual({
      kind: "refused",
      evidence: "curl: (56) Recv failure: Connection reset by peer",
    });
  });

  it("reads curl exit 52 (empty reply) as refused", () => {
    expect(classifyProbe(failed(52, recorded("curl-exit52-empty-reply.txt")), 10_000, false)).toMatchObject({ kind: "refused" });
  });

  it("reads the silent form of the istio.io matrix (curl -s: only kubectl's line) as refused", () => {
    expect(classifyProbe(failed(56, terminated(56)), 10_000, false)).toEqual({ kind: "refused", evidence: "curl exit 56" });
  });

  it.each([
    ["curl-exit6-could-not-resolve-host.txt", 6, /^DNS failure \(curl exit 6/],
    ["curl-exit7-connection-refused-new-format.txt", 7, /^connection refused \(curl exit 7/],
    ["curl-exit28-operation-timed-out.txt", 28, /^timeout \(curl exit 28\)$/],
  ])("reads %s as inconclusive with its reason", (file, code, reason) => {
    const stderr = recorded(file).includes("command terminated") ? recorded(file) : recorded(file) + terminated(code);
    const result = classifyProbe(failed(code, stderr), 10_000, false);
    expect(result.kind).toBe("inconclusive");
    expect((result as { reason: string }).reason).toMatch(reason);
  });

  it("reads kubectl's own failures as inconclusive: deployment missing, container missing, never started, hung", () => {
    expect(classifyProbe(failed(1, recorded("kubectl-deployment-notfound-get.txt")), 10_000, false)).toEqual({
      kind: "inconclusive",
      reason: 'pod or deployment missing: Error from server (NotFound): deployments.apps "admin-firefox-browser-d020bb30" not found',
    });
    expect(classifyProbe(failed(1, recorded("kubectl-exec-container-not-found.txt")), 10_000, false)).toEqual({
      kind: "inconclusive",
      reason: 'container missing: error: unable to upgrade connection: container not found ("etcd")',
    });
    expect(classifyProbe(failed(1, recorded("kubectl-container-not-valid-for-pod.txt")), 10_000, false)).toMatchObject({
      reason: expect.stringMatching(/^container missing: /),
    });
    expect(
      classifyProbe({ exitCode: null, stdout: "", stderr: "", timedOut: false, spawnError: "kubectl: ENOENT" }, 10_000, false),
    ).toEqual({
      kind: "inconclusive",
      reason: "kubectl could not be started (kubectl: ENOENT)",
    });
    expect(classifyProbe({ exitCode: null, stdout: "", stderr: "", timedOut: true }, 20_000, false)).toEqual({
      kind: "inconclusive",
      reason: "kubectl did not return within 20s",
    });
    expect(classifyProbe({ exitCode: null, stdout: "", stderr: "", timedOut: true }, 300, false)).toEqual({
      kind: "inconclusive",
      reason: "kubectl did not return within 300ms",
    });
  });

  it("reads the HTTP status written by -w after the body", () => {
    const body = recorded("fake-service-v0.7.8-web-api-success-nested.json");
    expect(classifyProbe(ok(withStatus(body, 200)), 10_000, true)).toEqual({ kind: "http", status: 200, body: body.replace(/\n$/, "") });
  });

  it("reads Envoy's upstream-reset 503 from a client sidecar as refused, and only from a client sidecar", () => {
    const body = recorded("envoy-503-body-connection-termination-strict-plaintext.txt");
    expect(classifyProbe(ok(withStatus(body, 503)), 10_000, true)).toEqual({
      kind: "refused",
      evidence:
        "503 from the client sidecar: upstream connect error or disconnect/reset before headers. reset reason: connection termination",
    });
    // Without a client sidecar the server's own sidecar made that reply: it says nothing about plaintext.
    expect(classifyProbe(ok(withStatus(body, 503)), 10_000, false)).toMatchObject({ kind: "inconclusive" });
    // Envoy 1.x of Istio 0.8 gave the same reset without a reason (istio#6279, a plaintext client into mTLS).
    const old = recorded("envoy-503-curl-I-dr-mismatch-istio6279.txt");
    expect(old).toContain("content-length: 57");
    expect(classifyProbe(ok(withStatus("upstream connect error or disconnect/reset before headers", 503)), 10_000, true)).toMatchObject({
      kind: "refused",
    });
  });

  it.each([
    "envoy-503-body-delayed-connect-error-111.txt",
    "envoy-503-body-connection-failure-cert-verify-old-format.txt",
    "envoy-503-body-remote-connection-failure-cert-verify-new-format.txt",
    "envoy-503-body-local-reset-http-request-istio32523-title.txt",
  ])("does not read Envoy's %s as a refusal of plaintext, but as inconclusive", (file) => {
    const body = recorded(file);
    const result = classifyProbe(ok(withStatus(body, 503)), 10_000, true);
    expect(result.kind).toBe("inconclusive");
    expect((result as { reason: string }).reason).toBe(`HTTP 503 from Envoy: ${body.trim().split("\n")[0]}`);
  });

  it("calls odd kubectl exit codes without a message inconclusive, with the code", () => {
    expect(classifyProbe({ exitCode: 255, stdout: "", stderr: "", timedOut: false }, 10_000, false)).toEqual({
      kind: "inconclusive",
      reason: "kubectl failed (exit 255)",
    });
    expect(classifyProbe({ exitCode: 137, stdout: "\u0000garbage", stderr: "Killed\n", timedOut: false }, 10_000, false)).toEqual({
      kind: "inconclusive",
      reason: "kubectl failed (exit 137): Killed",
    });
  });

  it("calls garbage on stdout inconclusive instead of guessing", () => {
    expect(classifyProbe(ok("\u0000\u0001 not curl"), 10_000, false)).toMatchObject({ kind: "inconclusive" });
    expect(classifyProbe(ok(""), 10_000, false)).toMatchObject({ kind: "inconclusive" });
  });
});

describe("mTLS evidence from httpbin's echoed headers", () => {
  it("finds X-Forwarded-Client-Cert in go-httpbin's array form", () => {
    const xfcc = echoedXfcc(recorded("go-httpbin-get-xfcc-array-sleep-to-httpbin.json"));
    expect(xfcc).toMatch(/^By=spiffe:\/\/cluster.local\/ns\/default\/sa\/httpbin;Hash=/);
    expect(xfccClientUri(xfcc!)).toBe("spiffe://cluster.local/ns/default/sa/sleep");
  });

  it("finds X-Forwarded-Client-Cert in kennethreitz/httpbin's string form", () => {
    const xfcc = echoedXfcc(recorded("httpbin-kennethreitz-headers-xfcc-string-workshop-draft.json"));
    expect(xfccClientUri(xfcc!)).toBe("spiffe://cluster.local/ns/istioinaction/sa/sleep");
  });

  it("reports no XFCC for headers echoed from a plaintext client, and no echo at all for other bodies", () => {
    // istio-semantics.md 4 D: sleep.default (no sidecar) to httpbin.default:8000/headers.
    const plaintext = JSON.stringify({
      headers: { Accept: "*/*", "Content-Length": "0", Host: "httpbin.default:8000", "User-Agent": "curl/7.69.1", "X-B3-Sampled": "0" },
    });
    expect(echoedXfcc(plaintext)).toBeNull();
    expect(echoedXfcc(recorded("fake-service-v0.7.8-web-api-success-nested.json"))).toBeUndefined();
    expect(echoedXfcc("not json")).toBeUndefined();
  });
});

describe("fake-service's report of its upstream calls", () => {
  it("flattens the lab chain web-api -> recommendation -> purchase-history-v1", () => {
    expect(fakeServiceHops(recorded("fake-service-v0.7.8-web-api-success-nested.json"))).toEqual([
      { from: "web-api", to: "recommendation", uri: "http://recommendation:8080", code: 200, error: undefined },
      { from: "recommendation", to: "purchase-history-v1", uri: "http://purchase-history:8080", code: 200, error: undefined },
    ]);
  });

  it("names a failed hop by its URI when fake-service gives no name", () => {
    expect(fakeServiceHops(recorded("fake-service-v0.7.8-web-api-upstream-503.json"))).toEqual([
      {
        from: "web-api",
        to: "http://recommendation:8080",
        uri: "http://recommendation:8080",
        code: 503,
        error: "Error processing upstream request: http://recommendation:8080/",
      },
    ]);
    const nested = fakeServiceHops(recorded("fake-service-v0.7.8-web-api-nested-error-minus1-EOF.json"))!;
    expect(nested.map((h) => [h.from, h.to, h.code])).toEqual([
      ["web-api", "recommendation", 500],
      ["recommendation", "http://purchase-history:8080", -1],
    ]);
  });

  it("reads the newer map form of upstream_calls", () => {
    const hops = fakeServiceHops(recorded("fake-service-newer-map-form-upstream-503-consul.json"))!;
    expect(hops.length).toBeGreaterThan(0);
    expect(hops.some((h) => h.code === 503)).toBe(true);
  });
});

describe("destination-side Istio counters", () => {
  it("counts mutual_tls requests from one source workload and ignores source-reported series", () => {
    const text = recorded("prom-dest-mtls-src-unknown-istioinaction-15000.txt");
    expect(countsFromSource(text, { namespace: "istio-system", name: "istio-ingressgateway" })).toEqual({
      counts: new Map([["mutual_tls", 310]]),
    });
    expect(countsFromSource(text, { namespace: "istioinaction", name: "webapp" })).toEqual({ counts: new Map() });
  });

  it("counts plaintext (policy none) requests, whatever the label order", () => {
    const text = recorded("prom-dest-none-nginx-15000.txt");
    expect(countsFromSource(text, { namespace: "unknown", name: "unknown" })).toEqual({ counts: new Map([["none", 9]]) });
  });

  it("counts the TCP twin istio_tcp_connections_opened_total, in a real scrape full of other series", () => {
    const text = recorded("prom-datadog-istio1.5-proxy-scrape-excerpt.txt");
    const sources = new Set(
      [
        ...text.matchAll(
          /istio_tcp_connections_opened_total\{[^}]*reporter="destination"[^}]*source_workload="([^"]+)"[^}]*source_workload_namespace="([^"]+)"/g,
        ),
      ].map((m) => `${m[2]}/${m[1]}`),
    );
    expect(sources.size).toBeGreaterThan(0);
    const [ns, name] = [...sources][0].split("/");
    const read = countsFromSource(text, { namespace: ns, name });
    expect("counts" in read && read.counts.get("mutual_tls")).toBeGreaterThan(0);
  });

  it("sees growth between two reads, and no growth at all when a counter went down (another pod, a restart)", () => {
    expect(counterGrowth(new Map([["mutual_tls", 310]]), new Map([["mutual_tls", 312]]))).toEqual(new Map([["mutual_tls", 2]]));
    expect(counterGrowth(new Map([["mutual_tls", 310]]), new Map([["mutual_tls", 310]]))).toEqual(new Map());
    expect(counterGrowth(new Map([["none", 9]]), new Map([["none", 1]]))).toBeUndefined();
    expect(counterGrowth(new Map([["none", 9]]), new Map([["mutual_tls", 20]]))).toBeUndefined();
    expect(counterGrowth(new Map(), new Map([["none", 9]]))).toEqual(new Map([["none", 9]]));
  });
});

describe("evidence stays a line", () => {
  it("cuts a kubectl error of megabytes on one line to 300 characters", () => {
    const flood = `error: ${"x".repeat(5 * 1024 * 1024)}\n`;
    const probe = classifyProbe({ exitCode: 1, stdout: "", stderr: flood, timedOut: false }, 1_000, false);
    expect(probe.kind).toBe("inconclusive");
    const reason = (probe as { reason: string }).reason;
    expect(reason.length).toBeLessThan(360);
    expect(reason.endsWith("...")).toBe(true);
  });
});
