import { Command, CommanderError } from "commander";
import { InputError } from "../model/errors";
import { buildPlan } from "../model/plan";
import { loadRollout } from "../rollout/load";
import { planJson, renderPlanText } from "./renderPlan";

export const EXIT_OK = 0;
export const EXIT_BAD_INPUT = 2;

export interface Io {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
}

const processIo: Io = {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
};

/** The model names its inputs as the stack config does (`stage`); on the command line they are options. */
function withOptionNames<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof InputError && !err.source) {
      throw new InputError(err.problems.map((p) => (p.path === "stage" ? { ...p, path: "--stage" } : p)));
    }
    throw err;
  }
}

function buildCli(io: Io, setExit: (code: number) => void): Command {
  const program = new Command("mtls-rollout")
    .description("Roll out Istio mutual TLS one safe stage at a time")
    .exitOverride()
    .configureOutput({ writeOut: io.stdout, writeErr: io.stderr });

  program
    .command("plan")
    .description("show what a stage means: its policies, the effective modes and the expected outcome of every edge")
    .requiredOption("--stage <name>", "the stage to plan")
    .option("--rollout <file>", "a rollout file (default: the lab in stages/lab.yaml)")
    .option("--json", "print one JSON object instead of tables")
    .exitOverride()
    .action((opts: { stage: string; rollout?: string; json?: boolean }) => {
      const plan = withOptionNames(() => buildPlan(loadRollout(opts.rollout), opts.stage));
      io.stdout(opts.json ? JSON.stringify(planJson(plan), null, 2) + "\n" : renderPlanText(plan));
      setExit(EXIT_OK);
    });

  return program;
}

/** Runs the CLI; returns the exit code instead of exiting, so tests can run it in-process. */
export async function main(argv: string[], io: Io = processIo): Promise<number> {
  let code = EXIT_OK;
  const program = buildCli(io, (c) => (code = c));
  try {
    await program.parseAsync(argv, { from: "user" });
    return code;
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
  }
}
