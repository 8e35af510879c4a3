import * as pulumi from "@pulumi/pulumi";
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import * as commands from "../src/cli/commands";
import { main } from "../src/cli/main";
import { defineRolloutStack } from "../src/program";
import { MAX_ROLLOUT_BYTES } from "../src/rollout/load";
import { tempFile } from "./support/files";
import { installRecordingMocks, settleRegistrations } from "./support/pulumiMocks";

const DIR = path.join(__dirname, "corpus", "invalid");
const files = fs
  .readdirSync(DIR)
  .filter((f) => f.endsWith(".yaml"))
  .sort();
const expectation = (file: string) => /^# expect: (.*)$/m.exec(fs.readFileSync(path.join(DIR, file), "latin1"))![1];

async function cli(args: string[]) {
  let stdout = "";
  let stderr = "";
  const io = { stdout: (t: string) => (stdout += t), stderr: (t: string) => (stderr += t), interactive: false, env: {} };
  const code = await main(args, io, () => commands);
  return { code, stdout, stderr };
}

/** The program's answer to a rollout file: the RunError's message, and what it registered. */
async function program(file: string) {
  const resources = await installRecordingMocks({ "mtls-rollout:stage": "s", "mtls-rollout:rollout": file });
  let error: unknown;
  try {
    defineRolloutStack();
  } catch (err) {
    error = err;
  }
  await settleRegistrations();
  return { error, resources };
}

describe("a corpus of invalid rollout files", () => {
  it("has at least 80 files, each saying what it must be refused for", () => {
    expect(files.length).toBeGreaterThanOrEqual(80);
    for (const f of files) expect(expectation(f), f).toBeTruthy();
  });

  for (const file of files) {
    it(`${file}: the CLI exits 2 naming the path and the value, the program registers nothing`, async () => {
      const full = path.join(DIR, file);
      const { code, stdout, stderr } = await cli(["plan", "--stage", "s", "--rollout", full]);
      expect(code).toBe(2);
      expect(stdout).toBe("");
      expect(stderr).toContain(`error: ${full}: ${expectation(file)}`);
      expect(stderr).not.toMatch(/\n\s+at /); // no stack trace

      const { error, resources } = await program(full);
      expect(error).toBeInstanceOf(pulumi.RunError);
      expect((error as Error).message).toContain(`mtls-rollout:rollout: ${full}: ${expectation(file)}`);
      expect(resources).toEqual([]);
    });
  }

  const badConfigs: [Record<string, string>, string][] = [
    [{ "mtls-rollout:stage": "s\n--rollout /etc/passwd" }, "mtls-rollout:stage: must be a DNS-1123 label"],
    [
      { "mtls-rollout:stage": "permissive", "mtls-rollout:kubeContext": "kind lab" },
      "mtls-rollout:kubeContext: must not contain white space",
    ],
    [
      { "mtls-rollout:stage": "permissive", "mtls-rollout:prometheusUrl": "http://prom:9090/$(id)" },
      "mtls-rollout:prometheusUrl: must be an http(s) URL",
    ],
    [
      { "mtls-rollout:stage": "permissive", "mtls-rollout:prometheusUrl": "file:///etc/passwd" },
      "mtls-rollout:prometheusUrl: must be an http(s) URL",
    ],
    [
      { "mtls-rollout:stage": "permissive", "mtls-rollout:preflightWindow": "0" },
      "mtls-rollout:preflightWindow: must be from 1 to 86400 seconds",
    ],
    [{ "mtls-rollout:stage": "permissive", "mtls-rollout:verify": "TRUE" }, 'mtls-rollout:verify: must be true or false (got "TRUE")'],
    [
      { "mtls-rollout:stage": "permissive", "mtls-rollout:verifyTimeout": "abc" },
      'mtls-rollout:verifyTimeout: must be a whole number of seconds (got "abc")',
    ],
    [{ "mtls-rollout:stage": "permissive", "mtls-rollout:rollout": "" }, "mtls-rollout:rollout: must not be empty"],
  ];
  for (const [config, message] of badConfigs) {
    it(`refuses the stack config ${JSON.stringify(config)} naming the key, and registers nothing`, async () => {
      const resources = await installRecordingMocks(config);
      expect(() => defineRolloutStack()).toThrow(message);
      await settleRegistrations();
      expect(resources).toEqual([]);
    });
  }

  it("refuses a file of several megabytes before parsing it", async () => {
    const big = tempFile("big.yaml", `# ${"x".repeat(MAX_ROLLOUT_BYTES + 1024)}\nstages: []\n`);
    const { code, stderr } = await cli(["plan", "--stage", "s", "--rollout", big]);
    expect(code).toBe(2);
    expect(stderr).toBe(`error: ${big}: is larger than 4,194,304 bytes, the most a file here may have\n`);
  });
});
