// The command line: its options, help and exit codes. Each command's work lives in ./commands, loaded only when a
// command runs: `--help`, `--version` and a bad option answer in a fraction of the time the model takes to load.
import { Command, CommanderError, Option } from "commander";
import * as fs from "node:fs";
import * as path from "node:path";
import { kubectlRunner } from "../cluster/runner";
import { InputError } from "../model/errors";
import { terminalSafe } from "../model/text";
import { SUMMARY_ROWS } from "../render/summary";
import { TABLE_COLOURS, textStyleOf } from "../render/textTable";
import { EXIT_BAD_INPUT, EXIT_OK, type CommandContext, type Io } from "./command";
import { watchInterrupts } from "./interrupt";
import {
  applyStack,
  CLUSTER_UID_HELP,
  clusterUidOption,
  contextName,
  headerLine,
  namespaceName,
  nonNegativeInt,
  positiveInt,
  prometheusUrl,
  sinceOption,
  STACK_HELP,
} from "./options";

/** Beyond this many rows a table is summarised (src/render/summary.ts). */
const WIDE_HELP = `every row of every table; by default more than ${SUMMARY_ROWS} rows are summarised by namespace`;

const processIo: Io = {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
  interactive: Boolean(process.stderr.isTTY),
  watchSignals: true,
  env: process.env,
  style: textStyleOf(process.stdout, process.env),
};

export type Commands = typeof import("./commands");

/** A require, not an import(): lazy under tsx's CommonJS hook and in the build alike. */
const requireCommands = (): Commands => require("./commands");

/** This package's version; two levels up, as from the build in dist/cli. */
function packageVersion(): string {
  return (JSON.parse(fs.readFileSync(path.join(__dirname, "..", "..", "package.json"), "utf8")) as { version: string }).version;
}

const PROGRAM_HELP = `
Exit codes:
  0        done: printed, passed, clear, verified, in sync
  1        a mandatory rule failed, plaintext still arrives, an edge contradicts, the cluster drifted
  2        bad input: an option, the rollout file or the stack file, one line per problem
  3        no evidence: the cluster or Prometheus could not be read, or the run was inconclusive
  70       internal error
  129-143  ended by a signal: 130 Ctrl-C, 143 SIGTERM, 129 SIGHUP

Environment:
  KUBECTL                      the kubectl executable that every cluster read and probe runs (default: kubectl on the PATH)
  MTLS_ROLLOUT_PROMETHEUS_URL  the Prometheus of preflight and discover when --prometheus is not given: a URL with
                               credentials stays off the command line, where every user of the machine sees it
  MTLS_ROLLOUT_PROMETHEUS_TOKEN       a bearer token for it (the token itself; never on a command line)
  MTLS_ROLLOUT_PROMETHEUS_TOKEN_FILE  the same as --prometheus-token-file
  MTLS_ROLLOUT_PROMETHEUS_HEADERS     "Name: value" lines sent with every query, when no --prometheus-header is given
  MTLS_ROLLOUT_PROMETHEUS_CA_FILE     the same as --prometheus-ca-file

Run the local copy only: npx --no-install mtls-rollout COMMAND --help`;

/** The "Exit codes:" block of a command's help, and a closing line. */
function exitCodes(lines: string[], more?: string): string {
  return `\nExit codes:\n${lines.map((l) => `  ${l}`).join("\n")}\n${more ? `\n${more}\n` : ""}`;
}

/** How a Prometheus behind authentication, a tenant header or a private CA is reached (preflight and discover). */
const prometheusTokenFileOption = new Option(
  "--prometheus-token-file <file>",
  "send the bearer token in this file (read at every query: a service account's projected token rotates)",
);
const prometheusHeaderOption = () =>
  new Option(
    "--prometheus-header <header>",
    '"Name: value" sent with every query, e.g. "X-Scope-OrgID: team-a" for a Mimir, Cortex or Thanos tenant; repeat for more (a secret one belongs in $MTLS_ROLLOUT_PROMETHEUS_HEADERS)',
  ).argParser(headerLine);
