// Parsers of the command line's values: each refuses a bad value with the option's name and the value, before a
// command loads the rollout or calls the cluster.
import type { Command } from "commander";
import type { readStackFile as ReadStackFile } from "./stackFile";
import { InputError } from "../model/errors";
import { isDns1123Label } from "../model/nameRules";
import { withoutCredentials } from "../cluster/credentials";

export function positiveInt(name: string, max: number) {
  return (value: string): number => {
    const n = Number(value);
    if (!/^\d+$/.test(value) || n < 1 || n > max) {
      throw new InputError([{ path: name, message: `must be a whole number from 1 to ${max} (got ${JSON.stringify(value)})` }]);
    }
    return n;
  };
}

export function nonNegativeInt(name: string, max: number) {
  return (value: string): number => (value === "0" ? 0 : positiveInt(name, max)(value));
}

export function prometheusUrl(value: string, name = "--prometheus"): string {
  let url: URL | undefined;
  try {
    url = new URL(value);
  } catch {
    url = undefined;
  }
  if (url?.protocol !== "http:" && url?.protocol !== "https:") {
    // The value may hold a password: it is not repeated.
    throw new InputError([
      { path: name, message: `must be an http(s) URL (got ${url ? JSON.stringify(withoutCredentials(value)) : "a value that is no URL"})` },
    ]);
  }
  return value;
}

/**
 * The variable a Prometheus URL may come from instead of `--prometheus`: a URL with credentials on a command line
 * is seen by every user of the machine (`ps`), in a variable only by the process and its own user.
 */
export const PROMETHEUS_URL_VARIABLE = "MTLS_ROLLOUT_PROMETHEUS_URL";

/** `--prometheus`, else the variable; undefined when neither is set. */
export function prometheusFrom(option: string | undefined, env: NodeJS.ProcessEnv): string | undefined {
  if (option !== undefined) return option;
  const value = env[PROMETHEUS_URL_VARIABLE];
  return value ? prometheusUrl(value, `$${PROMETHEUS_URL_VARIABLE}`) : undefined;
}

export function namespaceName(value: string, previous: string[] | undefined): string[] {
  if (!isDns1123Label(value)) {
    throw new InputError([{ path: "--namespace", message: `must be a namespace name, a DNS-1123 label (got ${JSON.stringify(value)})` }]);
  }
  return [...(previous ?? []), value];
}

/** An RFC 3339 time, as the verification prints when it ended; epoch milliseconds. */
export function rfc3339(value: string): number {
  const ms = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/.test(value) ? Date.parse(value) : NaN;
  if (!Number.isFinite(ms) || ms > Date.now() + 60_000) {
    throw new InputError([{ path: "--since", message: `must be an RFC 3339 time, not in the future (got ${JSON.stringify(value)})` }]);
  }
  return ms;
}

export function contextName(value: string): string {
  if (!/^[^\s]{1,253}$/.test(value))
    throw new InputError([{ path: "--context", message: `must be a kubeconfig context name (got ${JSON.stringify(value)})` }]);
  return value;
}

export const STACK_HELP = "take --stage, --rollout and --context from this Pulumi stack's file, Pulumi.NAME.yaml (explicit options win)";

/** --stack's defaults, then --stage required: what every command that takes a stage does first. */
export function applyStack(command: Command, loadStackFileReader: () => typeof ReadStackFile): void {
  const opts = command.opts() as { stack?: string; stage?: string; rollout?: string; context?: string };
  const takes = (key: string) => command.options.some((o) => o.attributeName() === key);
  if (opts.stack) {
    const defaults = loadStackFileReader()(opts.stack, process.cwd());
    for (const key of ["stage", "rollout", "context"] as const) {
      if (opts[key] === undefined && defaults[key] !== undefined && takes(key)) command.setOptionValue(key, defaults[key]);
    }
  }
  // status takes a stage to compare with, and needs none.
  if (takes("stage") && command.opts().stage === undefined && command.name() !== "status") {
    throw new InputError([{ path: "--stage", message: "is required (or --stack NAME, whose stack file sets mtls-rollout:stage)" }]);
  }
}

/**
 * Runs a step of the model on a loaded rollout. The model names the stage as the stack config does (`stage`): on
 * the command line that is an option, named as such; every other problem is the rollout file's, prefixed with it
 * as the loader's own problems are.
 */
export function withOptionNames<T>(fn: () => T, source: string, option = "--stage"): T {
  try {
    return fn();
  } catch (err) {
    if (!(err instanceof InputError) || err.source) throw err;
    const options = err.problems.filter((p) => p.path === "stage").map((p) => ({ ...p, path: option }));
    if (options.length > 0) throw new InputError(options);
    throw new InputError(err.problems, source);
  }
}
