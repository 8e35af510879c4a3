import { InputError } from "../../model/errors";
import { findStage } from "../../model/plan";
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
  const { stage } = withOptionNames(() => findStage(rollout, opts.stage), source);
  if (opts.previous === "live") {
    throw new InputError([
      {
        path: "--previous",
        message:
          "live is what preflight and status read from the cluster; the report compares two stages of the rollout (a stage, or none)",
      },
    ]);
  }
  const previous = opts.previous ?? stageBefore(rollout, stage.name) ?? "none";
  if (previous !== "none") withOptionNames(() => findStage(rollout, previous), source, "--previous");
  // Each plan once (a 10,000-workload plan takes a second): the report builds both; their guardrail errors name the file.
  const report = withOptionNames(() => buildStageReport(rollout, stage.name, previous === "none" ? null : previous, opts.rollout), source);
  io.stdout(
    opts.json || opts.format === "json" ? JSON.stringify(report, null, 2) + "\n" : renderReportMarkdown(report, { wide: opts.wide }),
  );
  setExit(EXIT_OK);
}
