/**
 * npm run bench: the CLI's plan and check as whole processes (the bin, running the build this bench makes first)
 * on a generated mesh of 10,000 workloads in 1,000 namespaces (2,000 PeerAuthentications, 20 probes) and on one
 * a tenth of its size, each against a baseline measured in the same run (a Node process that only parses the mesh
 * as JSON and writes the plan's JSON); the start-up against a bare Node process; the largest
 * rollout within the loader's limits; the hostile files of test/support/hostileFiles.ts; and the
 * verifier's round time for 200 edges against a kubectl that answers after a fixed delay, probing
 * one server at a time against all at once. Prints the figures; BENCHMARKS.md keeps them.
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { buildPlan } from "../src/model/plan";
import { parseRollout } from "../src/model/rollout";
import { loadRollout } from "../src/rollout/load";
import { kubectlRunner } from "../src/cluster/runner";
import { verifyPlan } from "../src/verify/verifier";
import * as YAML from "yaml";
import { buildCli } from "../scripts/buildCli";
import { writeHostileFiles } from "../test/support/hostileFiles";
import { generatedCluster } from "./discover";
const { currentBuild } = require("../bin/currentBuild.js") as { currentBuild: (root: string) => string | undefined };

const ROOT = path.join(__dirname, "..");
const work = fs.mkdtempSync(path.join(os.tmpdir(), "mtls-rollout-bench-"));

/** A mesh of `namespaces` × 10 workloads, each namespace with a default policy and one workload policy; 20 probes. */
function meshFile(namespaces: number): string {
  const lines = ["namespaces:"];
  for (let n = 0; n < namespaces; n++) lines.push(`  - { name: ns${n}, injection: true }`);
  lines.push("workloads:");
  const probeEvery = (namespaces * 10) / 20;
  for (let n = 0; n < namespaces; n++) {
    for (let w = 0; w < 10; w++) {
      const probe = (n * 10 + w) % probeEvery === 0 ? ", probe: true" : "";
      lines.push(`  - { name: w${w}, namespace: ns${n}, image: "img:1", service: { ports: [ { port: 80, targetPort: 8080 } ] }${probe} }`);
    }
  }
  lines.push("stages:", "  - name: strict", "    peerAuthentications:");
  for (let n = 0; n < namespaces; n++) {
    lines.push(`      - { name: default, namespace: ns${n}, mode: PERMISSIVE }`);
    lines.push(`      - { name: w0-strict, namespace: ns${n}, selector: { app: w0 }, mode: STRICT }`);
  }
  const file = path.join(work, `mesh-${namespaces}.yaml`);
  fs.writeFileSync(file, lines.join("\n") + "\n");
  return file;
}

/**
 * The largest rollout within every limit of the loader (ROLLOUT_LIMITS): 10,000 workloads in 1,000 namespaces,
 * 50 of them probes (499,950 expected outcomes per stage), 500 stages and 19,962 PeerAuthentications.
 */
function largestValidFile(): string {
  const lines = ["namespaces:"];
  for (let n = 0; n < 1000; n++) lines.push(`  - { name: ns${n}, injection: true }`);
  lines.push("workloads:");
  for (let n = 0; n < 1000; n++) {
    for (let w = 0; w < 10; w++) {
      const probe = (n * 10 + w) % 200 === 0 ? ", probe: true" : "";
      lines.push(`  - { name: w${w}, namespace: ns${n}, image: "img:1", service: { ports: [ { port: 80, targetPort: 8080 } ] }${probe} }`);
    }
  }
  lines.push("stages:", "  - name: s0", "    peerAuthentications:");
  for (let n = 0; n < 1000; n++) lines.push(`      - { name: default, namespace: ns${n}, mode: PERMISSIVE }`);
  for (let s = 1; s < 500; s++) {
    lines.push(`  - name: s${s}`, "    peerAuthentications:");
    for (let i = 0; i < 38; i++) {
      const n = (s * 38 + i) % 1000;
      const w = Math.floor((s * 38 + i) / 1000) % 10;
      lines.push(`      - { name: w${w}-strict, namespace: ns${n}, selector: { app: w${w} }, mode: STRICT }`);
    }
  }
  const file = path.join(work, "largest-valid.yaml");
  fs.writeFileSync(file, lines.join("\n") + "\n");
  return file;
}

