import { checkRollout, isBlocking, removedWithoutRetire } from "../../model/rules";
import { loadRollout } from "../../rollout/load";
import { InputError } from "../../model/errors";
import { EXIT_OK, EXIT_RULE_FAILED, type CommandContext } from "../command";
import { UNBOUNDED } from "../../render/textTable";
import { renderViolations } from "../renderPlan";

export function check(
  opts: { rollout?: string; previousFile?: string; previousStage?: string; json?: boolean },
  { io, setExit }: CommandContext,
): void {
  const rollout = loadRollout(opts.rollout);
  // The version a stack may be running (the base branch's): a policy it has in force must be retired, not dropped.
  const previous = opts.previousFile !== undefined ? loadRollout(opts.previousFile) : undefined;
  for (const w of rollout.warnings) io.stderr(`warning: ${w.path}: ${w.message}\n`);
  if (previous && opts.previousStage !== undefined && !previous.stages.some((st) => st.name === opts.previousStage)) {
    throw new InputError([
      { path: "--previous-stage", message: `is no stage of ${opts.previousFile} (got ${JSON.stringify(opts.previousStage)})` },
    ]);
  }
  const violations = [...checkRollout(rollout), ...(previous ? removedWithoutRetire(previous, rollout, opts.previousStage) : [])];
  const blocking = violations.filter(isBlocking);
  if (opts.json) {
    io.stdout(JSON.stringify({ violations, blocking: blocking.length, warnings: rollout.warnings }, null, 2) + "\n");
  } else {
    io.stdout(renderViolations(violations, "Guardrails for every stage", io.style ?? UNBOUNDED) + "\n");
  }
  setExit(blocking.length > 0 ? EXIT_RULE_FAILED : EXIT_OK);
}
