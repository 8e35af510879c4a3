import { spawn, spawnSync } from "node:child_process";

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

/** What one call may print at most; more ends the call at once (`truncated`). */
export interface CallLimits {
  maxOutputBytes?: number;
}

/** The seam between the commands and the cluster: kubectl's arguments in, its result out. */
export type KubectlRunner = (args: string[], timeoutMs: number, limits?: CallLimits) => Promise<RunResult>;

/**
 * Bounds what one call may print by default, so a misbehaving kubectl cannot exhaust memory: far more than a probe's
 * answer or a sidecar's stats. Reads of lists ask for more (src/cluster/kubectlGet.ts).
 */
export const MAX_OUTPUT_BYTES = 4 * 1024 * 1024;

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
  return (args, timeoutMs, limits) =>
    new Promise((resolve) => {
      if (signal?.aborted) return resolve({ exitCode: null, stdout: "", stderr: "", timedOut: false, aborted: true });
      const maxBytes = limits?.maxOutputBytes ?? MAX_OUTPUT_BYTES;
      const argv = context ? ["--context", context, ...args] : args;
      // Its own process group, so a timeout also ends what a wrapper script started (a shell's sleep,
      // kubectl's own children), which would otherwise hold the pipes open past the deadline.
      const child = spawn(kubectl, argv, { stdio: ["ignore", "pipe", "pipe"], detached: true, env: env ?? process.env });
      // Bytes, decoded once at the end: a character split between two chunks must not become two U+FFFD.
      const out = { chunks: [] as Buffer[], bytes: 0 };
      const err = { chunks: [] as Buffer[], bytes: 0 };
      let truncated = false;
      let settled = false;
      const text = (stream: { chunks: Buffer[] }) => Buffer.concat(stream.chunks).toString("utf8");
      const end = (result: Omit<RunResult, "stdout" | "stderr">) => {
        killGroup(child.pid, () => child.kill("SIGKILL"));
        child.stdout.destroy();
        child.stderr.destroy();
        finish({ ...result, stdout: text(out), stderr: text(err) });
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
      // Past the bound the answer is of no use: the call ends at once, instead of reading on until its timeout.
      const overflow = () => {
        truncated = true;
        end({ exitCode: null, timedOut: false });
      };
      /** Keeps what a stream prints up to `max` bytes; past it, the call ends. */
      const collect = (stream: { chunks: Buffer[]; bytes: number }, max: number) => (chunk: Buffer) => {
        if (settled) return;
        if (stream.bytes + chunk.length > max) {
          stream.chunks.push(chunk.subarray(0, max - stream.bytes));
          return overflow();
        }
        stream.bytes += chunk.length;
        stream.chunks.push(chunk);
      };
      child.stdout.on("data", collect(out, maxBytes));
      // kubectl's complaints are lines; a few MiB of them are as telling as more.
      child.stderr.on("data", collect(err, MAX_OUTPUT_BYTES));
      const timer = setTimeout(() => end({ exitCode: null, timedOut: true }), Math.max(1, timeoutMs));
      child.on("error", (e: NodeJS.ErrnoException) =>
        finish({ exitCode: null, stdout: text(out), stderr: text(err), timedOut: false, spawnError: `${kubectl}: ${e.code ?? e.message}` }),
      );
      child.on("close", (code) => finish({ exitCode: code, stdout: text(out), stderr: text(err), timedOut: false }));
    });
}

/** A runner call that cannot outlive its timeout, even if the runner itself never returns. */
export function boundedRunner(runner: KubectlRunner): KubectlRunner {
  return (args, timeoutMs, limits) =>
    new Promise<RunResult>((resolve) => {
      const timer = setTimeout(() => resolve({ exitCode: null, stdout: "", stderr: "", timedOut: true }), timeoutMs + 200);
      runner(args, timeoutMs, limits).then(
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

/**
 * One kubectl call, synchronously, for the Pulumi program (it reads the cluster before it declares any resource):
 * no shell, bounded in time and output like kubectlRunner's calls.
 */
export function runKubectlSync(
  kubectl: string,
  context: string | undefined,
  args: string[],
  timeoutMs: number,
  limits?: CallLimits,
): RunResult {
  const maxBytes = limits?.maxOutputBytes ?? MAX_OUTPUT_BYTES;
  const run = spawnSync(kubectl, context ? ["--context", context, ...args] : args, {
    encoding: "utf8",
    timeout: Math.max(1, timeoutMs),
    killSignal: "SIGKILL",
    maxBuffer: maxBytes,
    stdio: ["ignore", "pipe", "pipe"],
  });
  const stdout = run.stdout ?? "";
  const stderr = run.stderr ?? "";
  const code = (run.error as NodeJS.ErrnoException | undefined)?.code;
  if (code === "ETIMEDOUT") return { exitCode: null, stdout, stderr, timedOut: true };
  if (code === "ENOBUFS") return { exitCode: null, stdout, stderr, timedOut: false, truncated: true };
  if (run.error) return { exitCode: null, stdout, stderr, timedOut: false, spawnError: `${kubectl}: ${code ?? run.error.message}` };
  return { exitCode: run.status, stdout, stderr, timedOut: false };
}
