import MarkdownIt from "markdown-it";
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { renderReportMarkdown } from "../src/cli/renderReport";
import { planJson, renderPlanText } from "../src/cli/renderPlan";
import { buildPlan } from "../src/model/plan";
import { parseRollout } from "../src/model/rollout";
import { buildStageReport } from "../src/model/report";
import { loadRollout } from "../src/rollout/load";
import { cli } from "./support/inProcessCli";

const lab = loadRollout();
const report = (stage: string, previous: string | null) => buildStageReport(lab, stage, previous);
const changes = (stage: string, previous: string | null) =>
  report(stage, previous).edgeChanges.map(
    (e) => `${e.from} -> ${e.host}:${e.port} ${e.before}->${e.after}${e.breaking ? " breaking" : ""}`,
  );

describe("the stage report against the previous stage", () => {
  it("permissive against a fresh mesh: adds the mesh-wide policy and changes no outcome (PERMISSIVE is the default)", () => {
    const r = report("permissive", null);
    expect(r.policyChanges).toEqual([
      {
        namespace: "istio-system",
        name: "default",
        change: "added",
        before: null,
        after: { selector: null, mode: "PERMISSIVE", portLevelMtls: {} },
      },
    ]);
    expect(r.edgeChanges).toEqual([]);
    expect(r.progress.find((p) => p.namespace === "istioinaction")).toMatchObject({
      workloads: { STRICT: 0, PERMISSIVE: 4, DISABLE: 0, "outside the mesh": 0 },
      ports: { STRICT: 0, PERMISSIVE: 3 },
      coverage: 0,
    });
  });

  it("purchase-history-strict: the out-of-mesh sleep loses purchase-history, and nothing else changes", () => {
    expect(changes("purchase-history-strict", "permissive")).toEqual([
      "default/sleep -> purchase-history.istioinaction:8080 plaintext->refused breaking",
    ]);
    expect(report("purchase-history-strict", "permissive").progress.find((p) => p.namespace === "istioinaction")).toMatchObject({
      workloads: { STRICT: 1, PERMISSIVE: 3 },
      ports: { STRICT: 1, PERMISSIVE: 2 },
      coverage: 33.3,
    });
  });

  it("istioinaction-strict: the out-of-mesh sleep loses web-api and recommendation; the namespace is fully STRICT", () => {
    expect(changes("istioinaction-strict", "purchase-history-strict")).toEqual([
      "default/sleep -> web-api.istioinaction:8080 plaintext->refused breaking",
      "default/sleep -> recommendation.istioinaction:8080 plaintext->refused breaking",
    ]);
    const r = report("istioinaction-strict", "purchase-history-strict");
    expect(r.progress.map((p) => [p.namespace, p.coverage])).toEqual([
      ["istioinaction", 100],
      ["default", 0],
    ]);
  });

  it("mesh-strict: the mesh-wide policy changes from PERMISSIVE to STRICT and httpbin refuses the out-of-mesh sleep", () => {
    const r = report("mesh-strict", "istioinaction-strict");
    expect(r.policyChanges.map((p) => [p.change, `${p.namespace}/${p.name}`, p.before?.mode, p.after?.mode])).toEqual([
      ["changed", "istio-system/default", "PERMISSIVE", "STRICT"],
    ]);
    expect(changes("mesh-strict", "istioinaction-strict")).toEqual(["default/sleep -> httpbin.default:8000 plaintext->refused breaking"]);
    expect(r.progress.find((p) => p.namespace === "default")).toMatchObject({
      workloads: { STRICT: 1, "outside the mesh": 1 },
      coverage: 100,
    });
    expect(r.commands.rollback).toEqual(["pulumi config set mtls-rollout:stage istioinaction-strict", "pulumi up"]);
  });

  it("lists a declared call that a stage breaks first, marked breaking, with the guardrail that refuses it", () => {
    const rollout = parseRollout({
      namespaces: [{ name: "shop", injection: true }, { name: "legacy" }],
      workloads: [
        { name: "api", namespace: "shop", image: "api:1", service: { ports: [{ port: 80, targetPort: 8080 }] } },
        { name: "scanner", namespace: "legacy", image: "scanner:1", probe: true, calls: ["shop/api"] },
      ],
      stages: [
        { name: "permissive", peerAuthentications: [{ name: "default", namespace: "istio-system", mode: "PERMISSIVE" }] },
        { name: "shop-strict", peerAuthentications: [{ name: "default", namespace: "shop", mode: "STRICT" }] },
      ],
    });
    const r = buildStageReport(rollout, "shop-strict", "permissive");
    // The probe along the call is the same edge: listed once, as the call.
    expect(r.edgeChanges.map((e) => [e.kind, e.from, e.to, e.after, e.breaking])).toEqual([
      ["call", "legacy/scanner", "shop/api", "refused", true],
    ]);
    expect(r.blockingViolations).toBe(1);
    const md = renderReportMarkdown(r);
    expect(md).toContain("including 1 declared call (**breaking**)");
    expect(md).toContain("**1 mandatory guardrail violation**: the program will refuse this stage.");
    expect(md).toMatch(/\| \*\*breaking\*\* \| declared call \| legacy\/scanner \| shop\/api \(api\.shop:80\) \| plaintext → refused \|/);
  });

  it("renders the same bytes for the same input", () => {
    for (const [i, s] of lab.stages.entries()) {
      const previous = i === 0 ? null : lab.stages[i - 1].name;
      expect(renderReportMarkdown(report(s.name, previous))).toBe(renderReportMarkdown(buildStageReport(loadRollout(), s.name, previous)));
    }
  });
});

