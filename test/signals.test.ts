/**
 * A signal ends every command that reads a cluster at once, whatever it is doing: within a second of SIGINT or
 * SIGTERM, with the signal's exit code, nothing written after it, and no kubectl left running. discover reading a
 * cluster that does not answer, discover and the gate waiting on a Prometheus that does not answer, discover
 * proposing stages. The processes are the CLI's, through its bin, each marked so that what it leaves can be found.
 */
import * as fs from "node:fs";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { discover } from "../src/discover/run";
import { buildPlan } from "../src/model/plan";
import { loadRollout } from "../src/rollout/load";
import { clusterState } from "./support/fakeCluster";
import { FAKE_KUBECTL } from "./support/fakeKubectlBuild";
import { tempFile } from "./support/files";
import { answerFromLists } from "./support/kubectlFromLists";
import { clusterOf } from "./support/labCluster";
import { processesMarked, startProcess, waitFor } from "./support/processes";

const BIN = path.join(__dirname, "..", "bin", "mtls-rollout.js");
const CLUSTER = path.join(__dirname, "fixtures", "cluster");
const lab = loadRollout();

/** A Prometheus that takes every request and never answers. */
let silent: http.Server;
let silentUrl = "";
beforeAll(async () => {
  silent = http.createServer(() => {});
  await new Promise<void>((r) => silent.listen(0, "127.0.0.1", () => r()));
  silentUrl = `http://127.0.0.1:${(silent.address() as AddressInfo).port}`;
});
afterAll(() => {
  silent.closeAllConnections();
  silent.close();
});

const start = (args: string[], env: NodeJS.ProcessEnv, marker: string) =>
  startProcess(process.execPath, [BIN, ...args], { ...process.env, ...env, MTLS_TEST_MARKER: marker });

/** Sends `signal` once `ready` holds; how long the process took to end after it, and its exit code. */
async function interrupt(run: ReturnType<typeof start>, ready: () => boolean, signal: NodeJS.Signals) {
  expect(await waitFor(ready, 30_000), run.out().stderr).toBe(true);
  await new Promise((r) => setTimeout(r, 300)); // well inside the phase
  const sent = Date.now();
  run.child.kill(signal);
  const code = await run.exited;
  return { code, ms: Date.now() - sent };
}

describe.concurrent("a signal ends a command that reads the cluster at once", () => {
  it.each([
    ["SIGINT", 130],
    ["SIGTERM", 143],
  ] as const)("discover reading a cluster that does not answer: %s, exit %i, no file, no kubectl left", async (signal, exitCode) => {
    const marker = `discover-read-${signal}-${process.pid}`;
    const output = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "signal-")), "mesh.yaml");
    const run = start(["discover", "-o", output], { KUBECTL: FAKE_KUBECTL, FAKE_KUBECTL_HANG: "1" }, marker);
    const { code, ms } = await interrupt(run, () => processesMarked(marker, "get").length > 0, signal);
    expect(code).toBe(exitCode);
    expect(ms).toBeLessThan(1_000);
    expect(fs.readdirSync(path.dirname(output))).toEqual([]);
    expect(await waitFor(() => processesMarked(marker).length === 0, 2_000)).toBe(true);
  });

  it("discover waiting on a Prometheus that does not answer: SIGINT, exit 130, no file", async () => {
    const marker = `discover-prometheus-${process.pid}`;
    const output = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "signal-")), "mesh.yaml");
    const run = start(["discover", "--prometheus", silentUrl, "-o", output], { KUBECTL: FAKE_KUBECTL, FAKE_KUBECTL_DIR: CLUSTER }, marker);
    const { code, ms } = await interrupt(run, () => run.out().stderr.includes("discover: asking Prometheus"), "SIGINT");
    expect(code).toBe(130);
    expect(ms).toBeLessThan(1_000);
    expect(fs.readdirSync(path.dirname(output))).toEqual([]);
    expect(run.out().stdout).toBe("");
  });

  it("the gate waiting on a Prometheus that does not answer: SIGINT, exit 130, no evidence", async () => {
    const marker = `gate-prometheus-${process.pid}`;
    const stateFile = tempFile("state.json", JSON.stringify(clusterState(lab, buildPlan(lab, "purchase-history-strict"))));
    const run = start(
      ["preflight", "--stage", "istioinaction-strict", "--previous", "live", "--prometheus", silentUrl],
      { KUBECTL: FAKE_KUBECTL, FAKE_CLUSTER_STATE: stateFile, COLUMNS: "1000" },
      marker,
    );
    const { code, ms } = await interrupt(run, () => run.out().stderr.includes("asking Prometheus"), "SIGINT");
    expect(code).toBe(130);
    expect(ms).toBeLessThan(1_000);
    expect(run.out().stdout).toMatch(/interrupted \(SIGINT\)/);
    expect(run.out().stdout.trim().split("\n").pop()).toMatch(/^NO EVIDENCE: stage istioinaction-strict tightens 2 workloads/);
  });
});

describe("discover proposing stages", () => {
  it("stops at the signal, between two steps of the proposal, and returns nothing to write", async () => {
    const lists = clusterOf(lab, "permissive");
    const controller = new AbortController();
    const phases: string[] = [];
    const result = await discover({
      runner: async (args) => ({ ...answerFromLists(args, (l) => lists[l]), timedOut: false }),
      meshRootNamespace: "istio-system",
      callTimeoutMs: 5_000,
      signal: controller.signal,
      onProgress: (line) => {
        phases.push(line);
        if (line.startsWith("discover: proposing stages")) controller.abort("SIGINT");
      },
    });
    expect(result).toEqual({ interrupted: true });
    expect(phases.at(-1)).toMatch(/^discover: proposing stages for 2 namespaces and 6 workloads/);
  });
});

describe("a reader that closes the pipe early (| head)", () => {
  it("ends the CLI quietly with 141, as SIGPIPE would, never with a stack trace", async () => {
    const run = start(["plan", "--stage", "mesh-strict", "--wide"], {}, `epipe-${process.pid}`);
    // The reader is gone before the CLI writes a byte.
    run.child.stdout.destroy();
    expect(await run.exited).toBe(141);
    expect(run.out().stderr).toBe("");
  });
});
