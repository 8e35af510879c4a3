import { spawn } from "node:child_process";

/** What one kubectl invocation did. `exitCode` is null when it was killed or never started. */
export interface RunResult {
  exitCode: number | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
  /** Set when the executable could not be started at all (ENOENT, EACCES). */
  spawnError?: string;
  /** Output past MAX_OUTPUT_BYTES was dropped. */
  truncated?: boolean;
  /** The run was interrupted (a signal to the CLI): the call was ended, not answered. */
  aborted?: boolean;
}

/** The seam between the verifier and the cluster: kubectl's arguments in, its result out. */
export type KubectlRunner = (args: string[], timeoutMs: number) => Promise<RunResult>;

/** Bounds what one call may print, so a misbehaving kubectl cannot exhaust memory. */
const MAX_OUTPUT_BYTES = 4 * 1024 * 1024;

/** Process groups of the kubectl calls running now, so an interrupted CLI can end every one of them. */
const running = new Map<number, () => void>();

/** Ends every kubectl call still running, with everything each started. */
export function endAllCalls(): void {
  for (const end of [...running.values()]) end();
}

/** How many kubectl calls are running now. */
export const runningCalls = () => running.size;

function killGroup(pid: number | undefined, fallback: () => void) {
  try {
    if (pid) process.kill(-pid, "SIGKILL");
  } catch {
    fallback(); // the group is gone; the child itself may not be
  }
}

export interface KubectlRunnerOptions {
  /** Goes first as `--context`, so probes act on the same cluster as the stack. */
  context?: string;
  /** An abort ends every call at once. */
  signal?: AbortSignal;
  /** kubectl's environment (its KUBECONFIG, its HOME): the CLI's own, which a test calling main() gives it. */
  env?: NodeJS.ProcessEnv;
}

/** Runs the real kubectl (`$KUBECTL`, default `kubectl`) without a shell: every value is one argv element. */
export function kubectlRunner(kubectl: string, { context, signal, env }: KubectlRunnerOptions = {}): KubectlRunner {
  return (args, timeoutMs) =>
    new Promise((resolve) => {
      if (signal?.aborted) return resolve({ exitCode: null, stdout: "", stderr: "", timedOut: false, aborted: true });
      const argv = context ? ["--context", context, ...args] : args;
      // Its own process group, so a timeout also ends what a wrapper script started (a shell's sleep,
      // kubectl's own children), which would otherwise hold the pipes open past the deadline.
      const child = spawn(kubectl, argv, { stdio: ["ignore", "pipe", "pipe"], detached: true, env: env ?? process.env });
      let stdout = "";
      let stderr = "";
      let truncated = false;
      let settled = false;
      const end = (result: Omit<RunResult, "stdout" | "stderr">) => {
        killGroup(child.pid, () => child.kill("SIGKILL"));
        child.stdout.destroy();
        child.stderr.destroy();
        finish({ ...result, stdout, stderr });
      };
      const onAbort = () => end({ exitCode: null, timedOut: false, aborted: true });
      const finish = (result: RunResult) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (child.pid) running.delete(child.pid);
        signal?.removeEventListener("abort", onAbort);
        resolve(truncated ? { ...result, truncated } : result);
      };
      if (child.pid) running.set(child.pid, onAbort);
      signal?.addEventListener("abort", onAbort);
      const append = (current: string, chunk: Buffer) => {
        if (current.length + chunk.length <= MAX_OUTPUT_BYTES) return current + chunk.toString("utf8");
        truncated = true;
        return current + chunk.toString("utf8").slice(0, Math.max(0, MAX_OUTPUT_BYTES - current.length));
      };
      child.stdout.on("data", (chunk: Buffer) => (stdout = append(stdout, chunk)));
      child.stderr.on("data", (chunk: Buffer) => (stderr = append(stderr, chunk)));
      const timer = setTimeout(() => end({ exitCode: null, timedOut: true }), Math.max(1, timeoutMs));
      child.on("error", (err: NodeJS.ErrnoException) =>
        finish({ exitCode: null, stdout, stderr, timedOut: false, spawnError: `${kubectl}: ${err.code ?? err.message}` }),
      );
      child.on("close", (code) => finish({ exitCode: code, stdout, stderr, timedOut: false }));
    });
}

/** A runner call that cannot outlive its timeout, even if the runner itself never returns. */
export function boundedRunner(runner: KubectlRunner): KubectlRunner {
  return (args, timeoutMs) =>
    new Promise<RunResult>((resolve) => {
      const timer = setTimeout(() => resolve({ exitCode: null, stdout: "", stderr: "", timedOut: true }), timeoutMs + 200);
      runner(args, timeoutMs).then(
        (r) => {
          clearTimeout(timer);
          resolve(r);
        },
        (err: unknown) => {
          clearTimeout(timer);
          resolve({ exitCode: null, stdout: "", stderr: "", timedOut: false, spawnError: String(err) });
        },
      );
    });
}
