// Parsers of the command line's values: each refuses a bad value with the option's name and the value, before a
// command loads the rollout or calls the cluster.
import type { Command } from "commander";
import type { readStackFile as ReadStackFile } from "./stackFile";
import { InputError, type Problem } from "../model/errors";
import type { PrometheusAccess } from "../cluster/prometheus";
import { parseHeaderLines, prometheusAccessProblems } from "../cluster/prometheusAccess";
import { isDns1123Label } from "../model/nameRules";
import { withoutCredentials } from "../cluster/credentials";
import { bindingProblem, CLUSTER_UID } from "../cluster/clusterUid";
import type { KubectlRunner } from "../cluster/runner";

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

/** The variables the rest of a Prometheus access may come from: what the stack's Commands set, never on a command line. */
export const PROMETHEUS_VARIABLES = {
  token: "MTLS_ROLLOUT_PROMETHEUS_TOKEN",
  tokenFile: "MTLS_ROLLOUT_PROMETHEUS_TOKEN_FILE",
  headers: "MTLS_ROLLOUT_PROMETHEUS_HEADERS",
  caFile: "MTLS_ROLLOUT_PROMETHEUS_CA_FILE",
} as const;

/** The options of a command that reads Prometheus. */
export interface PrometheusOptions {
  prometheus?: string;
  prometheusTokenFile?: string;
  prometheusHeader?: string[];
  prometheusCaFile?: string;
}

/** Collects each `--prometheus-header`. */
export function headerLine(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

/**
 * `--prometheus` and its companions, each else its variable (empty is unset, as the stack's Commands set what they
 * leave out); undefined when no URL is given. Every problem is bad input, found before the cluster is called.
 */
export function prometheusFrom(opts: PrometheusOptions, env: NodeJS.ProcessEnv): PrometheusAccess | undefined {
  const variable = (name: string) => (env[name] ? env[name] : undefined);
  const url = opts.prometheus ?? variable(PROMETHEUS_URL_VARIABLE);
  const problems: Problem[] = [];
  if (url === undefined) {
    const given = (["prometheusTokenFile", "prometheusHeader", "prometheusCaFile"] as const).filter((k) => opts[k] !== undefined);
    const flag = (k: string) => `--${k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
    if (given.length > 0) throw new InputError(given.map((k) => ({ path: flag(k), message: "only counts with --prometheus" })));
    return undefined;
  }
  const headerLines = opts.prometheusHeader ?? variable(PROMETHEUS_VARIABLES.headers)?.split(/\r?\n/);
  const headersFrom = opts.prometheusHeader !== undefined ? "--prometheus-header" : `$${PROMETHEUS_VARIABLES.headers}`;
  const headers = headerLines ? parseHeaderLines(headerLines, headersFrom, problems) : undefined;
  const token = variable(PROMETHEUS_VARIABLES.token);
  const tokenFile = opts.prometheusTokenFile ?? variable(PROMETHEUS_VARIABLES.tokenFile);
  const caFile = opts.prometheusCaFile ?? variable(PROMETHEUS_VARIABLES.caFile);
  const access: PrometheusAccess = {
    url,
    ...(token !== undefined ? { token } : {}),
    ...(tokenFile !== undefined ? { tokenFile } : {}),
    ...(headers && Object.keys(headers).length > 0 ? { headers } : {}),
    ...(caFile !== undefined ? { caFile } : {}),
  };
  problems.push(
    ...prometheusAccessProblems(access, {
      url: opts.prometheus !== undefined ? "--prometheus" : `$${PROMETHEUS_URL_VARIABLE}`,
      token: `$${PROMETHEUS_VARIABLES.token}`,
      tokenFile: opts.prometheusTokenFile !== undefined ? "--prometheus-token-file" : `$${PROMETHEUS_VARIABLES.tokenFile}`,
      headers: headersFrom,
      caFile: opts.prometheusCaFile !== undefined ? "--prometheus-ca-file" : `$${PROMETHEUS_VARIABLES.caFile}`,
    }),
  );
  if (problems.length > 0) throw new InputError(problems);
  return access;
}

export function namespaceName(value: string, previous: string[] | undefined): string[] {
  if (!isDns1123Label(value)) {
    throw new InputError([{ path: "--namespace", message: `must be a namespace name, a DNS-1123 label (got ${JSON.stringify(value)})` }]);
  }
  return [...(previous ?? []), value];
}

/** An RFC 3339 time, as the verification prints when it ended; epoch milliseconds. */
/** `--since`: an RFC 3339 time, or `recorded`: when the verification the cluster records ended. */
export function sinceOption(value: string): number | "recorded" {
  return value === "recorded" ? value : rfc3339(value);
}

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

export const STACK_HELP =
  "take --stage, --rollout, --context and --cluster-uid from this Pulumi stack's file, Pulumi.NAME.yaml (explicit options win)";

export const CLUSTER_UID_HELP =
  "the UID of the kube-system namespace of the cluster this rollout is bound to (discover prints it): nothing is read from another (default: $MTLS_ROLLOUT_CLUSTER_UID)";

export function clusterUidOption(value: string): string {
  if (!CLUSTER_UID.test(value))
    throw new InputError([
      { path: "--cluster-uid", message: `must be a namespace UID such as 3f1c…-…, as discover prints it (got ${JSON.stringify(value)})` },
    ]);
  return value;
}

/**
 * Where a command must check the cluster first: the UID given (option, stack file, or $MTLS_ROLLOUT_CLUSTER_UID,
 * which the stack's Commands set), checked against the cluster the context reaches. Exit 2 on a mismatch.
 */
export async function checkBinding(
  runner: KubectlRunner,
  given: string | undefined,
  env: Record<string, string | undefined>,
  where: string,
): Promise<void> {
  const fromEnv = env.MTLS_ROLLOUT_CLUSTER_UID;
  const expected = given ?? (fromEnv ? fromEnv : undefined);
  if (expected === undefined) return;
  if (!CLUSTER_UID.test(expected))
    throw new InputError([
      {
        path: given !== undefined ? "--cluster-uid" : "MTLS_ROLLOUT_CLUSTER_UID",
        message: `must be a namespace UID (got ${JSON.stringify(expected)})`,
      },
    ]);
  const problem = await bindingProblem(runner, expected, 10_000, where);
  if (problem) throw new InputError([{ path: "", message: problem }]);
}

/** --stack's defaults, then --stage required: what every command that takes a stage does first. */
export function applyStack(command: Command, loadStackFileReader: () => typeof ReadStackFile): void {
  const opts = command.opts() as { stack?: string; stage?: string; rollout?: string; context?: string; clusterUid?: string };
  const takes = (key: string) => command.options.some((o) => o.attributeName() === key);
  if (opts.stack) {
    const defaults = loadStackFileReader()(opts.stack, process.cwd());
    for (const key of ["stage", "rollout", "context", "clusterUid"] as const) {
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
