// Builds the CLI into one CommonJS file, so a command starts in a fraction of the time tsx takes to compile the
// sources on every run. bin/mtls-rollout.js runs the build while it is current and the sources otherwise (see
// bin/currentBuild.js): an edited source is never ignored, and the sources stay the only hand-written code.
import * as fs from "node:fs";
import * as path from "node:path";
import { build } from "esbuild";

const ROOT = path.join(__dirname, "..");
// Two levels below the root, as src/cli/main.ts is: the sources find stages/lab.yaml at ../../ from their folder.
const CLI_BUILD = path.join(ROOT, "dist", "cli", "main.js");
/** The project files the build was made from, and when: what bin/currentBuild.js compares with. */
const CLI_BUILD_INPUTS = path.join(ROOT, "dist", "cli", "inputs.json");

export async function buildCli(): Promise<void> {
  // Taken before esbuild reads anything: a source saved during the build is newer than the build.
  const builtAtMs = Date.now();
  const result = await build({
    absWorkingDir: ROOT,
    entryPoints: ["src/cli/main.ts"],
    bundle: true,
    platform: "node",
    target: "node20",
    format: "cjs",
    banner: { js: "// Built by `npm run build` from src/; edit the sources, not this file." },
    logLevel: "warning",
    metafile: true,
    // Less to parse at every start; names are kept, so an internal error's stack still names the functions.
    minifyWhitespace: true,
    minifySyntax: true,
    outfile: CLI_BUILD,
  });
  const files = Object.keys(result.metafile.inputs)
    .filter((file) => !file.startsWith("node_modules/"))
    .sort();
  fs.writeFileSync(CLI_BUILD_INPUTS, JSON.stringify({ builtAtMs, files }, null, 2) + "\n");
}

if (require.main === module) {
  buildCli().catch((err: unknown) => {
    // esbuild prints its own errors; anything else (writing inputs.json) would otherwise end in silence.
    console.error(err instanceof Error ? err.message : err);
    process.exitCode = 1;
  });
}
