import { loadRollout } from "../../rollout/load";
import { renderStatusText, statusJson } from "../../status/render";
import { clusterStatus } from "../../status/run";
import { UNBOUNDED } from "../../render/textTable";
import { EXIT_OK, EXIT_RULE_FAILED, EXIT_UNREACHABLE, type CommandContext } from "../command";
import { contextText } from "../../model/text";

export async function status(
  opts: { rollout?: string; context?: string; json?: boolean; wide?: boolean },
  { io, setExit, signal, kubectl }: CommandContext,
): Promise<void> {
  const rollout = loadRollout(opts.rollout);
  const status = await clusterStatus(rollout, kubectl(opts.context), 30_000);
  if ("error" in status) {
    if (signal?.aborted) return; // the signal's exit code says it all
    io.stderr(`error: ${status.error}\n`);
    setExit(EXIT_UNREACHABLE);
    return;
  }
  const context = contextText(opts.context);
  io.stdout(
    opts.json
      ? JSON.stringify(statusJson(status), null, 2) + "\n"
      : renderStatusText(status, context, { style: io.style ?? UNBOUNDED, wide: opts.wide }),
  );
  setExit(status.inSync ? EXIT_OK : EXIT_RULE_FAILED);
}
