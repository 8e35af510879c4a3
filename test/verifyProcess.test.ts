import * as fs from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { buildPlan } from "../src/model/plan";
import { loadRollout } from "../src/rollout/load";
import { kubectlRunner } from "../src/cluster/runner";
import { clusterState } from "./support/fakeCluster";
import { policiesAt } from "./support/labCluster";
import { runCliAsync, tempFile } from "./support/files";
import { cli } from "./support/inProcessCli";
import { FAKE_KUBECTL } from "./support/fakeKubectlBuild";

const lab = loadRollout();

/**
 * `npx mtls-rollout verify` as a process, with KUBECTL pointing at a cluster in the state of `clusterStage`; with
 * `policiesOf`, its PeerAuthentications are that stage's instead (a cluster whose sidecars do not enforce them yet).
 */
function verifyAgainst(stage: string, clusterStage: string | { behaves: string; policiesOf: string }, ...extra: string[]) {
  const stateFile =
    typeof clusterStage === "string"
      ? clusterStateFile(clusterStage)
      : tempFile(
          "state.json",
          JSON.stringify({
            ...clusterState(lab, buildPlan(lab, clusterStage.behaves)),
            peerAuthentications: policiesAt(lab, clusterStage.policiesOf),
          }),
        );
  return runCliAsync(["verify", "--stage", stage, ...extra], {
    cwd: path.dirname(stateFile),
    env: { KUBECTL: FAKE_KUBECTL, FAKE_CLUSTER_STATE: stateFile },
  });
}

/** The state file the fake kubectl answers from: a cluster where `stage` holds. */
function clusterStateFile(stage: string): string {
  return tempFile("state.json", JSON.stringify(clusterState(lab, buildPlan(lab, stage))));
}