describe("the Markdown of istioinaction-strict, rendered by markdown-it", () => {
  const html = new MarkdownIt().render(renderReportMarkdown(report("istioinaction-strict", "purchase-history-strict")));
  const tables = [...html.matchAll(/<table>([\s\S]*?)<\/table>/g)].map((m) =>
    [...m[1].matchAll(/<tr>([\s\S]*?)<\/tr>/g)].map((r) =>
      [...r[1].matchAll(/<t[hd]>([\s\S]*?)<\/t[hd]>/g)].map((c) => c[1].replace(/<[^>]+>/g, "")),
    ),
  );

  it("has the progress, coverage, policy and outcome tables with their expected rows", () => {
    expect(tables).toHaveLength(4);
    const [progress, open, policies, outcomes] = tables;
    // What the stage leaves open, and the policy that keeps it so.
    expect(open.slice(1)).toEqual([["default/httpbin", "8080", "PERMISSIVE", "istio-system/default"]]);
    expect(progress.slice(1).map((r) => [r[0], r[r.length - 1]])).toEqual([
      ["istioinaction", "100.0%"],
      ["default", "0.0%"],
    ]);
    expect(policies.slice(1)).toEqual([["added", "istioinaction/default", "-", "STRICT (all workloads)"]]);
    expect(outcomes.slice(1).map((r) => [r[0], r[2], r[4]])).toEqual([
      ["breaking", "default/sleep", "plaintext → refused"],
      ["breaking", "default/sleep", "plaintext → refused"],
    ]);
  });

  it("has no empty section, and the graph as a mermaid code block", () => {
    const sections = html.split(/<h3>/).slice(1);
    expect(sections.map((s) => s.slice(0, s.indexOf("</h3>")))).toEqual([
      "Progress",
      "Changes",
      "Guardrails",
      "Mesh after this stage",
      "Commands",
    ]);
    for (const s of sections) expect(s.slice(s.indexOf("</h3>") + 5).replace(/<[^>]+>|\s/g, "").length, s.slice(0, 20)).toBeGreaterThan(0);
    expect(html).toContain('<pre><code class="language-mermaid">graph LR');
  });
});

describe("acknowledgements in the report and the plan", () => {
  // The lab with one acknowledgement of each kind: web-api's port 8080 (its container port, as the file says).
  const acknowledging = {
    ...lab,
    stages: lab.stages.map((s, i) =>
      i === 1
        ? { ...s, acknowledgeUnverifiable: [{ target: "istioinaction/web-api:8080", reason: "no access log in this namespace | yet" }] }
        : s.name === "istioinaction-strict"
          ? { ...s, acknowledgePlaintext: [{ target: "istioinaction/web-api:8080", reason: "the old monitor's health checks" }] }
          : s,
    ),
  };

  it("lists what the stage accepts under Acknowledged, an earlier stage's unverifiable edges included, its cells escaped", () => {
    const r = buildStageReport(acknowledging, "istioinaction-strict", "purchase-history-strict");
    expect(r.acknowledged).toEqual([
      { kind: "plaintext", target: "istioinaction/web-api:8080", reason: "the old monitor's health checks" },
      { kind: "unverifiable", target: "istioinaction/web-api:8080", reason: "no access log in this namespace | yet" },
    ]);
    const md = renderReportMarkdown(r);
    expect(md).toContain(
      [
        "### Acknowledged",
        "",
        "| workload port | accepted | reason |",
        "| --- | --- | --- |",
        "| istioinaction/web-api:8080 | plaintext (gate) | the old monitor's health checks |",
        "| istioinaction/web-api:8080 | unverifiable (verify) | no access log in this namespace \\| yet |",
      ].join("\n"),
    );
    // A stage that acknowledges nothing has no such section.
    expect(renderReportMarkdown(buildStageReport(acknowledging, "permissive", null))).not.toContain("### Acknowledged");
  });

  it("shows them in plan's text and JSON", () => {
    const plan = buildPlan(acknowledging, "istioinaction-strict");
    const text = renderPlanText(plan, { style: { width: 120, color: false } });
    expect(text).toMatch(/Acknowledged \(2\)\n.*\n.*workload port +│ accepted +│ reason/);
    expect(text).toMatch(/istioinaction\/web-api:8080 │ unverifiable \(verify\) +│ no access log in this namespace \| yet/);
    expect(planJson(plan)).toMatchObject({
      acknowledgePlaintext: [{ target: "istioinaction/web-api:8080" }],
      acknowledgeUnverifiable: [{ target: "istioinaction/web-api:8080" }],
    });
  });
});

