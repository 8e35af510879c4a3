import { Command, CommanderError, Option } from "commander";
import * as fs from "node:fs";
import * as path from "node:path";
import { InputError } from "../model/errors";
import { discover } from "../discover/run";
import { renderStatusText, statusJson } from "../status/render";
import { clusterStatus } from "../status/run";
import { dns1123Label } from "../model/names";
import { buildPlan } from "../model/plan";
import { checkRollout, isBlocking } from "../model/rules";
import { loadRollout } from "../rollout/load";
import { exitCodeOf, renderVerificationText, verificationJson } from "../verify/report";
import { kubectlRunner, type KubectlRunner } from "../cluster/runner";
import { probedEdges, verifyPlan } from "../verify/verifier";
import { checkSetup } from "../verify/setup";
import { withoutCredentials } from "../cluster/prometheus";
import { watchInterrupts } from "./interrupt";
import { readStackFile } from "./stackFile";
import { buildStageReport } from "../model/report";
import type { Rollout } from "../model/rollout";
import { gateExitCode, gateSummary, renderGateText } from "../preflight/report";
import { runPreflight } from "../preflight/run";
import { planJson, renderPlanText, renderViolations } from "./renderPlan";
import { renderReportMarkdown } from "./renderReport";
import { terminalSafe } from "../model/text";

export const EXIT_OK = 0;
export const EXIT_RULE_FAILED = 1;
export const EXIT_BAD_INPUT = 2;
/** The cluster (or Prometheus) could not be read: unreachable, not permitted, or answering nonsense. */
export const EXIT_UNREACHABLE = 3;
/** Each setup check (is there a cluster, may we exec): well within the seconds a setup error should take. */
const SETUP_CALL_TIMEOUT_MS = 4_000;

export interface Io {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  /** A terminal on stderr: the progress line is rewritten in place. */
  interactive: boolean;
  /** Handle Ctrl-C and SIGTERM by ending every kubectl call and reporting (the real process, not a test calling main). */
  watchSignals?: boolean;
  env: NodeJS.ProcessEnv;
}

const processIo: Io = {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
  interactive: Boolean(process.stderr.isTTY),
  watchSignals: true,
  env: process.env,
};

function positiveInt(name: string, max: number) {
  return (value: string): number => {
    const n = Number(value);
    if (!/^\d+$/.test(value) || n < 1 || n > max) {
      throw new InputError([{ path: name, message: `must be a whole number from 1 to ${max} (got ${JSON.stringify(value)})` }]);
    }
    return n;
  };
}

function nonNegativeInt(name: string, max: number) {
  return (value: string): number => (value === "0" ? 0 : positiveInt(name, max)(value));
}

function prometheusUrl(value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new InputError([{ path: "--prometheus", message: `must be an http(s) URL (got ${JSON.stringify(value)})` }]);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new InputError([{ path: "--prometheus", message: `must be an http(s) URL (got ${JSON.stringify(value)})` }]);
  }
  return value;
}

/** The stage before `stage` in the rollout, or "none" for the first. */
function previousStage(rollout: Rollout, stage: string): string {
  const index = rollout.stages.findIndex((s) => s.name === stage);
  return index > 0 ? rollout.stages[index - 1].name : "none";
}

function namespaceName(value: string, previous: string[] | undefined): string[] {
  const parsed = dns1123Label.safeParse(value);
  if (!parsed.success) {
    throw new InputError([{ path: "--namespace", message: `must be a namespace name, a DNS-1123 label (got ${JSON.stringify(value)})` }]);
  }
  return [...(previous ?? []), value];
}

/** An RFC 3339 time, as the verification prints when it ended; epoch milliseconds. */
function rfc3339(value: string): number {
  const ms = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/.test(value) ? Date.parse(value) : NaN;
  if (!Number.isFinite(ms) || ms > Date.now() + 60_000) {
    throw new InputError([{ path: "--since", message: `must be an RFC 3339 time, not in the future (got ${JSON.stringify(value)})` }]);
  }
  return ms;
}

/** The name of the kubeconfig's current context, for the line that says where a run probes; undefined if kubectl cannot say. */
async function currentContext(runner: KubectlRunner): Promise<string | undefined> {
  const r = await runner(["config", "current-context"], 1_000);
  const name = r.exitCode === 0 ? r.stdout.trim() : "";
  return /^[^\s]{1,253}$/.test(name) ? name : undefined;
}

