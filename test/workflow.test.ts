import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import * as YAML from "yaml";

const ROOT = path.join(__dirname, "..");
const workflow = YAML.parse(fs.readFileSync(path.join(ROOT, ".github", "workflows", "preview.yml"), "utf8"));
const steps: { name?: string; uses?: string; run?: string; with?: Record<string, unknown> }[] = workflow.jobs.preview.steps;

describe("the pull-request workflow", () => {
  it("runs on pull requests with the permission to comment", () => {
    expect(Object.keys(workflow.on)).toEqual(["pull_request"]);
    expect(workflow.permissions).toEqual({ contents: "read", "pull-requests": "write" });
  });

  it("installs and tests before it reports, then posts one sticky comment and a policy-checked preview", () => {
    const order = steps.map((s) => s.run?.split("\n")[0] ?? s.uses);
    expect(order.indexOf("npm ci")).toBeLessThan(order.indexOf("npm test"));
    const report = steps.find((s) => s.run?.includes("--format markdown"))!;
    expect(steps.indexOf(report)).toBeGreaterThan(order.indexOf("npm test"));
    expect(steps.find((s) => s.uses?.startsWith("actions/github-script"))!.with!.script).toContain("updateComment");
    expect(steps.find((s) => s.uses?.startsWith("pulumi/actions"))!.with).toMatchObject({
      command: "preview",
      diff: true,
      policyPacks: "policies",
      "comment-on-pr": true,
    });
  });

  it("reads the stage from the stack file the way its step does", () => {
    const step = steps.find((s) => s.name === "The stage the stack file selects")!;
    const expression = /node -p "([^"]+)"/.exec(step.run!)![1];
    const stage = execFileSync(process.execPath, ["-p", expression], {
      cwd: ROOT,
      env: { ...process.env, PULUMI_STACK: "dev" },
      encoding: "utf8",
    });
    expect(stage.trim()).toBe("permissive");
  });
});
