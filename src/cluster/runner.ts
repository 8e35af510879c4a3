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
}

/** The seam between the verifier and the cluster: kubectl's arguments in, its result out. */
export type KubectlRunner = (args: string[], timeoutMs: number) => Promise<RunResult>;

/** Bounds what one call may print, so a misbehaving kubectl cannot exhaust memory. */
const MAX_OUTPUT_BYTES = 4 * 1024 * 1024;

/**
 * Runs the real kubectl (`$KUBECTL`, default `kubectl`) without a shell: every value is one argv
 * element. `--context` goes first when given, so probes act on the same cluster as the stack.
 */
export function kubectlRunner(kubectl: string, context?: string): KubectlRunner {
  return (args, timeoutMs) =>
    new Promise((resolve) => {
      const argv = context ? ["--context", context, ...args] : args;
      // Its own process group, so a timeout also ends what a wrapper script started (a shell's sleep,
      // kubectl's own children), which would otherwise hold the pipes open past the deadline.
      const child = spawn(kubectl, argv, { stdio: ["ignore", "pipe", "pipe"], detached: true });
      let stdout = "";
      let stderr = "";
      let truncated = false;
      let settled = false;
      const finish = (result: RunResult) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve(truncated ? { ...result, truncated } : result);
      };
      const append = (current: string, chunk: Buffer) => {
        if (current.length + chunk.length <= MAX_OUTPUT_BYTES) return current + chunk.toString("utf8");
        truncated = true;
        return current + chunk.toString("utf8").slice(0, Math.max(0, MAX_OUTPUT_BYTES - current.length));
      };
      child.stdout.on("data", (chunk: Buffer) => (stdout = append(stdout, chunk)));
      child.stderr.on("data", (chunk: Buffer) => (stderr = append(stderr, chunk)));
      const timer = setTimeout(
        () => {
          try {
            if (child.pid) process.kill(-child.pid, "SIGKILL");
          } catch {
            child.kill("SIGKILL"); // the group is gone; the child itself may not be
          }
          child.stdout.destroy();
          child.stderr.destroy();
          finish({ exitCode: null, stdout, stderr, timedOut: true });
        },
        Math.max(1, timeoutMs),
      );
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
