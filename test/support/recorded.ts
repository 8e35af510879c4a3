import * as fs from "node:fs";
import * as path from "node:path";

/** A recorded real output from test/fixtures/recorded (sources in its SOURCES.md). */
export function recorded(name: string): string {
  return fs.readFileSync(path.join(__dirname, "..", "fixtures", "recorded", name), "utf8");
}

/** kubectl's own line when the remote command fails, as in the istio.io snips (kubectl-curl-matrix-exit56-…). */
export const terminated = (code: number) => `command terminated with exit code ${code}\n`;
