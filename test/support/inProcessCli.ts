// The CLI in this process: main() with the commands this test imported, an environment of its own, output kept.
// For tests of what a command prints and returns; the tests of the process itself (its exit on a signal, the bin
// choosing the build, stdout flushed before exit) start it with runCli.
import * as commands from "../../src/cli/commands";
import { main } from "../../src/cli/main";
import { textStyleOf } from "../../src/render/textTable";

/**
 * Like runCli: this process's environment with `env` over it, tables as wide as their rows unless `env` sets
 * COLUMNS, and stdout no terminal. Relative paths resolve against this process's directory (the project's).
 */
export async function cli(args: string[], options: { env?: NodeJS.ProcessEnv } = {}) {
  const env: NodeJS.ProcessEnv = { ...process.env, COLUMNS: "1000", ...options.env };
  let stdout = "";
  let stderr = "";
  const code = await main(
    args,
    {
      stdout: (text) => (stdout += text),
      stderr: (text) => (stderr += text),
      interactive: false,
      env,
      style: textStyleOf({ isTTY: false }, env),
    },
    () => commands,
  );
  return { code, stdout, stderr };
}