function contextName(value: string): string {
  if (!/^[^\s]{1,253}$/.test(value))
    throw new InputError([{ path: "--context", message: `must be a kubeconfig context name (got ${JSON.stringify(value)})` }]);
  return value;
}

/** The model names its inputs as the stack config does (`stage`); on the command line they are options. */
function withOptionNames<T>(fn: () => T, option = "--stage"): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof InputError && !err.source) {
      throw new InputError(err.problems.map((p) => (p.path === "stage" ? { ...p, path: option } : p)));
    }
    throw err;
  }
}

const STACK_HELP = "take --stage, --rollout and --context from this Pulumi stack's file, Pulumi.NAME.yaml (explicit options win)";

/** --stack's defaults, then --stage required: what every command that takes a stage does first. */
function applyStack(command: Command) {
  const opts = command.opts() as { stack?: string; stage?: string; rollout?: string; context?: string };
  if (opts.stack) {
    const defaults = readStackFile(opts.stack, process.cwd());
    for (const key of ["stage", "rollout", "context"] as const) {
      if (opts[key] === undefined && defaults[key] !== undefined && command.options.some((o) => o.attributeName() === key)) {
        command.setOptionValue(key, defaults[key]);
      }
    }
  }
  if (command.options.some((o) => o.attributeName() === "stage") && command.opts().stage === undefined) {
    throw new InputError([{ path: "--stage", message: "is required (or --stack NAME, whose stack file sets mtls-rollout:stage)" }]);
  }
}