const prometheusCaFileOption = new Option(
  "--prometheus-ca-file <file>",
  "trust the CA certificates in this PEM file for an https Prometheus, instead of Node's bundled ones",
);

const KUBECTL_HELP = "Every cluster call runs $KUBECTL (default: kubectl on the PATH).";

const ROLLOUT_HELP = "a rollout file (default: the lab in stages/lab.yaml)";
const CONTEXT_HELP = "the kubeconfig context (default: the current one)";

function buildCli(context: CommandContext, load: () => Commands): Command {
  const program = new Command("mtls-rollout")
    .description("Roll out Istio mutual TLS one safe stage at a time")
    .version(packageVersion(), "-V, --version", "print the version")
    .addHelpText("after", PROGRAM_HELP)
    .hook("preAction", (_program, command) => applyStack(command, () => load().readStackFile))
    .exitOverride()
    .configureOutput({ writeOut: context.io.stdout, writeErr: context.io.stderr });

  program
    .command("plan")
    .description("show what a stage means: its policies, the effective modes and the expected outcome of every edge")
    .option("--stage <name>", "the stage to plan (required, unless --stack sets it)")
    .option("--stack <name>", STACK_HELP)
    .option("--rollout <file>", ROLLOUT_HELP)
    .addOption(new Option("--format <format>", "text: tables; json: the plan as one JSON object").choices(["text", "json"]).default("text"))
    .option("--json", "the same as --format json")
    .option("--wide", WIDE_HELP)
    .addHelpText(
      "after",
      exitCodes(["0  the plan is printed", "2  bad input"], "The pull-request report of what a stage changes: mtls-rollout report."),
    )
    .exitOverride()
    .action((opts) => load().plan(opts, context));

  program
    .command("report")
    .description("the pull-request report: what a stage changes against the stage the cluster is at, as Markdown or JSON")
    .option("--stage <name>", "the stage to report on (required, unless --stack sets it)")
    .option("--stack <name>", STACK_HELP)
    .option("--rollout <file>", ROLLOUT_HELP)
    .option("--previous <stage>", "the stage to compare with (default: the one before; none: a fresh mesh)")
    .addOption(
      new Option("--format <format>", "markdown, or json: the same content as data").choices(["markdown", "json"]).default("markdown"),
    )
    .option("--json", "the same as --format json")
    .option("--wide", "every row and the whole graph; by default a large stage is summarised to fit a pull-request comment")
    .addHelpText("after", exitCodes(["0  the report is printed", "2  bad input"]))
    .exitOverride()
    .action((opts) => load().report(opts, context));

  program
    .command("check")
    .description("check every stage of a rollout against the guardrail rules; exit 1 when a mandatory rule fails")
    .option("--rollout <file>", ROLLOUT_HELP)
    .option("--stack <name>", STACK_HELP)
    .option(
      "--previous-file <file>",
      "the rollout as a stack may be running it (the base branch's): a policy it has in force at a stage must be retired there, not dropped",
    )
    .option(
      "--previous-stage <name>",
      "with --previous-file: the stage the stack runs it at; a later stage's policies (dormant) may be dropped",
    )
    .option("--json", "print one JSON object: the violations, the number blocking, the warnings")
    .addHelpText("after", exitCodes(["0  no mandatory rule fails", "1  a mandatory rule fails", "2  bad input"]))
    .exitOverride()
    .action((opts) => load().check(opts, context));

  program
    .command("preflight")
    .description("before a stage tightens workloads to STRICT: check that they no longer receive plaintext")
    .option("--stage <name>", "the stage about to be applied (required, unless --stack sets it)")
    .option("--stack <name>", STACK_HELP)
    .option("--previous <stage>", "what the cluster is at: a stage (default: the one before), live (read its policies), or none")
    .option("--rollout <file>", ROLLOUT_HELP)
    .option("--context <name>", CONTEXT_HELP, contextName)
    .option("--cluster-uid <uid>", CLUSTER_UID_HELP, clusterUidOption)
    .option(
      "--window <seconds>",
      "how long to watch for plaintext: the sidecars are read this far apart (default 60); Prometheus looks this far back (default 3600)",
      positiveInt("--window", 86400),
    )
    .option("--prometheus <url>", "read Istio's metrics from this Prometheus instead of the sidecars", prometheusUrl)
    .addOption(prometheusTokenFileOption)
    .addOption(prometheusHeaderOption())
    .addOption(prometheusCaFileOption)
    .option(
      "--since <time>",
      "with --prometheus: count no traffic before this RFC 3339 time, or `recorded`: the end of the last verification the cluster records (its probes send plaintext on purpose)",
      sinceOption,
    )
    .option("--json", "print one JSON object instead of a table")
    .option("--wide", WIDE_HELP)
    .addHelpText(
      "after",
      exitCodes(
        [
          "0  clear: no plaintext reaches a workload about to go STRICT",
          "1  plaintext still arrives",
          "2  bad input, or a setup error (no such context, cluster unreachable, not permitted)",
          "3  no evidence",
        ],
        KUBECTL_HELP,
      ),
    )
    .exitOverride()
    .action((opts) => load().preflight(opts, context));

  program
    .command("verify")
    .description("probe every expectation edge of a stage on the cluster and compare with the model")
    .option("--stage <name>", "the stage to verify (required, unless --stack sets it)")
    .option("--stack <name>", STACK_HELP)
    .option("--rollout <file>", ROLLOUT_HELP)
    .option("--context <name>", CONTEXT_HELP, contextName)
    .option("--cluster-uid <uid>", CLUSTER_UID_HELP, clusterUidOption)
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
      "--record",
      "after a pass, record when it ended in the cluster (ConfigMap mtls-rollout-verified in the mesh root), for the next stage's gate",
    )
    .option(
      "--require-calls",
      "a declared call without traffic during the run makes the verification inconclusive (default: reported only)",
    )
    .option("--json", "print one JSON object instead of a table")
    .option("--wide", WIDE_HELP)
    .addHelpText(
      "after",
      exitCodes(
        [
          "0  every edge holds (or is unverifiable and acknowledged by the stage)",
          "1  an edge contradicts the model",
          "2  bad input or a setup error",
          "3  inconclusive, or unverifiable without an acknowledgement",
        ],
        KUBECTL_HELP,
      ),
    )
    .exitOverride()
    .action((opts) => load().verify(opts, context));

  program
    .command("status")
    .description("which stage of the rollout the cluster is at, what differs, and every workload's live mode beside the expected one")
    .option("--rollout <file>", ROLLOUT_HELP)
    .option("--stack <name>", STACK_HELP)
    .option("--stage <name>", "the stage the cluster should be at: in sync only there (--stack sets it to the stack's stage)")
    .option("--context <name>", CONTEXT_HELP, contextName)
    .option("--cluster-uid <uid>", CLUSTER_UID_HELP, clusterUidOption)
    .option("--json", "print one JSON object instead of tables")
    .option("--wide", WIDE_HELP)
    .option("--policies-only", "exit 0 when the cluster's policies are exactly the stage's (--stage or --stack), whatever the live modes")
    .option(
      "--stage-digest <digest>",
      "refuse (exit 2) a rollout file whose stage puts other policies in force than this digest says (the destroy guard's)",
    )
    .option(
      "--written-by <stacks>",
      "with --policies-only, the stacks (organization/project/stack, comma-separated) whose extra policies count; others' do not",
    )
    .addHelpText(
      "after",
      exitCodes(
        [
          "0  in sync: the policies are exactly a stage's (the one --stage or --stack names) and every live mode is as it expects (with --policies-only: the policies alone)",
          "1  drift",
          "2  bad input, or a setup error (no such context, cluster unreachable, not permitted)",
          "3  the cluster's answer was incomplete or not usable",
          "4  with --policies-only: the cluster's policies are not the stage's (an adopted one gone, and an extra one no stack of --written-by wrote, do not count)",
        ],
        KUBECTL_HELP,
      ),
    )
    .exitOverride()
    .action((opts) => load().status(opts, context));

  program
    .command("discover")
    .description(
      "read a running mesh and write a rollout file for it: namespaces, workloads, Services, PeerAuthentications, proposed stages",
    )
    .option("--context <name>", CONTEXT_HELP, contextName)
    .option(
      "--namespace <name>",
      "only this namespace; repeat for more (default: all but kube-system, kube-public, kube-node-lease and the mesh root)",
      namespaceName,
    )
    .option(
      "--mesh-root <namespace>",
      "Istio's root namespace, where mesh-wide policies live (default: the mesh config's rootNamespace, read in istio-system, else istio-system)",
    )
    .option(
      "--prometheus <url>",
      "read who calls whom from Istio's metrics in this Prometheus: calls, and plaintext callers",
      prometheusUrl,
    )
    .addOption(prometheusTokenFileOption)
    .addOption(prometheusHeaderOption())
    .addOption(prometheusCaFileOption)
    .option("--window <seconds>", "how far back the Prometheus traffic counts (default 86400: a day)", positiveInt("--window", 30 * 86400))
    .option("-o, --output <file>", "write the rollout file here instead of to stdout")
    .option(
      "--rollout <file>",
      "the rollout of the stack that manages this cluster: written back with the cluster's facts and the stage it is at, nothing proposed",
    )
    .addHelpText(
      "after",
      exitCodes(
        [
          "0  written",
          "2  bad input, or a setup error (no such context, cluster unreachable, not permitted)",
          "3  the cluster's or Prometheus' answer could not be used, or the mesh is more than a rollout can hold",
        ],
        KUBECTL_HELP,
      ),
    )
    .exitOverride()
    .action((opts) => load().discover(opts, context));

  return program;
}

