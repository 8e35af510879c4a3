// Processes a test started, found by a marker in their environment: what a run left behind after a signal.
import * as fs from "node:fs";

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
