import { isDormant, policyOf } from "../manifests/parse";
import { Before, GateResult, judgeTargets, Target, TargetEvidence, tightenedTargets } from "../model/preflight";
import type { PeerAuthentication, Rollout } from "../model/rollout";
import { getList } from "../cluster/kubectlGet";
import { peerAuthenticationObjectSchema } from "../cluster/objects";
import { pause } from "../cluster/pause";
import { boundedRunner, KubectlRunner } from "../cluster/runner";
import { GateOptions, prometheusEvidence, sidecarEvidence } from "./gate";

export interface PreflightSources {
  runner: KubectlRunner;
  prometheusUrl?: string;
  fetch?: typeof fetch;
  /** Told what the gate watches before it starts reading, so a person knows what it waits for. */
  onTargets?: (targets: Target[], liveError?: string) => void;
  /** Told when the gate waits for traffic after the last verification to reach Prometheus. */
  onWait?: (seconds: number, lookbackSeconds: number) => void;
}

/** What the gate compares the stage with: a stage of the rollout, the cluster's live policies, or a fresh mesh. */
export type Previous = { stage: string } | "live" | null;

export const LIVE_POLICIES_ARGS = ["get", "peerauthentications.security.istio.io", "--all-namespaces", "-o", "json"];

/** The PeerAuthentications the cluster enforces now (dormant ones left out, as they change nothing). */
export async function livePolicies(runner: KubectlRunner, timeoutMs: number): Promise<PeerAuthentication[] | { error: string }> {
  const read = await getList(runner, LIVE_POLICIES_ARGS, peerAuthenticationObjectSchema, timeoutMs);
  if ("error" in read) return { error: `the cluster's PeerAuthentications could not be read: ${read.error}` };
  return read.items.flatMap((item) => {
    const pa = policyOf(item, `live ${item.metadata.namespace}/${item.metadata.name}`);
    return isDormant(item, pa) ? [] : [pa];
  });
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

/** The gate for `stage`: evidence for every tightened target at once, then the verdicts. */
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
  let liveError: string | undefined;
  if (previous === "live") {
    const live = await livePolicies(sources.runner, options.callTimeoutMs);
    if ("error" in live) liveError = live.error;
    else before = { policies: live };
  }
  const targets = tightenedTargets(rollout, stage, before);
  given.onTargets?.(targets, liveError);
  const gate = sources.prometheusUrl && targets.length > 0 && !liveError ? await lookBackFrom(options, given.onWait) : options;
  const evidence = new Map<string, TargetEvidence>(
    await Promise.all(
      targets.map(async (t: Target): Promise<[string, TargetEvidence]> => [
        t.workload,
        liveError
          ? { error: liveError }
          : sources.prometheusUrl
            ? await prometheusEvidence(sources.prometheusUrl, t, gate, sources.fetch)
            : await sidecarEvidence(sources.runner, t, gate),
      ]),
    ),
  );
  const acknowledged = rollout.stages.find((s) => s.name === stage)?.acknowledgePlaintext ?? [];
  return judgeTargets(stage, label, targets, evidence, acknowledged);
}
