/**
 * The CLI runs its build only while the build is current: a source edited after `npm run build` is never ignored
 * (bin/currentBuild.js); and the build prints what the sources print.
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { runCli } from "./support/files";

const { currentBuild } = require("../bin/currentBuild.js") as { currentBuild: (root: string) => string | undefined };

/** A project folder with a build made at `builtAtMs` from two sources. */
function project(builtAtMs: number): string {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "mtls-rollout-build-"));
  fs.mkdirSync(path.join(root, "src", "cli"), { recursive: true });
  fs.mkdirSync(path.join(root, "dist", "cli"), { recursive: true });
  for (const file of ["src/cli/main.ts", "src/model.ts"]) {
    fs.writeFileSync(path.join(root, file), "// source\n");
    fs.utimesSync(path.join(root, file), new Date(builtAtMs - 60_000), new Date(builtAtMs - 60_000));
  }
  fs.writeFileSync(path.join(root, "dist", "cli", "main.js"), "// build\n");
  fs.writeFileSync(
    path.join(root, "dist", "cli", "inputs.json"),
    JSON.stringify({ builtAtMs, files: ["src/cli/main.ts", "src/model.ts"] }),
  );
  return root;
}

describe("the CLI's build", () => {
  it("is used while no source it was built from is newer", () => {
    const root = project(Date.now());
    expect(currentBuild(root)).toBe(path.join(root, "dist", "cli", "main.js"));
  });

  it("is not used once a source changed after it, was deleted, or the record is missing or malformed", () => {
    const builtAt = Date.now() - 10_000;
    const edited = project(builtAt);
    fs.utimesSync(path.join(edited, "src/model.ts"), new Date(), new Date());
    expect(currentBuild(edited)).toBeUndefined();

    const deleted = project(builtAt);
    fs.rmSync(path.join(deleted, "src/model.ts"));
    expect(currentBuild(deleted)).toBeUndefined();

    const unrecorded = project(builtAt);
    fs.rmSync(path.join(unrecorded, "dist/cli/inputs.json"));
    expect(currentBuild(unrecorded)).toBeUndefined();

    for (const record of ["not json", "{}", '{"builtAtMs":"soon","files":["src/model.ts"]}', '{"builtAtMs":1,"files":[]}']) {
      const malformed = project(builtAt);
      fs.writeFileSync(path.join(malformed, "dist/cli/inputs.json"), record);
      expect(currentBuild(malformed), record).toBeUndefined();
    }
  });

  it("is not there in a checkout without npm ci, and then the bin says so with exit 70, never 1 (status's drift)", () => {
    // The bin alone: no build, no node_modules for tsx's hook.
    const root = fs.mkdtempSync(path.join(os.tmpdir(), "mtls-rollout-bare-"));
    fs.mkdirSync(path.join(root, "bin"));
    for (const file of ["mtls-rollout.js", "currentBuild.js"])
      fs.copyFileSync(path.join(__dirname, "..", "bin", file), path.join(root, "bin", file));
    const run = spawnSync(process.execPath, [path.join(root, "bin", "mtls-rollout.js"), "status"], {
      cwd: root,
      encoding: "utf8",
      env: { PATH: process.env.PATH },
    });
    expect(run.status).toBe(70);
    expect(run.stderr).toMatch(/^internal error: Error: Cannot find module 'tsx\/cjs'/);
  });

  it("is what the bin runs here: the tests' global setup built it from these sources", () => {
    const root = path.join(__dirname, "..");
    expect(currentBuild(root)).toBe(path.join(root, "dist", "cli", "main.js"));
    const help = runCli(["--help"]);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^Usage: mtls-rollout \[options\] \[command\]/);
  });
});