function buildCli(io: Io, setExit: (code: number) => void, interrupted?: AbortSignal): Command {
  const kubectl = (context?: string) => kubectlRunner(io.env.KUBECTL || "kubectl", context, interrupted);
  const program = new Command("mtls-rollout")
    .description("Roll out Istio mutual TLS one safe stage at a time")
    .hook("preAction", (_program, command) => applyStack(command))
    .exitOverride()
    .configureOutput({ writeOut: io.stdout, writeErr: io.stderr });

  program
    .command("plan")
    .description("show what a stage means: its policies, the effective modes and the expected outcome of every edge")
    .option("--stage <name>", "the stage to plan (required, unless --stack sets it)")
    .option("--stack <name>", STACK_HELP)
    .option("--rollout <file>", "a rollout file (default: the lab in stages/lab.yaml)")
    .addOption(new Option("--json", "print the plan as one JSON object instead of tables").conflicts("format"))
    .addOption(
      new Option("--format <format>", "text: the plan as tables; markdown or json: the pull-request report of what the stage changes")
        .choices(["text", "markdown", "json"])
        .default("text"),
    )
    .option("--previous <stage>", "the stage the report compares with (default: the one before; none: a fresh mesh)")
    .exitOverride()
    .action((opts: { stage: string; rollout?: string; json?: boolean; format: string; previous?: string }) => {
      const rollout = loadRollout(opts.rollout);
      const plan = withOptionNames(() => buildPlan(rollout, opts.stage));
      if (opts.json) io.stdout(JSON.stringify(planJson(plan), null, 2) + "\n");
      else if (opts.format === "text") io.stdout(renderPlanText(plan));
      else {
        const previous = opts.previous ?? previousStage(rollout, plan.stage);
        if (previous !== "none") withOptionNames(() => buildPlan(rollout, previous), "--previous");
        const report = buildStageReport(rollout, plan.stage, previous === "none" ? null : previous, opts.rollout);
        io.stdout(opts.format === "markdown" ? renderReportMarkdown(report) : JSON.stringify(report, null, 2) + "\n");
      }
      setExit(EXIT_OK);
    });

  program
    .command("check")
    .description("check every stage of a rollout against the guardrail rules; exit 1 when a mandatory rule fails")
    .option("--rollout <file>", "a rollout file (default: the lab in stages/lab.yaml)")
    .option("--stack <name>", STACK_HELP)
    .option("--json", "print one JSON object instead of a table")
    .exitOverride()
    .action((opts: { rollout?: string; json?: boolean }) => {
      const rollout = loadRollout(opts.rollout);
      for (const w of rollout.warnings) io.stderr(`warning: ${w.path}: ${w.message}\n`);
      const violations = checkRollout(rollout);
      const blocking = violations.filter(isBlocking);
      if (opts.json) {
        io.stdout(JSON.stringify(violations, null, 2) + "\n");
      } else {
        io.stdout(renderViolations(violations, "Guardrails for every stage") + "\n");
      }
      setExit(blocking.length > 0 ? EXIT_RULE_FAILED : EXIT_OK);
    });

  program
    .command("preflight")
    .description("before a stage tightens workloads to STRICT: check that they no longer receive plaintext")
    .option("--stage <name>", "the stage about to be applied (required, unless --stack sets it)")
    .option("--stack <name>", STACK_HELP)
    .option("--previous <stage>", "what the cluster is at: a stage (default: the one before), live (read its policies), or none")
    .option("--rollout <file>", "a rollout file (default: the lab in stages/lab.yaml)")
    .option("--context <name>", "the kubeconfig context (default: the current one)", contextName)
    .option(
      "--window <seconds>",
      "how long to watch for plaintext: the sidecars are read this far apart (default 60); Prometheus looks this far back (default 3600)",
      positiveInt("--window", 86400),
    )
    .option("--prometheus <url>", "read Istio's metrics from this Prometheus instead of the sidecars", prometheusUrl)
    .option(
      "--since <time>",
      "with --prometheus: count no traffic before this RFC 3339 time (the end of the last verification, whose probes send plaintext on purpose)",
      rfc3339,
    )
    .option("--json", "print one JSON object instead of a table")
    .exitOverride()
    .action(
      async (opts: {
        stage: string;
        previous?: string;
        rollout?: string;
        context?: string;
        window?: number;
        prometheus?: string;
        since?: number;
        json?: boolean;
      }) => {
        const rollout = loadRollout(opts.rollout);
        const plan = withOptionNames(() => buildPlan(rollout, opts.stage));
        const previous = opts.previous ?? previousStage(rollout, plan.stage);
        if (previous !== "none" && previous !== "live") withOptionNames(() => buildPlan(rollout, previous), "--previous");
        // Prometheus holds history: a long look-back also catches callers that come only now and then.
        const windowSeconds = opts.window ?? (opts.prometheus ? 3600 : 60);
        const where = opts.context ? `kube context ${opts.context}` : "the current kube context";
        const result = await runPreflight(
          rollout,
          plan.stage,
          previous === "none" ? null : previous === "live" ? "live" : { stage: previous },
          {
            runner: kubectl(opts.context),
            prometheusUrl: opts.prometheus,
            onWait: (seconds, lookback) =>
              io.stderr(
                `preflight: the last verification ended ${lookback - seconds}s ago; waiting ${seconds}s so that Prometheus holds ${lookback}s of traffic since\n`,
              ),
            onTargets: (targets, liveError) => {
              const what = `preflight: stage ${plan.stage} against ${previous === "live" ? "the cluster's live policies" : previous} on ${where}`;
              if (liveError || targets.length === 0)
                return io.stderr(`${what}: ${liveError ? "no evidence to read" : "nothing turns STRICT"}\n`);
              const reading = opts.prometheus
                ? `asking Prometheus ${withoutCredentials(opts.prometheus)} for the plaintext of the last ${windowSeconds}s`
                : `reading their sidecars now and again in ${windowSeconds}s (at ${new Date(Date.now() + windowSeconds * 1000).toISOString().slice(11, 19)} UTC)`;
              io.stderr(`${what}: ${targets.length} workload${targets.length === 1 ? "" : "s"} turn STRICT; ${reading}\n`);
            },
          },
          { windowSeconds, callTimeoutMs: 20_000, signal: interrupted, ...(opts.since !== undefined ? { since: opts.since } : {}) },
        );
        io.stdout(opts.json ? JSON.stringify({ ...result, summary: gateSummary(result) }, null, 2) + "\n" : renderGateText(result));
        setExit(gateExitCode(result));
      },
    );

  program
    .command("verify")
    .description("probe every expectation edge of a stage on the cluster and compare with the model")
    .option("--stage <name>", "the stage to verify (required, unless --stack sets it)")
    .option("--stack <name>", STACK_HELP)
    .option("--rollout <file>", "a rollout file (default: the lab in stages/lab.yaml)")
    .option("--context <name>", "the kubeconfig context (default: the current one)", contextName)
    .option("--timeout <seconds>", "deadline for the whole run", positiveInt("--timeout", 3600), 120)
    .option("--rounds <n>", "consecutive matching rounds for an edge to hold", positiveInt("--rounds", 20), 2)
    .option("--concurrency <n>", "servers probed at once", positiveInt("--concurrency", 64), 4)
    .option(
      "--settle <seconds>",
      "rounds in the first seconds do not count, while istiod pushes the change",
      nonNegativeInt("--settle", 600),
      5,
    )
    .addOption(
      new Option("--matrix <which>", "classes: one probe per target port and client class (with, without sidecar); full: every pair")
        .choices(["classes", "full"])
        .default("classes"),
    )
    .option(
      "--require-calls",
      "a declared call without traffic during the run makes the verification inconclusive (default: reported only)",
    )
    .option("--json", "print one JSON object instead of a table")
    .exitOverride()
    .action(
      async (opts: {
        stage: string;
        rollout?: string;
        context?: string;
        requireCalls?: boolean;
        timeout: number;
        rounds: number;
        concurrency: number;
        settle: number;
        matrix: "classes" | "full";
        json?: boolean;
      }) => {
        const rollout = loadRollout(opts.rollout);
        const plan = withOptionNames(() => buildPlan(rollout, opts.stage));
        {
          const runner = kubectl(opts.context);
          const probed = probedEdges(plan, new Map(rollout.workloads.map((w) => [w.ref, w])), opts.matrix).length;
          const probes = new Set(plan.expectations.map((e) => e.from)).size;
          const context = opts.context ?? (await currentContext(runner));
          io.stderr(
            `verify: stage ${plan.stage} on ${context ? `kube context ${context}` : "the current kube context"}: ` +
              `${plan.expectations.length} edges from ${probes} probe workload${probes === 1 ? "" : "s"}, ${probed} probed per round (--matrix ${opts.matrix}), deadline ${opts.timeout}s\n`,
          );
          if (plan.expectations.length > 0) {
            const problem = await checkSetup(runner, plan, rollout.workloads, SETUP_CALL_TIMEOUT_MS);
            if (problem && !interrupted?.aborted) throw new InputError([{ path: "", message: problem }]);
          }
          // Between round lines, a line every 15 s: a round of hanging probes may take minutes.
          let answered = 0;
          let lastLine = Date.now();
          const started = Date.now();
          const heartbeat = setInterval(() => {
            if (Date.now() - lastLine < 15_000) return;
            lastLine = Date.now();
            io.stderr(`still probing (${((Date.now() - started) / 1000).toFixed(0)}s): ${answered} probes answered so far\n`);
          }, 5_000);
          heartbeat.unref();
          const result = await verifyPlan(plan, rollout, runner, {
            requiredStreak: opts.rounds,
            timeoutMs: opts.timeout * 1000,
            concurrency: opts.concurrency,
            roundIntervalMs: 2000,
            settleMs: opts.settle * 1000,
            timing: { curlMaxTimeSeconds: 5, callTimeoutMs: 20_000 },
            matrix: opts.matrix,
            requireCalls: opts.requireCalls,
            signal: interrupted,
            onProbe: () => answered++,
            // One line per round, on a terminal or not: inside pulumi up the log shows the run moving.
            onRound: (p) => {
              lastLine = Date.now();
              const line = `round ${p.round} (${(p.elapsedMs / 1000).toFixed(1)}s): ${p.held}/${p.total} hold, ${p.contradicting} contradict, ${p.inconclusive} inconclusive`;
              io.stderr(io.interactive ? `\r${line} ` : `${line}\n`);
            },
          });
          clearInterval(heartbeat);
          if (io.interactive) io.stderr("\n");
          io.stdout(opts.json ? JSON.stringify(verificationJson(result), null, 2) + "\n" : renderVerificationText(result));
          setExit(exitCodeOf(result));
        }
      },
    );

  program
    .command("status")
    .description("which stage of the rollout the cluster is at, what differs, and every workload's live mode beside the expected one")
    .option("--rollout <file>", "a rollout file (default: the lab in stages/lab.yaml)")
    .option("--stack <name>", STACK_HELP)
    .option("--context <name>", "the kubeconfig context (default: the current one)", contextName)
    .option("--json", "print one JSON object instead of tables")
    .exitOverride()
    .action(async (opts: { rollout?: string; context?: string; json?: boolean }) => {
      const rollout = loadRollout(opts.rollout);
      const status = await clusterStatus(rollout, kubectl(opts.context), 30_000);
      if ("error" in status) {
        if (interrupted?.aborted) return; // the signal's exit code says it all
        io.stderr(`error: ${status.error}\n`);
        setExit(EXIT_UNREACHABLE);
        return;
      }
      const context = opts.context ? `kube context ${opts.context}` : "the current kube context";
      io.stdout(opts.json ? JSON.stringify(statusJson(status), null, 2) + "\n" : renderStatusText(status, context));
      setExit(status.inSync ? EXIT_OK : EXIT_RULE_FAILED);
    });

  program
    .command("discover")
    .description(
      "read a running mesh and write a rollout file for it: namespaces, workloads, Services, PeerAuthentications, proposed stages",
    )
    .option("--context <name>", "the kubeconfig context (default: the current one)", contextName)
    .option(
      "--namespace <name>",
      "only this namespace; repeat for more (default: all but kube-system, kube-public, kube-node-lease and the mesh root)",
      namespaceName,
    )
    .option("--mesh-root <namespace>", "Istio's root namespace, where mesh-wide policies live", "istio-system")
    .option(
      "--prometheus <url>",
      "read who calls whom from Istio's metrics in this Prometheus: calls, and plaintext callers",
      prometheusUrl,
    )
    .option("--window <seconds>", "how far back the Prometheus traffic counts (default 86400: a day)", positiveInt("--window", 30 * 86400))
    .option("-o, --output <file>", "write the rollout file here instead of to stdout")
    .exitOverride()
    .action(
      async (opts: { context?: string; namespace?: string[]; meshRoot: string; prometheus?: string; window?: number; output?: string }) => {
        if (!dns1123Label.safeParse(opts.meshRoot).success) {
          throw new InputError([{ path: "--mesh-root", message: `must be a namespace name (got ${JSON.stringify(opts.meshRoot)})` }]);
        }
        if (opts.window !== undefined && !opts.prometheus) {
          throw new InputError([{ path: "--window", message: "only counts with --prometheus, which reads the traffic" }]);
        }
        const result = await discover({
          runner: kubectl(opts.context),
          meshRootNamespace: opts.meshRoot,
          namespaces: opts.namespace && [...new Set(opts.namespace)].sort(),
          context: opts.context,
          prometheus: opts.prometheus ? { url: opts.prometheus, windowSeconds: opts.window ?? 86400 } : undefined,
          callTimeoutMs: 30_000,
        });
        if ("error" in result) {
          if (interrupted?.aborted) return; // the signal's exit code says it all
          if (result.kind === "input") throw new InputError([{ path: "", message: result.error }]);
          io.stderr(`error: ${result.error}\n`);
          setExit(EXIT_UNREACHABLE);
          return;
        }
        if (opts.output) writeFileAtomically(opts.output, result.yaml);
        else io.stdout(result.yaml);
        io.stderr(`${result.summary}${opts.output ? `; written to ${opts.output}` : ""}\n`);
        setExit(EXIT_OK);
      },
    );

  return program;
}

