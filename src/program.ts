import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import * as path from "node:path";
import { RolloutStage } from "./components/rolloutStage";
import { parseStackConfig, StackConfig } from "./config";
import { InputError } from "./model/errors";
import { buildPlan, Plan } from "./model/plan";
import type { Rollout } from "./model/rollout";
import { loadRollout } from "./rollout/load";

export interface RolloutStackOutputs {
  stage: string;
  effectiveModes: Plan["workloads"];
  expectations: Plan["expectations"];
  calls: Plan["calls"];
}

/** Reads and checks everything the stack needs; throws InputError before any resource exists. */
export function planFromConfig(allConfig: Record<string, string>, projectDir: string): { config: StackConfig; rollout: Rollout; plan: Plan } {
  const config = parseStackConfig(allConfig);
  const rollout = loadRollout(config.rollout === undefined ? undefined : path.resolve(projectDir, config.rollout));
  try {
    return { config, rollout, plan: buildPlan(rollout, config.stage) };
  } catch (err) {
    if (err instanceof InputError) {
      throw new InputError(err.problems.map((p) => ({ ...p, path: p.path === "stage" ? "mtls-rollout:stage" : p.path })));
    }
    throw err;
  }
}

/** The Pulumi program: declares the chosen stage; returns the stack outputs and the stage component. */
export function defineRolloutStack(): { outputs: RolloutStackOutputs; resources: RolloutStage } {
  let planned: ReturnType<typeof planFromConfig>;
  try {
    planned = planFromConfig(pulumi.runtime.allConfig(), process.cwd());
  } catch (err) {
    // RunError ends the program with this message alone, without a stack trace.
    if (err instanceof InputError) throw new pulumi.RunError(err.lines().join("\n"));
    throw err;
  }
  const { config, rollout, plan } = planned;
  for (const warning of plan.warnings) pulumi.log.warn(`${warning.path}: ${warning.message}`);

  const provider = new k8s.Provider("kubernetes", { context: config.kubeContext });
  const resources = new RolloutStage("mtls-rollout", { rollout, plan, provider });

  return {
    outputs: { stage: plan.stage, effectiveModes: plan.workloads, expectations: plan.expectations, calls: plan.calls },
    resources,
  };
}