// At once: each mostly waits on its rounds, its deadline or a kubectl that never answers.
describe.concurrent("npx mtls-rollout verify against an executable KUBECTL", () => {
  it("exits 0 and prints the table and a PASS summary when the cluster matches the stage", async () => {
    const { code, stdout, stderr } = await verifyAgainst(
      "istioinaction-strict",
      "istioinaction-strict",
      "--timeout",
      "30",
      "--settle",
      "0",
    );
    expect(code).toBe(0);
    // What runs where, then a line per round, on stderr whether or not it is a terminal (inside pulumi up it is not).
    const progress = stderr.trim().split("\n");
    expect(progress[0]).toBe(
      "verify: stage istioinaction-strict on kube context kind-mtls-lab: 8 edges from 2 probe workloads, 8 probed per round (--matrix classes), deadline 30s",
    );
    // A line per round (two when every edge holds at once; more on a slow machine), the last with every edge held.
    expect(progress.length).toBeGreaterThanOrEqual(3);
    for (const line of progress.slice(1)) expect(line).toMatch(/^round \d+ \(\d+\.\ds\): \d\/8 hold, \d contradict, \d inconclusive$/);
    expect(progress[progress.length - 1]).toMatch(/: 8\/8 hold, 0 contradict, 0 inconclusive$/);
    expect(stdout).toMatch(
      /From default\/sleep\n[^]*?│ istioinaction\/web-api:8080 +│ refused +│ refused +│ holds +│ curl: \(56\) Recv failure: Connection reset by peer/,
    );
    expect(stdout.trim().split("\n").pop()).toMatch(
      /^PASS: stage istioinaction-strict: 8 edges, 8 hold, 0 contradict, 0 inconclusive; 2 declared calls, 2 hold, 0 contradict, 0 unverified \(\d+ rounds, /,
    );
    // The declared calls under a heading of their own, as each probe client's table is under its name.
    expect(stdout).toMatch(
      /\nDeclared calls\nFrom istioinaction\/web-api\n┌─+┬[^]*?│ calls +│ expected[^]*?│ istioinaction\/recommendation +│ mtls +│ mtls +│ holds +│/,
    );
  });

  it("exits 1 at once, probing nothing, when the cluster's policies do not give the stage's modes", async () => {
    const started = Date.now();
    const { code, stdout } = await verifyAgainst("istioinaction-strict", "purchase-history-strict", "--timeout", "60", "--settle", "0");
    expect(code).toBe(1);
    expect(Date.now() - started).toBeLessThan(20_000);
    expect(stdout).toMatch(/^Live state: the cluster, read before probing, does not give these workloads the stage's modes/);
    expect(stdout).toMatch(/│ istioinaction\/web-api +│ PERMISSIVE +│ STRICT +│/);
    expect(stdout).toMatch(/│ istioinaction\/recommendation +│ PERMISSIVE +│ STRICT +│/);
    expect(stdout).toMatch(/│ istioinaction\/sleep +│ PERMISSIVE +│ STRICT +│/);
    expect(stdout.trim().split("\n").pop()).toBe(
      "FAIL: stage istioinaction-strict: the cluster does not give 3 workloads the stage's modes (Live state above); nothing was probed",
    );
  });

  it("exits 1 and names the contradicting edges in JSON when the sidecars do not yet do what the stage's policies say", async () => {
    const { code, stdout } = await verifyAgainst(
      "istioinaction-strict",
      { behaves: "purchase-history-strict", policiesOf: "istioinaction-strict" },
      "--timeout",
      "4",
      "--settle",
      "0",
      "--json",
    );
    expect(code).toBe(1);
    const report = JSON.parse(stdout);
    expect(report.outcome).toBe("fail");
    expect(
      report.edges
        .filter((e: { verdict: string }) => e.verdict === "contradicts")
        .map((e: { from: string; to: string }) => `${e.from} -> ${e.to}`),
    ).toEqual(["default/sleep -> istioinaction/web-api", "default/sleep -> istioinaction/recommendation"]);
  });

  it("exits 2 within seconds, naming the cause, when kubectl never answers: a setup error, not a slow mesh", async () => {
    const started = Date.now();
    const result = await runCliAsync(["verify", "--stage", "permissive", "--timeout", "120", "--json"], {
      env: { KUBECTL: FAKE_KUBECTL, FAKE_KUBECTL_HANG: "1" },
    });
    expect(result.code).toBe(2);
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(result.stdout).toBe("");
    expect(result.stderr.split("\n").slice(1)).toEqual([
      "error: the cluster did not answer kubectl api-resources --api-group=security.istio.io -o name within 4s: is it reachable?",
      "",
    ]);
  });

  it("exits 2 for bad input before probing anything", async () => {
    for (const args of [
      ["--stage", "nope"],
      ["--stage", "permissive", "--timeout", "0"],
      ["--stage", "permissive", "--context", "a b"],
      ["--stage", "permissive", "--timeout", "10", "--settle", "10"],
    ]) {
      const result = await cli(["verify", ...args], { env: { KUBECTL: "/nonexistent/kubectl" } });
      expect(result.code, args.join(" ")).toBe(2);
      expect(result.stderr).toMatch(/^error: /);
    }
    const settle = await cli(["verify", "--stage", "permissive", "--timeout", "10", "--settle", "10"], {
      env: { KUBECTL: "/nonexistent/kubectl" },
    });
    expect(settle.stderr).toBe("error: --settle: must be shorter than --timeout (10s), or no round counts (got 10)\n");
  });
});

describe("the fake kubectl the process tests run", () => {
  // Its shim asks one server where bash opens TCP connections; elsewhere the standalone build answers each call:
  // both must answer alike, or a machine without /dev/tcp would test something else.
  const standalone = path.join(path.dirname(FAKE_KUBECTL), "fake-kubectl.js");
  const inSleep = (...command: string[]) => ["exec", "-n", "default", "deployment/sleep", "-c", "sleep", "--", ...command];
  const calls = [
    ["config", "current-context"],
    ["api-resources", "--api-group=security.istio.io", "-o", "name"],
    ["get", "deployment/nope", "--namespace", "default", "-o", "name"],
    inSleep("curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "http://httpbin.default:8000/headers"),
    inSleep("curl", "-H", 'X-Quote: it\'s "q" $(x) `y`', "http://httpbin.default:8000/headers"),
    inSleep("curl", "not a URL"),
  ];

  it.each(calls)("answers %s alike through the shim and the standalone build", async (...args) => {
    const env = { ...process.env, FAKE_CLUSTER_STATE: clusterStateFile("mesh-strict") };
    const viaShim = await kubectlRunner(FAKE_KUBECTL, { env })(args, 20_000);
    const viaStandalone = await kubectlRunner(process.execPath, { env })([standalone, ...args], 20_000);
    expect(viaShim).toEqual(viaStandalone);
    expect(viaShim.exitCode).not.toBeNull();
  });

  it("answers with the cluster's connection error through either", async () => {
    const env = { ...process.env, FAKE_CLUSTER_STATE: clusterStateFile("mesh-strict"), FAKE_KUBECTL_UNREACHABLE: "1" };
    const viaShim = await kubectlRunner(FAKE_KUBECTL, { env })(["get", "namespaces"], 20_000);
    const viaStandalone = await kubectlRunner(process.execPath, { env })([standalone, "get", "namespaces"], 20_000);
    expect(viaShim).toEqual(viaStandalone);
    expect(viaShim.stderr).toMatch(/^The connection to the server 127\.0\.0\.1:6443 was refused/);
  });
});

describe("the kubectl runner", () => {
  it("passes --context first and every value as its own argument, without a shell", async () => {
    const echo = tempFile("echo-argv.js", "#!/usr/bin/env node\nprocess.stdout.write(JSON.stringify(process.argv.slice(2)));\n");
    fs.chmodSync(echo, 0o755);
    const result = await kubectlRunner(echo, { context: "kind-lab" })(
      ["exec", "-n", "a", "deploy/b", "--", "curl", "$(touch /tmp/pwned)", "x;y"],
      10_000,
    );
    expect(result.exitCode).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual([
      "--context",
      "kind-lab",
      "exec",
      "-n",
      "a",
      "deploy/b",
      "--",
      "curl",
      "$(touch /tmp/pwned)",
      "x;y",
    ]);
  });

  it("kills a kubectl that outlives its timeout, with everything it started, and reports it timed out", async () => {
    // A wrapper script whose child (not exec'd) holds the pipes open, as kubectl plugins and shims do.
    const pidFile = tempFile("sleep.pid", "");
    const wrapper = tempFile("kubectl-wrapper.sh", `#!/bin/sh\nsleep 30 &\necho $! > ${pidFile}\nwait\n`);
    fs.chmodSync(wrapper, 0o755);
    const started = Date.now();
    const result = await kubectlRunner(wrapper)(["version"], 500);
    expect(result).toMatchObject({ exitCode: null, timedOut: true });
    expect(Date.now() - started).toBeLessThan(3_000);
    const sleepPid = Number(fs.readFileSync(pidFile, "utf8"));
    expect(sleepPid).toBeGreaterThan(0);
    await new Promise((r) => setTimeout(r, 100));
    // Gone, or a zombie waiting for a PID 1 that may never reap it (as in some containers): not running.
    const state = fs.existsSync(`/proc/${sleepPid}/stat`) ? fs.readFileSync(`/proc/${sleepPid}/stat`, "utf8").split(") ")[1]?.[0] : "gone";
    expect(["gone", "Z", "X"]).toContain(state);
  });

  it("bounds what it keeps of a kubectl that prints too much, and says so", async () => {
    const flood = tempFile("flood.js", "#!/usr/bin/env node\nprocess.stdout.write('x'.repeat(6 * 1024 * 1024));\n");
    fs.chmodSync(flood, 0o755);
    const result = await kubectlRunner(flood)(["version"], 10_000);
    expect(result).toMatchObject({ exitCode: null, truncated: true, timedOut: false });
    expect(result.stdout.length).toBe(4 * 1024 * 1024);
  });

  it("ends a kubectl whose answer never ends at the read bound, within seconds, not at the call's timeout", async () => {
    const endless = tempFile("endless.sh", "#!/bin/sh\nexec yes '{\"items\":['\n");
    fs.chmodSync(endless, 0o755);
    const started = Date.now();
    const result = await kubectlRunner(endless)(["get", "pods", "-o", "json"], 30_000, { maxOutputBytes: 1024 * 1024 });
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(result).toMatchObject({ exitCode: null, truncated: true, timedOut: false });
    expect(result.stdout.length).toBe(1024 * 1024);
  });

  it("decodes an answer whose characters are split between chunks as one text", async () => {
    // 'ü' is two bytes in UTF-8; written one byte at a time, each chunk holds half a character.
    const split = tempFile(
      "split.js",
      "#!/usr/bin/env node\nconst b = Buffer.from('\u00fc');\nprocess.stdout.write(b.subarray(0, 1));\nsetTimeout(() => process.stdout.write(b.subarray(1)), 50);\n",
    );
    fs.chmodSync(split, 0o755);
    const result = await kubectlRunner(split)(["version"], 5_000);
    expect(result.stdout).toBe("\u00fc");
  });

  it("reports a kubectl that cannot be started", async () => {
    const result = await kubectlRunner("/nonexistent/kubectl")(["version"], 1_000);
    expect(result.spawnError).toBe("/nonexistent/kubectl: ENOENT");
  });
});
