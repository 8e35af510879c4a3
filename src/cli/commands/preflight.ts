import { withoutCredentials } from "../../cluster/prometheus";
import { buildPlan } from "../../model/plan";
import { gateExitCode, gateSummary, renderGateText } from "../../preflight/report";
import { runPreflight } from "../../preflight/run";
import { LAB_ROLLOUT_PATH, loadRollout } from "../../rollout/load";
import { UNBOUNDED } from "../../render/textTable";
import type { CommandContext } from "../command";
import { withOptionNames } from "../options";
import { stageBefore } from "../../model/stages";
import { contextText } from "../../model/text";

export interface PreflightOptions {
  stage: string;
  previous?: string;
  rollout?: string;
  context?: string;
  window?: number;
  prometheus?: string;
  since?: number;
  json?: boolean;
  wide?: boolean;
}

export async function preflight(opts: PreflightOptions, { io, setExit, signal, kubectl }: CommandContext): Promise<void> {
  const rollout = loadRollout(opts.rollout);
  const source = opts.rollout ?? LAB_ROLLOUT_PATH;
  const plan = withOptionNames(() => buildPlan(rollout, opts.stage), source);
  const previous = opts.previous ?? stageBefore(rollout, plan.stage) ?? "none";
  if (previous !== "none" && previous !== "live") withOptionNames(() => buildPlan(rollout, previous), source, "--previous");
  // Prometheus holds history: a long look-back also catches callers that come only now and then.
  const windowSeconds = opts.window ?? (opts.prometheus ? 3600 : 60);
  const where = contextText(opts.context);
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
        if (liveError || targets.length === 0) return io.stderr(`${what}: ${liveError ? "no evidence to read" : "nothing turns STRICT"}\n`);
        const reading = opts.prometheus
          ? `asking Prometheus ${withoutCredentials(opts.prometheus)} for the plaintext of the last ${windowSeconds}s`
          : `reading their sidecars now and again in ${windowSeconds}s (at ${new Date(Date.now() + windowSeconds * 1000).toISOString().slice(11, 19)} UTC)`;
        io.stderr(`${what}: ${targets.length} workload${targets.length === 1 ? "" : "s"} turn STRICT; ${reading}\n`);
      },
    },
    { windowSeconds, callTimeoutMs: 20_000, signal, ...(opts.since !== undefined ? { since: opts.since } : {}) },
  );
  io.stdout(
    opts.json
      ? JSON.stringify({ ...result, summary: gateSummary(result) }, null, 2) + "\n"
      : renderGateText(result, { style: io.style ?? UNBOUNDED, wide: opts.wide }),
  );
  setExit(gateExitCode(result));
}
