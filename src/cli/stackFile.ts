/**
 * `--stack NAME`: the rollout file, stage, kube context and cluster UID a Pulumi stack is configured with, as
 * `pulumi config --json` resolves them where a Pulumi CLI answers (ESC environments included), else from its
 * stack file `Pulumi.NAME.yaml` in the project directory, so the CLI reports on the same rollout the stack
 * deploys (a stack name may be `org/project/stack`: its file is named after the last part).
 */
import { spawnSync } from "node:child_process";
import * as path from "node:path";

import { z } from "zod";
import { CONFIG_NAMESPACE } from "../config";
import { InputError } from "../model/errors";
import { isDns1123Label } from "../model/nameRules";
import { DEFAULT_YAML_LIMITS, parseBoundedYaml, readBoundedTextFile, YamlLimits } from "../rollout/boundedYaml";

const STACK_FILE_LIMITS: YamlLimits = { ...DEFAULT_YAML_LIMITS, maxBytes: 1024 * 1024, maxNodes: 100_000 };

export interface StackDefaults {
  stage?: string;
  /** Resolved against the project directory, as the program resolves it. */
  rollout?: string;
  context?: string;
  /** The cluster the stack is bound to (`mtls-rollout:clusterUid`). */
  clusterUid?: string;
}

const stackName = z.string().regex(/^[A-Za-z0-9_.\-/]{1,200}$/, "must be a stack name (letters, digits, '-', '_', '.', '/')");

/**
 * The stack's config as the Pulumi CLI resolves it (`pulumi config --json`: the stack file, and the ESC environments
 * it imports, which the file alone does not hold), where a Pulumi CLI answers; undefined otherwise (none installed, not
 * logged in to the backend). Secrets stay `[secret]`: none of the keys read here is one.
 */
function configFromPulumi(name: string, projectDir: string, env: NodeJS.ProcessEnv): Record<string, unknown> | undefined {
  const run = spawnSync(env.MTLS_ROLLOUT_PULUMI || "pulumi", ["config", "--json", "--stack", name], {
    cwd: projectDir,
    env,
    encoding: "utf8",
    timeout: 30_000,
    maxBuffer: 1024 * 1024,
    stdio: ["ignore", "pipe", "ignore"],
  });
  if (run.error || run.status !== 0) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(run.stdout);
  } catch {
    return undefined;
  }
  if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) return undefined;
  return Object.fromEntries(
    Object.entries(parsed as Record<string, { value?: unknown; secret?: boolean }>).flatMap(([k, v]) =>
      v && typeof v === "object" && !v.secret && typeof v.value === "string" ? [[k, v.value]] : [],
    ),
  );
}

export function readStackFile(name: string, projectDir: string, env: NodeJS.ProcessEnv = process.env): StackDefaults {
  if (!stackName.safeParse(name).success || name.split("/").includes("..")) {
    throw new InputError([{ path: "--stack", message: `must be a stack name (got ${JSON.stringify(name)})` }]);
  }
  const fromPulumi = configFromPulumi(name, projectDir, env);
  const file = fromPulumi
    ? `the config of stack ${name} (pulumi config --json)`
    : path.join(projectDir, `Pulumi.${name.split("/").pop()}.yaml`);
  let config: unknown = fromPulumi;
  if (!fromPulumi)
    try {
      // A stack file holds a few keys; it is read within the same bounds as a rollout file, and far smaller ones.
      const data = parseBoundedYaml(readBoundedTextFile(file, STACK_FILE_LIMITS.maxBytes), file, STACK_FILE_LIMITS);
      config = (data as { config?: unknown } | null)?.config ?? {};
    } catch (err) {
      if (err instanceof InputError) {
        throw new InputError(
          err.problems.map((p) => ({ path: "--stack", message: p.path ? `${file}: ${p.path}: ${p.message}` : `${file} ${p.message}` })),
        );
      }
      throw err;
    }
  if (config === null || typeof config !== "object" || Array.isArray(config)) {
    throw new InputError([{ path: "--stack", message: `${file}: config must be a mapping` }]);
  }
  const value = (key: string): string | undefined => {
    const v = (config as Record<string, unknown>)[`${CONFIG_NAMESPACE}:${key}`];
    if (v === undefined) return undefined;
    if (typeof v !== "string") throw new InputError([{ path: "--stack", message: `${file}: ${CONFIG_NAMESPACE}:${key} must be a string` }]);
    return v;
  };
  const stage = value("stage");
  if (stage !== undefined && !isDns1123Label(stage)) {
    throw new InputError([
      { path: "--stack", message: `${file}: ${CONFIG_NAMESPACE}:stage is not a stage name (got ${JSON.stringify(stage)})` },
    ]);
  }
  const rollout = value("rollout");
  return {
    ...(stage !== undefined ? { stage } : {}),
    ...(rollout !== undefined ? { rollout: path.resolve(projectDir, rollout) } : {}),
    ...(value("kubeContext") !== undefined ? { context: value("kubeContext") } : {}),
    ...(value("clusterUid") !== undefined ? { clusterUid: value("clusterUid") } : {}),
  };
}
