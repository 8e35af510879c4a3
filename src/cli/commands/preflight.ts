import { withoutCredentials } from "../../cluster/prometheus";
import { buildPlan } from "../../model/plan";
import { EXIT_NO_EVIDENCE, gateExitCode, gateSummary, renderGateText } from "../../preflight/report";
import { LiveReadError, runPreflight } from "../../preflight/run";
import type { GateResult } from "../../model/preflight";
import { LAB_ROLLOUT_PATH, loadRollout } from "../../rollout/load";
import { UNBOUNDED } from "../../render/textTable";
import { EXIT_BAD_INPUT, type CommandContext } from "../command";
import { checkBinding, prometheusFrom, withOptionNames } from "../options";
import { readVerified } from "../../cluster/verifiedRecord";
import { stageBefore } from "../../model/stages";
import { contextText } from "../../model/text";

export interface PreflightOptions {
  stage: string;
  previous?: string;
  rollout?: string;
  context?: string;
  clusterUid?: string;
  window?: number;
  prometheus?: string;
  prometheusTokenFile?: string;
  prometheusHeader?: string[];
  prometheusCaFile?: string;
  /** Count no traffic before this time (epoch ms), or before the verification the cluster records (`recorded`). */
  since?: number | "recorded";
  json?: boolean;
  wide?: boolean;
}

export async function preflight(opts: PreflightOptions, { io, setExit, signal, kubectl }: CommandContext): Promise<void> {
  const rollout = loadRollout(opts.rollout);
  const source = opts.rollout ?? LAB_ROLLOUT_PATH;
  const plan = withOptionNames(() => buildPlan(rollout, opts.stage), source);
  const previous = opts.previous ?? stageBefore(rollout, plan.stage) ?? "none";
  if (previous !== "none" && previous !== "live") withOptionNames(() => buildPlan(rollout, previous), source, "--previous");
  const prometheus = prometheusFrom(opts, io.env);
  // Prometheus holds history: a long look-back also catches callers that come only now and then.
  const windowSeconds = opts.window ?? (prometheus ? 3600 : 60);
  const where = contextText(opts.context);
  const runner = kubectl(opts.context);
  await checkBinding(runner, opts.clusterUid, io.env, where);
  let since = opts.since === "recorded" ? undefined : opts.since;
  if (opts.since === "recorded" && prometheus) {
    const recorded = await readVerified(runner, rollout.meshRootNamespace, 20_000);
    if ("error" in recorded) {
      if (signal?.aborted) return;
      // Without it the gate would count the last verification's own plaintext, or miss what came after: no evidence.
      io.stderr(`error: when the last verification ended cannot be told: ${recorded.error}\n`);
      setExit(recorded.setup ? EXIT_BAD_INPUT : EXIT_NO_EVIDENCE);
      return;
    }
    since = recorded.endedAt;
  }
  let result: GateResult;
  try {
    result = await runPreflight(
      rollout,
      plan.stage,
      previous === "none" ? null : previous === "live" ? "live" : { stage: previous },
      {
        runner,
        prometheus,
        onWait: (seconds, lookback) =>
          io.stderr(
            `preflight: the last verification ended ${lookback - seconds}s ago; waiting ${seconds}s so that Prometheus holds ${lookback}s of traffic since\n`,
          ),
        onTargets: (targets) => {
          const what = `preflight: stage ${plan.stage} against ${previous === "live" ? "the cluster's live policies" : previous} on ${where}`;
          if (targets.length === 0) return io.stderr(`${what}: nothing turns STRICT, nothing to read\n`);
          const reading = prometheus
            ? `asking Prometheus ${withoutCredentials(prometheus.url)} for the plaintext of the last ${windowSeconds}s`
            : `reading their sidecars now and again in ${windowSeconds}s (at ${new Date(Date.now() + windowSeconds * 1000).toISOString().slice(11, 19)} UTC)`;
          io.stderr(`${what}: ${targets.length} workload${targets.length === 1 ? "" : "s"} turn STRICT; ${reading}\n`);
        },
      },
      { windowSeconds, callTimeoutMs: 20_000, signal, ...(since !== undefined ? { since } : {}) },
    );
  } catch (err) {
    if (!(err instanceof LiveReadError)) throw err;
    if (signal?.aborted) return; // the signal's exit code says it all
    // Which workloads tighten cannot be told without the cluster: one line, not a row per workload.
    if (opts.json) io.stdout(JSON.stringify({ stage: plan.stage, outcome: "inconclusive", error: err.message }, null, 2) + "\n");
    io.stderr(`error: ${err.message}\n`);
    setExit(err.setup ? EXIT_BAD_INPUT : EXIT_NO_EVIDENCE);
    return;
  }
  io.stdout(
    opts.json
      ? JSON.stringify({ ...result, summary: gateSummary(result) }, null, 2) + "\n"
      : renderGateText(result, { style: io.style ?? UNBOUNDED, wide: opts.wide }),
  );
  setExit(gateExitCode(result));
}
