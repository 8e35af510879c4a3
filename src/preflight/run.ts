import { Before, GateResult, judgeTargets, Target, TargetEvidence, tightenedTargets } from "../model/preflight";
import type { Rollout } from "../model/rollout";
import { pause } from "../cluster/pause";
import { boundedRunner, KubectlRunner } from "../cluster/runner";
import { readLiveState } from "../cluster/readLive";
import { GateOptions, prometheusEvidence, sidecarEvidence } from "./gate";
import type { PrometheusAccess } from "../cluster/prometheus";

export interface PreflightSources {
  runner: KubectlRunner;
  /** Its credentials are sent as headers and never printed. */
  prometheus?: PrometheusAccess | string;
  fetch?: typeof fetch;
  /** Told what the gate watches before it starts reading, so a person knows what it waits for. */
  onTargets?: (targets: Target[]) => void;
  /** Told when the gate waits for traffic after the last verification to reach Prometheus. */
  onWait?: (seconds: number, lookbackSeconds: number) => void;
}

/** What the gate compares the stage with: a stage of the rollout, the cluster as it is, or a fresh mesh. */
export type Previous = { stage: string } | "live" | null;

/** The cluster could not be read for `--previous live`: no target can be told, so the gate has nothing to judge. */
export class LiveReadError extends Error {
  constructor(
    message: string,
    /** A setup problem (no context, unreachable, forbidden): bad input, not missing evidence. */
    readonly setup: boolean,
  ) {
    super(message);
    this.name = "LiveReadError";
  }
}

/** Istio's Prometheus addon scrapes every 15 s: two scrapes in a range, with room to spare. */
export const MINIMUM_LOOKBACK_SECONDS = 60;

/**
 * The Prometheus look-back: the window, or only the time since the last verification ended, whose own probes
 * sent plaintext on purpose; when that is too short for Prometheus to have scraped twice, wait until it is not.
 */
async function lookBackFrom(options: GateOptions, onWait?: (seconds: number, lookback: number) => void): Promise<GateOptions> {
  if (options.since === undefined) return options;
  const minimum = options.minimumLookbackSeconds ?? MINIMUM_LOOKBACK_SECONDS;
  const quiet = (Date.now() - options.since) / 1000;
  if (quiet >= options.windowSeconds) return options;
  if (quiet < minimum) {
    onWait?.(Math.ceil(minimum - quiet), minimum);
    await (options.sleep ?? ((ms: number) => pause(ms, options.signal)))((minimum - quiet) * 1000);
  }
  const since = Math.max(minimum, Math.floor((Date.now() - options.since) / 1000));
  return { ...options, windowSeconds: Math.min(options.windowSeconds, since) };
}

/** The gate for `stage`: evidence for every tightened target at once, then the verdicts. Throws LiveReadError. */
export async function runPreflight(
  rollout: Rollout,
  stage: string,
  previous: Previous,
  given: PreflightSources,
  options: GateOptions,
): Promise<GateResult> {
  // No call may outlive its timeout, whatever the runner does.
  const sources = { ...given, runner: boundedRunner(given.runner) };
  const label = previous === null ? null : previous === "live" ? "the cluster's live policies" : previous.stage;
  let before: Before = previous === "live" ? null : previous;
  if (previous === "live") {
    const live = await readLiveState(rollout, sources.runner, options.callTimeoutMs);
    if ("error" in live) throw new LiveReadError(`the cluster could not be read: ${live.error}`, live.setup === true);
    before = { live };
  }
  const targets = tightenedTargets(rollout, stage, before);
  given.onTargets?.(targets);
  const gate = sources.prometheus && targets.length > 0 ? await lookBackFrom(options, given.onWait) : options;
  const evidence = new Map<string, TargetEvidence>(
    await Promise.all(
      targets.map(async (t: Target): Promise<[string, TargetEvidence]> => [
        t.workload,
        sources.prometheus
          ? await prometheusEvidence(sources.prometheus, t, gate, sources.fetch)
          : await sidecarEvidence(sources.runner, t, gate),
      ]),
    ),
  );
  const acknowledged = rollout.stages.find((s) => s.name === stage)?.acknowledgePlaintext ?? [];
  return judgeTargets(stage, label, targets, evidence, acknowledged);
}