/** The whole file or nothing: a reader never sees half a rollout. */
function writeFileAtomically(file: string, text: string) {
  const temp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.tmp`);
  try {
    fs.writeFileSync(temp, text, { flag: "wx" });
    fs.renameSync(temp, file);
  } catch (err) {
    fs.rmSync(temp, { force: true });
    throw new InputError([
      {
        path: "--output",
        message: `${JSON.stringify(file)} cannot be written (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`,
      },
    ]);
  }
}

/**
 * Every byte the CLI prints passes here: descriptions, reasons, names from a cluster and kubectl's own errors are
 * shown, never obeyed by the terminal. JSON stays valid (a `\uXXXX` escape means the same character in a JSON
 * string); the one carriage return kept is the one that starts the progress line.
 */
function printable(io: Io): Io {
  const clean = (text: string) => (text.startsWith("\r") ? `\r${terminalSafe(text.slice(1))}` : terminalSafe(text));
  return { ...io, stdout: (text) => io.stdout(clean(text)), stderr: (text) => io.stderr(clean(text)) };
}

/** Runs the CLI; returns the exit code instead of exiting, so tests can run it in-process. */
export async function main(argv: string[], rawIo: Io = processIo): Promise<number> {
  const io = printable(rawIo);
  let code = EXIT_OK;
  // A signal ends every kubectl call; the command reports what it has, and the exit code is the signal's.
  const interrupt = io.watchSignals ? watchInterrupts(io.env.MTLS_ROLLOUT_END_WITH_PARENT === "1") : undefined;
  const program = buildCli(io, (c) => (code = c), interrupt?.signal);
  try {
    await program.parseAsync(argv, { from: "user" });
    return interrupt?.exitCode() ?? code;
  } catch (err) {
    if (err instanceof InputError) {
      for (const line of err.lines()) io.stderr(`error: ${line}\n`);
      return EXIT_BAD_INPUT;
    }
    if (err instanceof CommanderError) {
      // Help and version are successes; every other parse failure is bad input.
      return err.exitCode === 0 ? EXIT_OK : EXIT_BAD_INPUT;
    }
    throw err;
  } finally {
    interrupt?.dispose();
  }
}
