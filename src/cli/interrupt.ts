/**
 * Ctrl-C, SIGTERM (a CI runner's cancel), SIGHUP (a closed terminal), and the parent going away (a
 * Pulumi cancel kills the Command's shell, not what it started): each ends every kubectl call the CLI
 * has running, with its process group, and lets the command report what it has before it exits.
 */
import { setMaxListeners } from "node:events";
import { endAllCalls } from "../cluster/runner";

/** The exit code a shell gives a process ended by the signal: 128 + its number. */
export const SIGNAL_EXIT: Record<"SIGINT" | "SIGTERM" | "SIGHUP", number> = { SIGINT: 130, SIGTERM: 143, SIGHUP: 129 };

export interface Interrupt {
  /** Aborted on the first signal; its reason is the signal's name. */
  signal: AbortSignal;
  /** The exit code of the signal received, if any. */
  exitCode(): number | undefined;
  dispose(): void;
}

/**
 * `endWithParent`: also end when the parent goes away (set by the stack's Commands, whose shell Pulumi kills on a
 * cancel). Not otherwise: a run started with nohup or in the background outlives its shell on purpose.
 */
export function watchInterrupts(endWithParent = false): Interrupt {
  const controller = new AbortController();
  // Every kubectl call listens for the abort while it runs (and stops when it ends): up to --concurrency servers
  // times a probe's calls at once, more than EventTarget's default of 10 before it warns of a leak.
  setMaxListeners(1024, controller.signal);
  let received: keyof typeof SIGNAL_EXIT | undefined;
  const handler = (name: keyof typeof SIGNAL_EXIT) => {
    if (received) {
      // A second signal: the user does not want the report; leave now, taking the calls with us.
      endAllCalls();
      process.exit(SIGNAL_EXIT[received]);
    }
    received = name;
    endAllCalls();
    controller.abort(name);
  };
  const handlers = (Object.keys(SIGNAL_EXIT) as (keyof typeof SIGNAL_EXIT)[]).map((name) => {
    const h = () => handler(name);
    process.on(name, h);
    return [name, h] as const;
  });
  // Orphaned: the parent that started us is gone, and we were handed to init (or a subreaper).
  const parent = process.ppid;
  const orphanCheck = setInterval(() => {
    if (endWithParent && process.ppid !== parent && !received) handler("SIGHUP");
  }, 500);
  orphanCheck.unref();
  return {
    signal: controller.signal,
    exitCode: () => (received ? SIGNAL_EXIT[received] : undefined),
    dispose: () => {
      clearInterval(orphanCheck);
      for (const [name, h] of handlers) process.off(name, h);
    },
  };
}
