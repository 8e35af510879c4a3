import { GateResult, judgeTargets, Target, TargetEvidence, tightenedTargets } from "../model/preflight";
import type { Rollout } from "../model/rollout";
import type { KubectlRunner } from "../verify/runner";
import { GateOptions, prometheusEvidence, sidecarEvidence } from "./gate";

export interface PreflightSources {
  runner: KubectlRunner;
  prometheusUrl?: string;
  fetch?: typeof fetch;
}

/** The gate for `stage` against `previous`: evidence for every tightened target at once, then the verdicts. */
export async function runPreflight(
  rollout: Rollout,
  stage: string,
  previous: string | null,
  sources: PreflightSources,
  options: GateOptions,
): Promise<GateResult> {
  const targets = tightenedTargets(rollout, stage, previous);
  const evidence = new Map<string, TargetEvidence>(
    await Promise.all(
      targets.map(async (t: Target): Promise<[string, TargetEvidence]> => [
        t.workload,
        sources.prometheusUrl
          ? await prometheusEvidence(sources.prometheusUrl, t, options, sources.fetch)
          : await sidecarEvidence(sources.runner, t, options),
      ]),
    ),
  );
  const acknowledged = rollout.stages.find((s) => s.name === stage)?.acknowledgePlaintext ?? [];
  return judgeTargets(stage, previous, targets, evidence, acknowledged);
}
