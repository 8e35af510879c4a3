/**
 * The verifier on real clusters: setup errors fail fast, probes go one per target port and client class,
 * nothing observed is never a pass, and a signal ends every kubectl call it started.
 */
import { spawn } from "node:child_process";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import type { KubectlRunner } from "../src/cluster/runner";
import { buildPlan } from "../src/model/plan";
import { parseRollout } from "../src/model/rollout";
import { loadRollout } from "../src/rollout/load";
import { checkSetup } from "../src/verify/setup";
import { verifyPlan } from "../src/verify/verifier";
import { answerKubectl, clusterState, ClusterState, fakeRunner, fakeVerifyOptions } from "./support/fakeCluster";
import { tempFile } from "./support/files";
import { processesMarked, startProcess, waitFor } from "./support/processes";
import { cli } from "./support/inProcessCli";
import { FAKE_KUBECTL } from "./support/fakeKubectlBuild";

const BIN = path.join(__dirname, "..", "bin", "mtls-rollout.js");
const lab = loadRollout();
const atMeshStrict = () => clusterState(lab, buildPlan(lab, "mesh-strict"));

async function verifyAgainst(state: ClusterState, args: string[] = [], env: NodeJS.ProcessEnv = {}) {
  const stateFile = tempFile("state.json", JSON.stringify(state));
  const started = Date.now();
  const result = await cli(["verify", "--stage", "mesh-strict", "--timeout", "120", ...args], {
    env: { KUBECTL: FAKE_KUBECTL, FAKE_CLUSTER_STATE: stateFile, ...env },
  });
  return { ...result, seconds: (Date.now() - started) / 1000 };
}

// At once: each waits on its kubectl calls.
describe.concurrent("setup errors: exit 2 within seconds, one line naming the cause", () => {
  const cases: [string, () => ClusterState, string[], NodeJS.ProcessEnv, string][] = [
    [
      "a context that does not exist",
      atMeshStrict,
      ["--context", "kind-mtls-lba"],
      { FAKE_KUBECTL_CONTEXTS: "kind-mtls-lab" },
      'error: the kube context "kind-mtls-lba" does not exist (kubectl config get-contexts lists the ones there are)',
    ],
    [
      "an unreachable cluster",
      atMeshStrict,
      [],
      { FAKE_KUBECTL_UNREACHABLE: "1" },
      "error: the cluster is unreachable: The connection to the server 127.0.0.1:6443 was refused - did you specify the right host or port?",
    ],
    [
      "no permission to exec",
      () => ({ ...atMeshStrict(), execDenied: ["default"] }),
      [],
      {},
      'error: not permitted to exec into pods in namespace default (kubectl auth can-i create pods --subresource=exec --namespace default answered "no"): the probes and the sidecar reads need it',
    ],
    [
      "a cluster without Istio's PeerAuthentication API",
      () => ({ ...atMeshStrict(), noIstioApi: true }),
      [],
      {},
      "error: the cluster has no PeerAuthentication API (security.istio.io): is Istio installed, with its CRDs?",
    ],
    [
      "a probe workload that does not exist",
      () => {
        const state = atMeshStrict();
        delete state.workloads["default/sleep"];
        return state;
      },
      [],
      {},
      "error: the probe workload default/sleep does not exist (deployment/sleep in default)",
    ],
  ];

  it.each(cases)("%s", async (_what, state, args, env, message) => {
    const { code, stdout, stderr, seconds } = await verifyAgainst(state(), args, env);
    expect(code).toBe(2);
    expect(seconds).toBeLessThan(10);
    expect(stdout).toBe("");
    const lines = stderr.trim().split("\n");
    expect(lines).toHaveLength(2); // the start line, then the cause
    expect(lines[1]).toBe(message);
  });

  it("retries a cluster that refused once: a blip is not a setup error", async () => {
    const state = atMeshStrict();
    let refusals = 1;
    const runner: KubectlRunner = async (args) => {
      if (args[0] === "api-resources" && refusals-- > 0) {
        return {
          exitCode: 1,
          stdout: "",
          stderr: "The connection to the server 127.0.0.1:6443 was refused - did you specify the right host or port?\n",
          timedOut: false,
        };
      }
      return answerKubectl(args, state, {});
    };
    const plan = buildPlan(lab, "mesh-strict");
    expect(await checkSetup(runner, plan, lab.workloads, 2_000)).toBeUndefined();
    expect(refusals).toBe(-1);
  });
});

