import type { KubectlRunner } from "../../cluster/runner";
import { InputError } from "../../model/errors";
import { buildPlan } from "../../model/plan";
import { LAB_ROLLOUT_PATH, loadRollout } from "../../rollout/load";
import { EXIT_INCONCLUSIVE, exitCodeOf, renderVerificationText, verificationJson } from "../../verify/report";
import { readLiveState } from "../../cluster/readLive";
import { recordVerified } from "../../cluster/verifiedRecord";
import { liveModesAt, livePodsByWorkload } from "../../model/liveModes";
import { checkSetup } from "../../verify/setup";
import { probedEdges, verifyPlan } from "../../verify/verifier";
import { UNBOUNDED } from "../../render/textTable";
import type { CommandContext } from "../command";
import { checkBinding, withOptionNames } from "../options";
import { contextText } from "../../model/text";

/** Each setup check (is there a cluster, may we exec): well within the seconds a setup error should take. */
const SETUP_CALL_TIMEOUT_MS = 4_000;
/** Each list read of the live state: a large cluster's pods take seconds to list. */
const LIVE_READ_TIMEOUT_MS = 30_000;

export interface VerifyCommandOptions {
  stage: string;
  rollout?: string;
  context?: string;
  clusterUid?: string;
  /** After a pass, record when it ended in the cluster for the next stage's gate (the stack's Command asks). */
  record?: boolean;
  requireCalls?: boolean;
  timeout: number;
  rounds: number;
  concurrency: number;
  settle: number;
  matrix: "classes" | "full";
  json?: boolean;
  wide?: boolean;
}

/** The name of the kubeconfig's current context, for the line that says where a run probes; undefined if kubectl cannot say. */
async function currentContext(runner: KubectlRunner): Promise<string | undefined> {
  const r = await runner(["config", "current-context"], 1_000);
  const name = r.exitCode === 0 ? r.stdout.trim() : "";
  return /^[^\s]{1,253}$/.test(name) ? name : undefined;
}

export async function verify(opts: VerifyCommandOptions, { io, setExit, signal, kubectl }: CommandContext): Promise<void> {
  // Rounds within the settle time do not count: one as long as the deadline would leave none that does.
  if (opts.settle >= opts.timeout) {
    throw new InputError([
      { path: "--settle", message: `must be shorter than --timeout (${opts.timeout}s), or no round counts (got ${opts.settle})` },
    ]);
  }
  const rollout = loadRollout(opts.rollout);
  const source = opts.rollout ?? LAB_ROLLOUT_PATH;
  const plan = withOptionNames(() => buildPlan(rollout, opts.stage), source);
  const runner = kubectl(opts.context);
  await checkBinding(runner, opts.clusterUid, io.env, contextText(opts.context));
  const probed = probedEdges(plan, new Map(rollout.workloads.map((w) => [w.ref, w])), opts.matrix).length;
  const probes = new Set(plan.expectations.map((e) => e.from)).size;
  const context = opts.context ?? (await currentContext(runner));
  io.stderr(
    `verify: stage ${plan.stage} on ${contextText(context)}: ` +
      `${plan.expectations.length} edges from ${probes} probe workload${probes === 1 ? "" : "s"}, ${probed} probed per round (--matrix ${opts.matrix}), deadline ${opts.timeout}s\n`,
  );
  let live: { differing: ReturnType<typeof liveModesAt>; pods: ReturnType<typeof livePodsByWorkload> } | undefined;
  if (plan.expectations.length > 0) {
    const problem = await checkSetup(runner, plan, rollout.workloads, SETUP_CALL_TIMEOUT_MS);
    if (problem && !signal?.aborted) throw new InputError([{ path: "", message: problem }]);
    // The cluster as the model reads it, before any probe: a stage it does not enforce cannot pass, whatever the
    // probes would happen to see.
    const state = await readLiveState(rollout, runner, LIVE_READ_TIMEOUT_MS);
    if (signal?.aborted) return;
    if ("error" in state) {
      if (state.setup) throw new InputError([{ path: "", message: state.error }]);
      io.stderr(`error: the cluster could not be read whole, so what it enforces is unknown: ${state.error}\n`);
      setExit(EXIT_INCONCLUSIVE);
      return;
    }
    live = { differing: liveModesAt(rollout, state, plan.stage).filter((w) => !w.matches), pods: livePodsByWorkload(rollout, state) };
  }
  // Between round lines, a line every 15 s: a round of hanging probes may take minutes.
  let answered = 0;
  let lastLine = Date.now();
  const started = Date.now();
  const heartbeat = setInterval(() => {
    if (Date.now() - lastLine < 15_000) return;
    lastLine = Date.now();
    io.stderr(`still probing (${((Date.now() - started) / 1000).toFixed(0)}s): ${answered} probes answered so far\n`);
  }, 5_000);
  heartbeat.unref();
  let result: Awaited<ReturnType<typeof verifyPlan>>;
  try {
    result = await verifyPlan(plan, rollout, runner, {
      requiredStreak: opts.rounds,
      timeoutMs: opts.timeout * 1000,
      concurrency: opts.concurrency,
      roundIntervalMs: 2000,
      settleMs: opts.settle * 1000,
      timing: { curlMaxTimeSeconds: 5, callTimeoutMs: 20_000 },
      matrix: opts.matrix,
      requireCalls: opts.requireCalls,
      signal,
      live,
      onProbe: () => answered++,
      // One line per round, on a terminal or not: inside pulumi up the log shows the run moving.
      onRound: (p) => {
        lastLine = Date.now();
        const line = `round ${p.round} (${(p.elapsedMs / 1000).toFixed(1)}s): ${p.held}/${p.total} hold, ${p.contradicting} contradict, ${p.inconclusive} inconclusive${p.unverifiable > 0 ? `, ${p.unverifiable} unverifiable` : ""}`;
        io.stderr(io.interactive ? `\r${line} ` : `${line}\n`);
      },
    });
  } finally {
    clearInterval(heartbeat);
  }
  if (io.interactive) io.stderr("\n");
  io.stdout(
    opts.json
      ? JSON.stringify(verificationJson(result), null, 2) + "\n"
      : renderVerificationText(result, { style: io.style ?? UNBOUNDED, wide: opts.wide }),
  );
  const code = exitCodeOf(result);
  if (code === 0 && (opts.record || io.env.MTLS_ROLLOUT_RECORD_VERIFIED === "1")) {
    const problem = await recordVerified(runner, rollout.meshRootNamespace, plan.stage, new Date(result.endedAt), 10_000);
    // The stage holds either way; the next gate, without the record, counts the probes' own plaintext and fails closed.
    if (problem) io.stderr(`warning: ${problem}\n`);
  }
  setExit(code);
}
