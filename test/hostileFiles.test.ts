import * as fs from "node:fs";
import * as path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { runCliAsync, tempFile } from "./support/files";
import { cli } from "./support/inProcessCli";
import { HOSTILE_FILES, writeHostileFiles } from "./support/hostileFiles";

// The files are generated (each is small to write and was costly to read); npm run bench times them.
const written = writeHostileFiles();

afterAll(() => {
  for (const file of written.values()) fs.rmSync(path.dirname(file), { recursive: true, force: true });
});

describe("hostile rollout files too large to keep in the repository", () => {
  for (const hostile of HOSTILE_FILES) {
    it(`${hostile.name}: check exits 2 with one line naming what is wrong, and no stack trace`, async () => {
      const file = written.get(hostile)!;
      const { code, stdout, stderr } = await cli(["check", "--rollout", file]);
      expect(code).toBe(2);
      expect(stdout).toBe("");
      const lines = stderr.trimEnd().split("\n");
      expect(lines[0]).toContain(`error: ${file}: ${hostile.expect}`);
      expect(lines.length).toBeLessThanOrEqual(51);
      expect(stderr).not.toMatch(/\n\s+at /);
    }, 60_000);
  }
});

describe("a hostile stack file", () => {
  it("is read within the same bounds: --stack with an alias bomb in Pulumi.NAME.yaml exits 2", async () => {
    const dir = path.dirname(tempFile("Pulumi.bomb.yaml", ""));
    const levels = ["a: &a [x, x, x, x, x, x, x, x, x, x]"];
    for (let i = 1; i < 8; i++)
      levels.push(
        `l${i}: &l${i} [${Array(10)
          .fill(i === 1 ? "*a" : `*l${i - 1}`)
          .join(", ")}]`,
      );
    fs.writeFileSync(path.join(dir, "Pulumi.bomb.yaml"), `config:\n  mtls-rollout:stage: permissive\n${levels.join("\n")}\n`);
    const { code, stderr } = await runCliAsync(["plan", "--stack", "bomb"], { cwd: dir });
    expect(code).toBe(2);
    expect(stderr).toBe(
      `error: --stack: ${path.join(dir, "Pulumi.bomb.yaml")} expands to more than 100,000 values through its aliases, the most a file here may hold\n`,
    );
  });

  it("is not read when it is a FIFO, which would never end", async () => {
    const dir = path.dirname(tempFile("x", ""));
    const fifo = path.join(dir, "Pulumi.pipe.yaml");
    require("node:child_process").execFileSync("mkfifo", [fifo]);
    const { code, stderr } = await runCliAsync(["plan", "--stack", "pipe"], { cwd: dir });
    expect(code).toBe(2);
    expect(stderr).toBe(`error: --stack: ${fifo} is not a regular file\n`);
  });
});