/** Preloaded into every timed process: its peak resident memory, on stderr as it exits. */
const PEAK_REPORTER = path.join(work, "peak.js");
fs.writeFileSync(
  PEAK_REPORTER,
  'process.on("exit", () => require("node:fs").writeSync(2, "MAXRSS " + process.resourceUsage().maxRSS + "\\n"));\n',
);

/** A Node process as its own process, stdout to /dev/null as a pipe to a file would take it; wall time and peak memory. */
function timeNode(argv: string[], expectedExit = 0, env?: NodeJS.ProcessEnv): { seconds: number; peakMiB: number } {
  const devNull = fs.openSync("/dev/null", "w");
  const started = process.hrtime.bigint();
  const result = spawnSync(process.execPath, ["--require", PEAK_REPORTER, ...argv], {
    cwd: ROOT,
    encoding: "utf8",
    stdio: ["ignore", devNull, "pipe"],
    maxBuffer: 1 << 26,
    ...(env ? { env: { ...process.env, ...env } } : {}),
  });
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  fs.closeSync(devNull);
  if (result.status !== expectedExit) throw new Error(`${argv.join(" ")} exited ${result.status}, not ${expectedExit}: ${result.stderr}`);
  const maxrss = Number(/MAXRSS (\d+)/.exec(result.stderr)![1]);
  return { seconds, peakMiB: Math.round(maxrss / 1024) };
}

/** The CLI as a user runs it: the bin, which runs the build (made at the start of the bench). */
const timeCli = (args: string[], expectedExit = 0, env?: NodeJS.ProcessEnv) =>
  timeNode([path.join(ROOT, "bin", "mtls-rollout.js"), ...args], expectedExit, env);

/** The floor for a command that reads `input` and writes `output`: a Node process that only parses and writes the JSON. */
function baseline(input: string, output?: string) {
  const script =
    `const fs = require("node:fs"); JSON.parse(fs.readFileSync(${JSON.stringify(input)}, "utf8"));` +
    (output ? ` fs.writeSync(1, JSON.stringify(JSON.parse(fs.readFileSync(${JSON.stringify(output)}, "utf8")), null, 2) + "\\n");` : "");
  return timeNode(["-e", script]);
}

async function verifierRounds() {
  // 10 probes without sidecars to 20 servers without sidecars, one port each: 200 edges, curl only.
  const rollout = parseRollout({
    namespaces: [{ name: "bench" }],
    workloads: [
      ...Array.from({ length: 10 }, (_, i) => ({ name: `probe${i}`, namespace: "bench", image: "curl:8", probe: true })),
      ...Array.from({ length: 20 }, (_, i) => ({
        name: `server${i}`,
        namespace: "bench",
        image: "srv:1",
        service: { ports: [{ port: 80 }] },
      })),
    ],
    stages: [{ name: "open" }],
  });
  const plan = buildPlan(rollout, "open");
  const delayMs = 50;
  const kubectl = path.join(work, "slow-kubectl.sh");
  fs.writeFileSync(kubectl, `#!/bin/sh\nsleep ${delayMs / 1000}\nprintf 'ok\\n200'\n`, { mode: 0o755 });
  const round = async (concurrency: number) => {
    const started = Date.now();
    const result = await verifyPlan(plan, rollout, kubectlRunner(kubectl), {
      requiredStreak: 1,
      timeoutMs: 600_000,
      concurrency,
      roundIntervalMs: 0,
      settleMs: 0,
      timing: { curlMaxTimeSeconds: 5, callTimeoutMs: 10_000 },
      matrix: "full",
    });
    if (result.outcome !== "pass" || result.rounds !== 1)
      throw new Error(`bench verifier run did not pass in one round: ${result.outcome}`);
    return (Date.now() - started) / 1000;
  };
  return { edges: plan.expectations.length, delayMs, sequential: await round(1), concurrent: await round(20) };
}

/**
 * One verification round on the large generated mesh, against an in-process kubectl that answers at once:
 * how many probes (and kubectl calls) a round costs with one probe per target port and client class, and
 * how many every probe × port would be.
 */