describe("probe classes", () => {
  /** A mesh of 20 probes (10 with a sidecar, 10 without) and 30 Services, each with one port. */
  function wideMesh() {
    const workloads = [
      ...Array.from({ length: 20 }, (_, i) => ({
        name: `probe-${i}`,
        namespace: i % 2 ? "inside" : "outside",
        image: "curl:8",
        probe: true,
      })),
      ...Array.from({ length: 30 }, (_, i) => ({
        name: `svc-${i}`,
        namespace: "inside",
        image: "app:1",
        service: { ports: [{ name: "http", port: 8080 }] },
      })),
    ];
    return parseRollout({
      namespaces: [{ name: "inside", injection: true }, { name: "outside" }],
      workloads,
      stages: [{ name: "strict", peerAuthentications: [{ name: "default", namespace: "inside", mode: "STRICT" }] }],
    });
  }

  it("probe each target port once per client class: a round costs ports x classes probes, not probes x ports", async () => {
    const rollout = wideMesh();
    const plan = buildPlan(rollout, "strict");
    expect(plan.expectations).toHaveLength(20 * 30);
    const state = clusterState(rollout, plan);
    let curls = 0;
    const result = await verifyPlan(
      plan,
      rollout,
      fakeRunner(state, (args) => (curls += args.includes("curl") ? 1 : 0)),
      fakeVerifyOptions({ timeoutMs: 30_000, concurrency: 8, timing: { curlMaxTimeSeconds: 5, callTimeoutMs: 5_000 } }),
    );
    expect(result.outcome).toBe("pass");
    expect(result.rounds).toBe(1);
    expect(curls).toBe(30 * 2);
    expect(result.edges).toHaveLength(60);
    // Each probed edge names the probes it stands for: the other nine of its class.
    const fromInside = result.edges.find((e) => e.to === "inside/svc-0" && e.expect === "mtls")!;
    expect(fromInside.from).toBe("inside/probe-1"); // a probe in the server's namespace first
    expect(fromInside.standsFor).toEqual([
      "inside/probe-3",
      "inside/probe-5",
      "inside/probe-7",
      "inside/probe-9",
      "inside/probe-11",
      "inside/probe-13",
      "inside/probe-15",
      "inside/probe-17",
      "inside/probe-19",
    ]);
  });

  it("probe every pair with --matrix full", async () => {
    const rollout = wideMesh();
    const plan = buildPlan(rollout, "strict");
    const state = clusterState(rollout, plan);
    let curls = 0;
    const result = await verifyPlan(
      plan,
      rollout,
      fakeRunner(state, (args) => (curls += args.includes("curl") ? 1 : 0)),
      fakeVerifyOptions({ timeoutMs: 60_000, concurrency: 8, timing: { curlMaxTimeSeconds: 5, callTimeoutMs: 5_000 }, matrix: "full" }),
    );
    expect(result.outcome).toBe("pass");
    expect(curls).toBe(600);
  });
});

describe("a rollout with nothing to probe", () => {
  const file = tempFile("no-probes.yaml", [
    "namespaces: [ { name: shop, injection: true } ]",
    "workloads: [ { name: cart, namespace: shop, image: 'cart:1', service: { ports: [ { port: 80 } ] } } ]",
    "stages: [ { name: s } ]",
  ]);

  it("is inconclusive, exit 3, even with a KUBECTL that does not exist: nothing observed is no pass", async () => {
    const { code, stdout } = await cli(["verify", "--stage", "s", "--rollout", file], { env: { KUBECTL: "/nonexistent/kubectl" } });
    expect(code).toBe(3);
    expect(stdout.trim().split("\n").pop()).toBe(
      "INCONCLUSIVE: stage s: no edge to probe: the rollout has no probe workload (probe: true, or a probes: section)",
    );
  });

  it("is a warning of check", async () => {
    const { code, stderr } = await cli(["check", "--rollout", file]);
    expect(code).toBe(0);
    expect(stderr).toBe(
      "warning: workloads: no workload is a probe (probe: true, or a probes: section): verification has nothing to observe and stays inconclusive\n",
    );
  });
});

