import { buildPlan } from "../../model/plan";
import { LAB_ROLLOUT_PATH, loadRollout } from "../../rollout/load";
import { EXIT_OK, type CommandContext } from "../command";
import { withOptionNames } from "../options";
import { UNBOUNDED } from "../../render/textTable";
import { writeJson } from "../jsonOutput";
import { planJson, renderPlanText } from "../renderPlan";

export interface PlanOptions {
  stage: string;
  rollout?: string;
  format: "text" | "json";
  json?: boolean;
  wide?: boolean;
}

export function plan(opts: PlanOptions, { io, setExit }: CommandContext): void {
  const rollout = loadRollout(opts.rollout);
  const plan = withOptionNames(() => buildPlan(rollout, opts.stage), opts.rollout ?? LAB_ROLLOUT_PATH);
  if (opts.json || opts.format === "json") writeJson(planJson(plan), io.stdout);
  else io.stdout(renderPlanText(plan, { style: io.style ?? UNBOUNDED, wide: opts.wide }));
  setExit(EXIT_OK);
}
