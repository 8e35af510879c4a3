import { loadRollout, LAB_ROLLOUT_PATH } from "../../rollout/load";
import { buildPlan } from "../../model/plan";
import { renderStatusText, statusJson } from "../../status/render";
import { clusterStatus } from "../../status/run";
import { UNBOUNDED } from "../../render/textTable";
import { EXIT_BAD_INPUT, EXIT_OK, EXIT_POLICIES_ELSEWHERE, EXIT_RULE_FAILED, EXIT_UNREACHABLE, type CommandContext } from "../command";
import { checkBinding, withOptionNames } from "../options";
import { contextText } from "../../model/text";
import { InputError } from "../../model/errors";
import { stagePoliciesDigest } from "../../model/policyDigest";

export async function status(
  opts: {
    rollout?: string;
    context?: string;
    clusterUid?: string;
    stage?: string;
    json?: boolean;
    wide?: boolean;
    policiesOnly?: boolean;
    writtenBy?: string;
    stageDigest?: string;
  },
  { io, setExit, signal, kubectl }: CommandContext,
): Promise<void> {
  if (opts.policiesOnly && opts.stage === undefined)
    throw new InputError([{ path: "--policies-only", message: "needs the stage to compare with: --stage NAME or --stack NAME" }]);
  const rollout = loadRollout(opts.rollout);
  if (opts.stage !== undefined) withOptionNames(() => buildPlan(rollout, opts.stage!), opts.rollout ?? LAB_ROLLOUT_PATH);
  if (opts.stageDigest !== undefined) {
    if (opts.stage === undefined) throw new InputError([{ path: "--stage-digest", message: "needs --stage NAME or --stack NAME" }]);
    const digest = stagePoliciesDigest(rollout, opts.stage);
    if (digest !== opts.stageDigest)
      throw new InputError([
        {
          path: "--stage-digest",
          message: `the rollout file's stage ${opts.stage} puts other policies in force than the one expected (digest ${digest}, not ${opts.stageDigest}): use the rollout file of the last pulumi up`,
        },
      ]);
  }
  const runner = kubectl(opts.context);
  await checkBinding(runner, opts.clusterUid, io.env, contextText(opts.context));
  const status = await clusterStatus(rollout, runner, 30_000, opts.stage);
  if (signal?.aborted) return; // the signal's exit code says it all
  if ("error" in status) {
    io.stderr(`error: ${status.error}\n`);
    setExit(status.setup ? EXIT_BAD_INPUT : EXIT_UNREACHABLE);
    return;
  }
  const context = contextText(opts.context);
  io.stdout(
    opts.json
      ? JSON.stringify(statusJson(status), null, 2) + "\n"
      : renderStatusText(status, context, { style: io.style ?? UNBOUNDED, wide: opts.wide }),
  );
  if (opts.policiesOnly) {
    // The policies alone decide (what a destroy of a stack deletes), not the workloads' live modes. Not counted: an
    // adopted policy gone (a destroy leaves adopted ones as they are), and an extra policy no stack of --written-by
    // wrote (another team's, or another stack's: no destroy of this one deletes it).
    const ours = opts.writtenBy === undefined ? undefined : new Set(opts.writtenBy.split(","));
    const counts = (d: (typeof status.differences)[number]) =>
      d.kind === "missing"
        ? d.adopted !== true
        : d.kind === "changed" || (d.writtenBy !== undefined && (ours === undefined || d.writtenBy === "" || ours.has(d.writtenBy)));
    const differ = status.differences.filter(counts);
    setExit(status.comparedWith === opts.stage && differ.length === 0 ? EXIT_OK : EXIT_POLICIES_ELSEWHERE);
    return;
  }
  setExit(status.inSync ? EXIT_OK : EXIT_RULE_FAILED);
}