async function roundOnLargeMesh(file: string) {
  const rollout = loadRollout(file);
  const plan = buildPlan(rollout, "strict");
  let calls = 0;
  let probes = 0;
  const controller = new AbortController();
  const started = Date.now();
  await verifyPlan(
    plan,
    rollout,
    async (args) => {
      calls++;
      if (args.includes("curl")) probes++;
      return {
        exitCode: 0,
        stdout: args.includes("curl") ? "ok\n200" : "# TYPE istio_requests_total counter\n",
        stderr: "",
        timedOut: false,
      };
    },
    {
      requiredStreak: 1,
      timeoutMs: 600_000,
      concurrency: 20,
      roundIntervalMs: 0,
      settleMs: 0,
      timing: { curlMaxTimeSeconds: 5, callTimeoutMs: 10_000 },
      signal: controller.signal,
      onRound: () => controller.abort("one round"),
    },
  );
  const targetPorts = new Set(plan.expectations.map((e) => `${e.to} ${e.port}`)).size;
  return { edges: plan.expectations.length, targetPorts, probes, calls, seconds: (Date.now() - started) / 1000 };
}

async function mainBench() {
  const large = meshFile(1000);
  const small = meshFile(100);
  const fig = (n: number) => n.toFixed(2);
  console.log(
    `machine: ${os.cpus().length} cores (${os.cpus()[0]?.model ?? "?"}), ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}`,
  );
  await buildCli();
  if (currentBuild(ROOT) === undefined) throw new Error("the CLI's build is not current: the bench would time the sources through tsx");
  // What every run pays before it reads anything: a CLI process that only prints its help; and a bare Node.
  const startup = timeCli(["--help"]).seconds;
  const node = timeNode(["-e", "0"]).seconds;
  console.log(
    `start-up (CLI process printing its help): ${fig(startup)} s; a Node process doing nothing ${fig(node)} s; ratio ${fig(startup / node)}`,
  );
  // The same meshes as JSON, and the plan's JSON output: what the baseline parses and writes.
  const asJson = (file: string) => {
    const json = file.replace(/\.yaml$/, ".json");
    fs.writeFileSync(json, JSON.stringify(YAML.parse(fs.readFileSync(file, "utf8"))));
    return json;
  };
  for (const [label, args, writes] of [
    ["plan --json", (f: string) => ["plan", "--stage", "strict", "--rollout", f, "--json"], true],
    ["check", (f: string) => ["check", "--rollout", f], false],
  ] as const) {
    const s = timeCli(args(small));
    const l = timeCli(args(large));
    let output: string | undefined;
    if (writes) {
      output = path.join(work, "plan-large.json");
      fs.writeFileSync(
        output,
        spawnSync(process.execPath, [path.join(ROOT, "bin", "mtls-rollout.js"), ...args(large)], { maxBuffer: 1 << 28 }).stdout,
      );
    }
    const b = baseline(asJson(large), output);
    console.log(
      `${label}: 1,000 workloads ${fig(s.seconds)} s (peak ${s.peakMiB} MiB); 10,000 workloads ${fig(l.seconds)} s (peak ${l.peakMiB} MiB); ` +
        `ratio ${fig(l.seconds / s.seconds)}, ${fig((l.seconds - startup) / (s.seconds - startup))} without start-up; ` +
        `baseline (node parsing the mesh as JSON${writes ? " and writing the plan's JSON" : ""}) ${fig(b.seconds)} s (peak ${b.peakMiB} MiB), ratio ${fig(l.seconds / b.seconds)}`,
    );
  }
  const largest = largestValidFile();
  const loaded = loadRollout(largest);
  const sizeMiB = fs.statSync(largest).size / 2 ** 20;
  const planned = timeCli(["plan", "--stage", "s0", "--rollout", largest, "--json"]);
  const checked = timeCli(["check", "--rollout", largest]);
  console.log(
    `largest valid rollout within the limits (${fig(sizeMiB)} MiB: ${loaded.workloads.length} workloads, ${loaded.stages.length} stages, ` +
      `${loaded.stages.reduce((n, s) => n + s.peerAuthentications.length, 0)} PeerAuthentications): plan --json ${fig(planned.seconds)} s (peak ${planned.peakMiB} MiB); ` +
      `check of every stage ${fig(checked.seconds)} s (peak ${checked.peakMiB} MiB)`,
  );
  const hostile = writeHostileFiles();
  let worst = { seconds: 0, peakMiB: 0 };
  for (const [h, file] of hostile) {
    const t = timeCli(["check", "--rollout", file], 2);
    worst = { seconds: Math.max(worst.seconds, t.seconds), peakMiB: Math.max(worst.peakMiB, t.peakMiB) };
    console.log(
      `hostile file ${h.name} (${fig(fs.statSync(file).size / 2 ** 20)} MiB): exit 2 in ${fig(t.seconds)} s (peak ${t.peakMiB} MiB)`,
    );
  }
  console.log(`hostile files, the worst of ${hostile.size}: ${fig(worst.seconds)} s, peak ${worst.peakMiB} MiB (target: 5 s and 512 MiB)`);
  for (const file of hostile.values()) fs.rmSync(path.dirname(file), { recursive: true, force: true });

  // discover against generated clusters: 2,000 workloads of 3 pods, and the largest a rollout holds (9,999 workloads
  // and the probe kit's client outside the mesh) of 5 pods, against a Node process that only parses the same answers.
  const discovered: { label: string; seconds: number; peakMiB: number; baseline: number; baselinePeak: number }[] = [];
  for (const [namespaces, perNamespace, podsEach] of [
    [200, 10, 3],
    [1111, 9, 5],
  ] as const) {
    const dir = path.join(work, `cluster-${namespaces}`);
    const { kubectl, bytes } = generatedCluster(dir, namespaces, perNamespace, podsEach);
    const out = path.join(work, `discovered-${namespaces}.yaml`);
    const t = timeCli(["discover", "-o", out], 0, { KUBECTL: kubectl });
    // The answers as the CLI read them: whole lists, the pods namespace by namespace (the whole list is larger than a read).
    const answers = [
      ...["namespaces", "controllers", "services", "peerauthentications"].map((l) => path.join(dir, `${l}.json`)),
      ...fs.readdirSync(path.join(dir, "pods")).map((f) => path.join(dir, "pods", f)),
    ];
    const b = timeNode([
      "-e",
      `const fs = require("node:fs"); for (const f of ${JSON.stringify(answers)}) JSON.parse(fs.readFileSync(f, "utf8"));`,
    ]);
    const workloads = namespaces * perNamespace;
    discovered.push({
      label: `${workloads.toLocaleString("en-US")} workloads, ${(workloads * podsEach).toLocaleString("en-US")} pods, ${namespaces.toLocaleString("en-US")} namespaces (${fig(bytes / 2 ** 20)} MiB of kubectl answers)`,
      seconds: t.seconds,
      peakMiB: t.peakMiB,
      baseline: b.seconds,
      baselinePeak: b.peakMiB,
    });
    fs.rmSync(dir, { recursive: true, force: true });
  }
  for (const d of discovered) {
    console.log(
      `discover, ${d.label}: ${fig(d.seconds)} s (peak ${d.peakMiB} MiB); baseline (node parsing the same answers) ${fig(d.baseline)} s (peak ${d.baselinePeak} MiB), ratio ${fig(d.seconds / d.baseline)}`,
    );
  }

  const r = await roundOnLargeMesh(large);
  console.log(
    `verifier round on 10,000 workloads: ${r.edges} edges, ${r.targetPorts} target ports; --matrix classes probes ${r.probes} (${r.calls} kubectl calls with the sidecar reads) in ${fig(r.seconds)} s in-process; --matrix full would probe ${r.edges}`,
  );
  const v = await verifierRounds();
  console.log(
    `verifier round, ${v.edges} edges (--matrix full), kubectl answering after ${v.delayMs} ms: one server at a time ${fig(v.sequential)} s; 20 at once ${fig(v.concurrent)} s; ratio ${fig(v.sequential / v.concurrent)}`,
  );
  fs.rmSync(work, { recursive: true, force: true });
}

mainBench().catch((err) => {
  console.error(err);
  process.exit(1);
});