describe("the README's sample report", () => {
  it("is exactly what report --stage istioinaction-strict prints", async () => {
    const readme = fs.readFileSync(path.join(__dirname, "..", "README.md"), "utf8");
    const sample = /<!-- sample-report:start -->\n([\s\S]*?)\n<!-- sample-report:end -->/.exec(readme)![1];
    const printed = await cli(["report", "--stage", "istioinaction-strict"]);
    expect(printed.code).toBe(0);
    expect(sample).toBe(printed.stdout.trimEnd());
  });
});

describe("npx mtls-rollout report", () => {
  it("prints the Markdown report against the stage before, or against a fresh mesh with --previous none", async () => {
    const md = await cli(["report", "--stage", "purchase-history-strict"]);
    expect(md.code).toBe(0);
    expect(md.stdout).toMatch(/^## mtls-rollout: stage `purchase-history-strict`\n/);
    expect(md.stdout).toContain("against stage `permissive`");
    const fresh = await cli(["report", "--stage", "purchase-history-strict", "--format", "markdown", "--previous", "none"]);
    expect(fresh.stdout).toContain("against a fresh mesh with no PeerAuthentication, puts 2 PeerAuthentications in force");
  });

  it("prints a stage as small as the lab's whole, with or without --wide", async () => {
    const summarised = await cli(["report", "--stage", "istioinaction-strict"]);
    expect(summarised.stdout).toContain("```mermaid\ngraph LR\n");
    expect((await cli(["report", "--stage", "istioinaction-strict", "--wide"])).stdout).toBe(summarised.stdout);
  });

  it("prints the same content as JSON with --format json, and --json is the same document", async () => {
    const { code, stdout } = await cli(["report", "--stage", "mesh-strict", "--format", "json"]);
    expect(code).toBe(0);
    const json = JSON.parse(stdout);
    expect(json).toMatchObject({ stage: "mesh-strict", previous: "istioinaction-strict", blockingViolations: 0 });
    expect(json.edgeChanges).toHaveLength(1);
    expect((await cli(["report", "--stage", "mesh-strict", "--json"])).stdout).toBe(stdout);
  });

  it("exits 2 for an unknown previous stage or format, and says why live is not a stage to compare with", async () => {
    expect((await cli(["report", "--stage", "mesh-strict", "--previous", "nope"])).stderr).toMatch(
      /^error: --previous: unknown stage "nope"/,
    );
    expect((await cli(["report", "--stage", "mesh-strict", "--format", "html"])).code).toBe(2);
    const live = await cli(["report", "--stage", "mesh-strict", "--previous", "live"]);
    expect(live.code).toBe(2);
    expect(live.stderr).toBe(
      "error: --previous: live is what preflight and status read from the cluster; the report compares two stages of the rollout (a stage, or none)\n",
    );
  });
});

describe("npx mtls-rollout plan --format", () => {
  it("prints one plan document: --json and --format json are the same", async () => {
    const json = await cli(["plan", "--stage", "mesh-strict", "--json"]);
    expect(json.code).toBe(0);
    expect((await cli(["plan", "--stage", "mesh-strict", "--format", "json"])).stdout).toBe(json.stdout);
    // The plan (its keys are cli.test.ts's), not the report.
    expect(JSON.parse(json.stdout)).toHaveProperty("expectations");
    expect(JSON.parse(json.stdout)).not.toHaveProperty("edgeChanges");
  });

  it("refuses what belongs to the report, instead of ignoring it", async () => {
    const previous = await cli(["plan", "--stage", "mesh-strict", "--previous", "nope"]);
    expect(previous.code).toBe(2);
    expect(previous.stderr).toBe("error: unknown option '--previous'\n");
    expect((await cli(["plan", "--stage", "mesh-strict", "--format", "markdown"])).code).toBe(2);
  });
});
