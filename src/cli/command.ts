import type { KubectlRunner } from "../cluster/runner";
import type { TextStyle } from "../render/textTable";

export const EXIT_OK = 0;
export const EXIT_RULE_FAILED = 1;
export const EXIT_BAD_INPUT = 2;
/** The cluster (or Prometheus) could not be read: unreachable, not permitted, or answering nonsense. */
export const EXIT_UNREACHABLE = 3;
/**
 * `status --policies-only`: the cluster's policies are not the stage's. A code of its own, so that the destroy guard
 * never takes a crash (node's 1) for an answer.
 */
export const EXIT_POLICIES_ELSEWHERE = 4;

export interface Io {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  /** A terminal on stderr: the progress line is rewritten in place. */
  interactive: boolean;
  /** Handle Ctrl-C and SIGTERM by ending every kubectl call and reporting (the real process, not a test calling main). */
  watchSignals?: boolean;
  env: NodeJS.ProcessEnv;
  /** How wide text output may be and whether it may be coloured (default: unbounded, no colour). */
  style?: TextStyle;
}

/** What every command's action is given: where to print, how to end, how to reach the cluster. */
export interface CommandContext {
  io: Io;
  setExit: (code: number) => void;
  /** Aborted by Ctrl-C, SIGTERM, SIGHUP or the parent going away. */
  signal?: AbortSignal;
  kubectl: (context?: string) => KubectlRunner;
}