/**
 * Every byte the CLI prints passes here: descriptions, reasons, names from a cluster and kubectl's own errors are
 * shown, never obeyed by the terminal. JSON stays valid (a `\uXXXX` escape means the same character in a JSON
 * string); the one carriage return kept is the one that starts the progress line.
 */
function printable(io: Io): Io {
  // With colour on, the colours textTable gives outcomes pass (it escapes each cell itself before colouring it).
  const safe = io.style?.color
    ? (text: string) =>
        text
          .split(TABLE_COLOURS)
          .map((part, i) => (i % 2 ? part : terminalSafe(part)))
          .join("")
    : terminalSafe;
  const clean = (text: string) => (text.startsWith("\r") ? `\r${safe(text.slice(1))}` : safe(text));
  return { ...io, stdout: (text) => io.stdout(clean(text)), stderr: (text) => io.stderr(clean(text)) };
}

/**
 * Runs the CLI; returns the exit code instead of exiting, so tests can run it in-process (passing the commands
 * they imported: vitest's loader does not serve a require).
 */
export async function main(argv: string[], rawIo: Io = processIo, load: () => Commands = requireCommands): Promise<number> {
  const io = printable(rawIo);
  let code = EXIT_OK;
  // A signal ends every kubectl call; the command reports what it has, and the exit code is the signal's.
  const interrupt = io.watchSignals ? watchInterrupts(io.env.MTLS_ROLLOUT_END_WITH_PARENT === "1") : undefined;
  const signal = interrupt?.signal;
  const program = buildCli(
    {
      io,
      setExit: (c) => (code = c),
      signal,
      kubectl: (context) => kubectlRunner(io.env.KUBECTL || "kubectl", { context, signal, env: io.env }),
    },
    load,
  );
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
