import { spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

/** Writes `content` (lines are joined) to a new temporary file and returns its path. */
export function tempFile(name: string, content: string | string[]): string {
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "mtls-rollout-")), name);
  fs.writeFileSync(file, Array.isArray(content) ? content.join("\n") + "\n" : content);
  return file;
}

const BIN = path.join(__dirname, "..", "..", "bin", "mtls-rollout.js");

/**
 * Tables as wide as their rows, so that a test can match a row on one line; the tests of fitting a width set
 * COLUMNS themselves (stdout is no terminal here, so COLUMNS is the width).
 */
const WIDE = { COLUMNS: "1000" };

/** Runs the CLI as a user does: a separate Node process through the package's bin. */
export function runCli(args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}) {
  const result = spawnSync(process.execPath, [BIN, ...args], {
    cwd: options.cwd ?? os.tmpdir(),
    encoding: "utf8",
    timeout: 60_000,
    env: { ...process.env, ...WIDE, ...options.env },
  });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** runCli without blocking this process: for tests whose own servers (a Prometheus on loopback) must answer it. */
export function runCliAsync(
  args: string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      cwd: options.cwd ?? os.tmpdir(),
      env: { ...process.env, ...WIDE, ...options.env },
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (c: Buffer) => (stdout += c.toString("utf8")));
    child.stderr.on("data", (c: Buffer) => (stderr += c.toString("utf8")));
    const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}