// At once: each waits on hanging probes, a signal, or the gate's window; every process carries a marker of its own.
describe.concurrent("signals", () => {
  /** A cluster at mesh-strict whose probes hang; every process of the test carries `marker` in its environment. */
  const hangingProbes = (marker: string): NodeJS.ProcessEnv => ({
    ...process.env,
    KUBECTL: FAKE_KUBECTL,
    FAKE_CLUSTER_STATE: tempFile("state.json", JSON.stringify(atMeshStrict())),
    FAKE_KUBECTL_HANG_EXEC: "1",
    MTLS_TEST_MARKER: marker,
  });

  function startVerify(marker: string, viaShell = false) {
    // As the stack's Commands set it: a Pulumi cancel kills their shell.
    const env = { ...hangingProbes(marker), ...(viaShell ? { MTLS_ROLLOUT_END_WITH_PARENT: "1" } : {}) };
    const args = [BIN, "verify", "--stage", "mesh-strict", "--timeout", "120"];
    return viaShell
      ? startProcess("/bin/sh", ["-c", `"${process.execPath}" ${args.map((a) => `'${a}'`).join(" ")}; echo never`], env)
      : startProcess(process.execPath, args, env);
  }

  it.each([
    ["SIGINT", 130],
    ["SIGTERM", 143],
  ] as const)(
    "%s ends every kubectl call, prints the partial table and exits %i",
    async (signal, exitCode) => {
      const marker = `sig-${signal}-${process.pid}-${Date.now()}`;
      const run = startVerify(marker);
      // The probes hang in kubectl exec: wait until they are running, then interrupt.
      // The probes (kubectl exec, past the setup checks) are running.
      expect(await waitFor(() => processesMarked(marker, "exec").length >= 2, 30_000)).toBe(true);
      run.child.kill(signal);
      expect(await run.exited).toBe(exitCode);
      const { stdout } = run.out();
      expect(stdout).toMatch(/From default\/sleep\n[^]*?│ istioinaction\/web-api:8080 /);
      expect(stdout.trim().split("\n").pop()).toMatch(new RegExp(`^INTERRUPTED \\(${signal}\\): stage mesh-strict: 8 edges, 0 hold`));
      expect(await waitFor(() => processesMarked(marker).length === 0, 3_000)).toBe(true);
    },
    40_000,
  );

  it("ends the pre-flight gate's wait between its two reads on Ctrl-C, with no evidence and exit 130", async () => {
    const stateFile = tempFile("state.json", JSON.stringify(clusterState(lab, buildPlan(lab, "purchase-history-strict"))));
    const child = spawn(process.execPath, [BIN, "preflight", "--stage", "istioinaction-strict", "--window", "600"], {
      env: { ...process.env, COLUMNS: "1000", KUBECTL: FAKE_KUBECTL, FAKE_CLUSTER_STATE: stateFile },
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (c: Buffer) => (stdout += c));
    child.stderr.on("data", (c: Buffer) => (stderr += c));
    const exited = new Promise<number | null>((resolve) => child.on("close", resolve));
    expect(await waitFor(() => /again in 600s/.test(stderr), 20_000)).toBe(true);
    await new Promise((r) => setTimeout(r, 2_000)); // the first reads are done: it waits for the second
    const started = Date.now();
    child.kill("SIGINT");
    expect(await exited).toBe(130);
    expect(Date.now() - started).toBeLessThan(3_000);
    expect(stderr.split("\n")[0]).toMatch(
      /^preflight: stage istioinaction-strict against purchase-history-strict on the current kube context: 2 workloads turn STRICT; reading their sidecars now and again in 600s \(at \d\d:\d\d:\d\d UTC\)$/,
    );
    expect(stdout).toMatch(/interrupted \(SIGINT\) before the second read/);
    expect(stdout.trim().split("\n").pop()).toMatch(/^NO EVIDENCE: stage istioinaction-strict tightens 2 workloads/);
  }, 40_000);

  it("ends its calls when the shell that started it is killed, as a Pulumi cancel does", async () => {
    const marker = `orphan-${process.pid}-${Date.now()}`;
    const run = startVerify(marker, true);
    expect(await waitFor(() => processesMarked(marker, "exec").length >= 2, 30_000)).toBe(true);
    run.child.kill("SIGKILL"); // the shell only: the CLI and its kubectl calls are orphaned
    await run.exited;
    expect(await waitFor(() => processesMarked(marker).length === 0, 5_000)).toBe(true);
  }, 40_000);

  it("outlives its shell when started in the background on purpose (no MTLS_ROLLOUT_END_WITH_PARENT)", async () => {
    const marker = `nohup-${process.pid}-${Date.now()}`;
    const env = hangingProbes(marker);
    const shell = spawn(
      "/bin/sh",
      ["-c", `"${process.execPath}" '${BIN}' verify --stage mesh-strict --timeout 60 >/dev/null 2>&1 & sleep 2`],
      { env },
    );
    await new Promise((r) => shell.on("close", r));
    await new Promise((r) => setTimeout(r, 2_000)); // past the orphan check's period
    const left = processesMarked(marker);
    expect(left.length).toBeGreaterThan(0); // still verifying
    for (const pid of left) process.kill(pid, "SIGKILL");
  }, 40_000);
});
