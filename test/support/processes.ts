// Processes a test starts and watches: what they print, how they end, and, found by a marker in their environment,
// what a run left behind after a signal.
import { spawn } from "node:child_process";
import * as fs from "node:fs";

/** Starts `command` with `args`, keeping what it prints; `exited` is its exit code. */
export function startProcess(command: string, args: string[], env: NodeJS.ProcessEnv) {
  const child = spawn(command, args, { env });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (c: Buffer) => (stdout += c));
  child.stderr.on("data", (c: Buffer) => (stderr += c));
  const exited = new Promise<number | null>((resolve) => child.on("close", (code) => resolve(code)));
  return { child, exited, out: () => ({ stdout, stderr }) };
}

/** The processes whose environment carries `MTLS_TEST_MARKER=marker` (with `argument` on their command line), zombies aside. */
export function processesMarked(marker: string, argument?: string): number[] {
  return fs
    .readdirSync("/proc")
    .filter((d) => /^\d+$/.test(d))
    .filter((pid) => {
      try {
        const state = fs.readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.[0];
        if (argument && !fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").includes(argument)) return false;
        return state !== "Z" && fs.readFileSync(`/proc/${pid}/environ`, "utf8").includes(`MTLS_TEST_MARKER=${marker}`);
      } catch {
        return false;
      }
    })
    .map(Number);
}

/** Polls `condition` every 50 ms for at most `ms`; its last answer. */
export async function waitFor(condition: () => boolean, ms: number): Promise<boolean> {
  const until = Date.now() + ms;
  while (!condition() && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
  return condition();
}
