import { InputError } from "../../model/errors";
import { buildPlan } from "../../model/plan";
import { buildStageReport } from "../../model/report";
import { LAB_ROLLOUT_PATH, loadRollout } from "../../rollout/load";
import { EXIT_OK, type CommandContext } from "../command";
import { withOptionNames } from "../options";
import { renderReportMarkdown } from "../renderReport";
import { stageBefore } from "../../model/stages";

export interface ReportOptions {
  stage: string;
  rollout?: string;
  previous?: string;
  format: "markdown" | "json";
  json?: boolean;
  wide?: boolean;
}

export function report(opts: ReportOptions, { io, setExit }: CommandContext): void {
  const rollout = loadRollout(opts.rollout);
  const source = opts.rollout ?? LAB_ROLLOUT_PATH;
  const plan = withOptionNames(() => buildPlan(rollout, opts.stage), source);
  if (opts.previous === "live") {
    throw new InputError([
      {
        path: "--previous",
        message:
          "live is what preflight and status read from the cluster; the report compares two stages of the rollout (a stage, or none)",
      },
    ]);
  }
  const previous = opts.previous ?? stageBefore(rollout, plan.stage) ?? "none";
  if (previous !== "none") withOptionNames(() => buildPlan(rollout, previous), source, "--previous");
  const report = buildStageReport(rollout, plan.stage, previous === "none" ? null : previous, opts.rollout);
  io.stdout(
    opts.json || opts.format === "json" ? JSON.stringify(report, null, 2) + "\n" : renderReportMarkdown(report, { wide: opts.wide }),
  );
  setExit(EXIT_OK);
}
