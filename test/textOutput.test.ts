/**
 * Text a person reads: tables that fit the terminal (the prose column wraps, the names do not), colour on a
 * terminal only, and large plans summarised by namespace instead of a stack overflow or a wall of rows.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import * as commands from "../src/cli/commands";
import { main } from "../src/cli/main";
import { buildPlan } from "../src/model/plan";
import { parseRollout } from "../src/model/rollout";
import { loadRollout } from "../src/rollout/load";
import { renderPlanText } from "../src/cli/renderPlan";
import { SUMMARY_ROWS } from "../src/render/summary";
import { renderReportMarkdown, REPORT_LIMITS } from "../src/cli/renderReport";
import { buildStageReport } from "../src/model/report";
import { DEFAULT_WIDTH, textStyleOf, textTable } from "../src/render/textTable";
import { judgeTargets, tightenedTargets } from "../src/model/preflight";
import { renderGateText } from "../src/preflight/report";
import { compareWithRollout } from "../src/status/compare";
import { liveOf } from "./support/labCluster";
import { renderStatusText } from "../src/status/render";
import { renderVerificationText } from "../src/verify/report";
import { clusterState, fakeRunner, fakeVerifyOptions } from "./support/fakeCluster";
import { verifyOnFakeClock } from "./support/fakeClock";
import { runCli, tempFile } from "./support/files";
import { cli } from "./support/inProcessCli";

/** The widest line, in characters (box drawing counts one, as on a terminal). */
const widest = (text: string) => Math.max(...text.split("\n").map((l) => [...l].length));
/** The widest line but those starting with `summary`: a summary stays one line, for a log's tail. */
const widestBut = (text: string, summary: string) =>
  widest(
    text
      .split("\n")
      .filter((l) => !l.startsWith(summary))
      .join("\n"),
  );

/**
 * `namespaces` × 10 workloads in the mesh, each a Service on port 80 (workload port 8080), the i-th a probe where
 * `probe(i)`; with `legacy`, also a probe outside the mesh, legacy/old.
 */
function meshInput(namespaces: number, { probe = (_i: number): boolean => false, legacy = false } = {}) {
  return {
    namespaces: [
      ...Array.from({ length: namespaces }, (_, n) => ({ name: `ns${n}`, injection: true })),
      ...(legacy ? [{ name: "legacy" }] : []),
    ],
    workloads: [
      ...Array.from({ length: namespaces * 10 }, (_, i) => ({
        name: `w${i % 10}`,
        namespace: `ns${Math.floor(i / 10)}`,
        image: "img:1",
        service: { ports: [{ port: 80, targetPort: 8080 }] },
        ...(probe(i) ? { probe: true } : {}),
      })),
      ...(legacy ? [{ name: "old", namespace: "legacy", image: "curl:8", probe: true }] : []),
    ],
  };
}

/** A mesh of `namespaces` × 10 workloads and `probes` probes, as the bench generates it. */
function mesh(namespaces: number, probes: number) {
  const every = (namespaces * 10) / probes;
  return parseRollout({
    ...meshInput(namespaces, { probe: (i) => i % every === 0 }),
    stages: [
      {
        name: "strict",
        peerAuthentications: Array.from({ length: namespaces }, (_, n) => [
          { name: "default", namespace: `ns${n}`, mode: "PERMISSIVE" },
          { name: "w0-strict", namespace: `ns${n}`, selector: { app: "w0" }, mode: "STRICT" },
        ]).flat(),
      },
    ],
  });
}

describe("the width of text output", () => {
  it("is the terminal's, else $COLUMNS, else 100; colour only on a terminal, and never with NO_COLOR", () => {
    expect(textStyleOf({ isTTY: true, columns: 132 }, {})).toEqual({ width: 132, color: true });
    expect(textStyleOf({ isTTY: true, columns: 132 }, { NO_COLOR: "1" })).toEqual({ width: 132, color: false });
    expect(textStyleOf({ isTTY: true, columns: 132 }, { TERM: "dumb" })).toEqual({ width: 132, color: false });
    expect(textStyleOf({ isTTY: false }, { COLUMNS: "80" })).toEqual({ width: 80, color: false });
    expect(textStyleOf({ isTTY: false }, {})).toEqual({ width: DEFAULT_WIDTH, color: false });
    expect(textStyleOf({ isTTY: false }, { COLUMNS: "wide" })).toEqual({ width: DEFAULT_WIDTH, color: false });
  });

  it("is kept by wrapping the prose column at spaces, never by cutting a name", () => {
    const name = "istioinaction/purchase-history-v1";
    const table = textTable(
      [{ head: "to" }, { head: "why", prose: true }],
      [[name, "client has no sidecar and the target port is STRICT, so the server's sidecar refuses plaintext"]],
      { width: 60, color: false },
    );
    expect(widest(table)).toBeLessThanOrEqual(60);
    expect(table).toContain(`│ ${name} │`);
    expect(table.replace(/[│ \n]+/g, " ")).toContain(
      "client has no sidecar and the target port is STRICT, so the server's sidecar refuses plaintext",
    );
  });

  it("fits the lab's plan into 100 columns when stdout is no terminal, and a guardrail table into 80", () => {
    const plan = runCli(["plan", "--stage", "istioinaction-strict"], { env: { COLUMNS: "" } });
    expect(plan.code).toBe(0);
    expect(widest(plan.stdout)).toBeLessThanOrEqual(100);
    const twoDefaults = path.join(__dirname, "fixtures", "rollouts", "two-namespace-defaults.yaml");
    const narrow = runCli(["check", "--rollout", twoDefaults], { env: { COLUMNS: "80" } });
    expect(narrow.code).toBe(1);
    expect(narrow.stdout).toContain("one-default-per-scope");
    expect(widest(narrow.stdout)).toBeLessThanOrEqual(80);
  });

  it("fits the lab's verification into 100 columns, its declared calls under their callers, all but the summary line", async () => {
    const lab = loadRollout();
    const plan = buildPlan(lab, "istioinaction-strict");
    const atPrevious = fakeRunner(clusterState(lab, buildPlan(lab, "purchase-history-strict")));
    const result = await verifyOnFakeClock(plan, lab, atPrevious, fakeVerifyOptions({ timeoutMs: 1_500 }));
    const text = renderVerificationText(result, { style: { width: 100, color: false } });
    expect(text).toContain("\nDeclared calls\nFrom istioinaction/web-api\n");
    const lines = text.trimEnd().split("\n");
    expect(lines.pop()).toMatch(/^FAIL: stage istioinaction-strict: /);
    expect(widest(lines.join("\n"))).toBeLessThanOrEqual(100);
  });

  it("measures running text as printed: a character shown as \\uXXXX counts its six columns", async () => {
    const rollout = tempFile("bidi.yaml", [
      "namespaces: [ { name: shop, injection: true } ]",
      "workloads: [ { name: cart, namespace: shop, image: 'cart:1', service: { ports: [ { port: 80 } ] } } ]",
      "stages:",
      `  - name: s`,
      `    description: ${JSON.stringify(Array.from({ length: 12 }, () => "ab\u202ecd\u2066ef").join(" "))}`,
    ]);
    const { code, stdout } = await cli(["plan", "--stage", "s", "--rollout", rollout], { env: { COLUMNS: "40" } });
    expect(code).toBe(0);
    expect(stdout).toContain("ab\\u202ecd\\u2066ef");
    expect(stdout).not.toMatch(/[\u202e\u2066]/);
    // The stage's line and the warnings are running text (the table is as wide as its names need).
    const running = [stdout.slice(0, stdout.indexOf("\n\n")), stdout.slice(stdout.indexOf("\nWarnings\n"))];
    expect(running[0].split("\n").length).toBeGreaterThan(5);
    for (const text of running) expect(widest(text)).toBeLessThanOrEqual(40);
  });

  it("colours outcomes on a terminal, and nothing when piped", async () => {
    const run = async (color: boolean) => {
      let stdout = "";
      const io = { stdout: (t: string) => (stdout += t), stderr: () => {}, interactive: false, env: {}, style: { width: 120, color } };
      expect(await main(["plan", "--stage", "istioinaction-strict"], io, () => commands)).toBe(0);
      return stdout;
    };
    const coloured = await run(true);
    expect(coloured).toContain("\u001b[31mrefused  \u001b[39m");
    expect(coloured).toContain("\u001b[32mSTRICT");
    expect(coloured).toContain("\u001b[33mplaintext");
    expect(await run(false)).not.toContain("\u001b");
  });

  it("escapes a value's own escape sequences before it colours the cell", () => {
    const table = textTable([{ head: "verdict", coloured: true }], [["refused \u001b[8mhidden"]], { width: 80, color: true });
    expect(table).toContain("\u001b[31mrefused \\u001b[8mhidden\u001b[39m");
    expect(table).not.toContain("\u001b[8m");
    // A word the model does not use is not coloured, whatever it is called.
    expect(textTable([{ head: "verdict", coloured: true }], [["constructor"], ["__proto__"]], { width: 80, color: true })).not.toContain(
      "\u001b",
    );
  });
});

describe("a large plan as text", () => {
  const rollout = mesh(1000, 20);
  const large = buildPlan(rollout, "strict");

  it("prints 10,000 workloads and 199,980 edges without a stack overflow, summarised by namespace", () => {
    const text = renderPlanText(large, { style: { width: 100, color: false } });
    expect(text).toContain("PeerAuthentications in force (2000), by scope and mode (--wide or --json for every policy)");
    expect(text).toMatch(/│ namespace +│ 1000 +│ 0 +│ 1000 +│/);
    expect(text).toContain("Effective modes of 10000 workloads, by namespace");
    expect(text).toMatch(/│ ns0, ns1, ns2 and 997 more \(1,000\) │ 9 +│ 1 +│ 10 +│/);
    expect(text).toContain("Expectations: probes to every service port (199980), by the target's namespace");
    expect(text).toContain("No edge is refused at this stage.");
    expect(text.split("\n").length).toBeLessThan(60);
    expect(widest(text)).toBeLessThanOrEqual(100);
  });

  describe("its pull-request report", () => {
    const report = buildStageReport(rollout, "strict", null);

    it("fits a comment: summarised by namespace and change, the graph too large for Mermaid said so", () => {
      const markdown = renderReportMarkdown(report);
      expect(markdown.length).toBeLessThanOrEqual(REPORT_LIMITS.commentCharacters);
      for (const section of ["Progress", "Changes", "Guardrails", "Mesh after this stage", "Commands"]) {
        expect(markdown).toContain(`\n### ${section}\n`);
      }
      expect(markdown).toContain("| ns0, ns1, ns2 and 997 more (1,000) | 1 | 9 | 0 | 0 | 1 | 9 | 0 | 0 | 10.0% |");
      expect(markdown).toContain("2000 PeerAuthentication changes, by change and mode (`--wide` or `--format json` for every one):");
      expect(markdown).toContain("| added | PERMISSIVE | 1000 | ns0, ns1, ns2 and 997 more (1,000) |");
      expect(markdown).toContain("| added | STRICT | 1000 | ns0, ns1, ns2 and 997 more (1,000) |");
      expect(markdown).not.toContain("```mermaid");
      expect(markdown).toContain(
        "The graph of this stage joins 10000 workloads by 199980 edges: more than the 500 Mermaid draws. `--wide` prints it; `plan --json` has every edge.",
      );
    });

    it("lists as many of the edges a stage breaks as fit, and says how many more", () => {
      const withLegacyClient = parseRollout({
        ...meshInput(40, { legacy: true }),
        stages: [
          { name: "permissive" },
          { name: "strict", peerAuthentications: [{ name: "default", namespace: "istio-system", mode: "STRICT" }] },
        ],
      });
      const markdown = renderReportMarkdown(buildStageReport(withLegacyClient, "strict", "permissive"));
      expect(markdown).toContain("400 edges change outcome, 400 of them refused from now on.");
      expect(markdown).toContain("| probe | plaintext → refused | 400 | ns0, ns1, ns2 and 37 more (40) |");
      expect(markdown).toContain("Refused from now on (400):");
      expect(markdown.match(/^\| \*\*breaking\*\* \| probe \| legacy\/old \|/gm)).toHaveLength(REPORT_LIMITS.maxRows);
      expect(markdown).toContain("… and 340 more breaking edges: `--wide` or `--format json` for every one.");
      // 400 edges, within what Mermaid draws, but too long a text beside the tables.
      expect(markdown).toMatch(
        /The graph of this stage joins 401 workloads by 400 edges: [\d,]+ characters of Mermaid, more than the report keeps for it \(14,000\)\./,
      );
      expect(markdown.length).toBeLessThanOrEqual(REPORT_LIMITS.commentCharacters);
      expect(
        renderReportMarkdown(buildStageReport(withLegacyClient, "strict", "permissive"), { wide: true }).match(/\*\*breaking\*\*/g),
      ).toHaveLength(400);
    });

    it("prints all of it with --wide, whose graph has more lines than a call takes arguments", () => {
      const markdown = renderReportMarkdown(report, { wide: true });
      expect(markdown).toMatch(/^## mtls-rollout: stage `strict`\n/);
      const graph = markdown.slice(markdown.indexOf("```mermaid\n"), markdown.indexOf("\n```\n\n### Commands"));
      expect(graph.split("\n").length).toBeGreaterThan(200_000);
      expect(markdown).toContain("| added | ns999/w0-strict | - | STRICT (app=w0) |");
    });
  });

  it("prints every row with --wide, however many", () => {
    const text = renderPlanText(large, { style: { width: 100, color: false }, wide: true });
    // 2,000 policies, 10,000 workloads, 199,980 edges: a row each, under headings and borders.
    expect(text.split("\n").length).toBeGreaterThan(2_000 + 10_000 + 199_980);
    expect(text).toMatch(/│ ns999 +│ w9 +│ yes +│ PERMISSIVE +│ 8080:PERMISSIVE +│/);
  });

  it("lists the refused edges in full beside the summary", () => {
    const withoutSidecar = parseRollout({
      ...meshInput(10, { probe: (i) => i % 20 === 0, legacy: true }),
      stages: [{ name: "strict", peerAuthentications: [{ name: "default", namespace: "ns3", mode: "STRICT" }] }],
    });
    const plan = buildPlan(withoutSidecar, "strict");
    expect(plan.expectations.length).toBeGreaterThan(SUMMARY_ROWS);
    const text = renderPlanText(plan, { style: { width: 120, color: false } });
    expect(text).toContain("Refused at this stage (10)");
    expect(text).toContain("From legacy/old");
    expect(text.match(/│ ns3\/w\d +│ .* refused /g)).toHaveLength(10);
  });
});

describe("the plan of the README's lab", () => {
  it("has the layout the README shows", async () => {
    const readme = fs.readFileSync(path.join(__dirname, "..", "README.md"), "utf8");
    const sample = /<!-- sample-plan:start -->\n```\n([\s\S]*?)\n```\n<!-- sample-plan:end -->/.exec(readme)![1];
    const printed = (await cli(["plan", "--stage", "istioinaction-strict"], { env: { COLUMNS: "120" } })).stdout;
    expect(printed).toContain(sample);
  });
});

describe("large results of verify, status and preflight as text", () => {
  // 80 services in 8 namespaces and two probes, one outside the mesh: beyond SUMMARY_ROWS in every table.
  const input = (strict: { name: string; namespace: string; mode: string }[]) => ({
    ...meshInput(8, { probe: (i) => i === 0, legacy: true }),
    stages: [{ name: "open" }, { name: "strict", peerAuthentications: strict }],
  });
  const rollout = parseRollout(input([{ name: "default", namespace: "ns3", mode: "STRICT" }]));
  const style = { width: 100, color: false };

  it("verify: counts by the target's namespace and verdict, and lists in full only the edges that do not hold", async () => {
    const plan = buildPlan(rollout, "strict");
    // The cluster is still open: the probe outside the mesh reaches ns3, which the stage refuses it.
    const result = await verifyOnFakeClock(
      plan,
      rollout,
      fakeRunner(clusterState(rollout, buildPlan(rollout, "open"))),
      fakeVerifyOptions({ timeoutMs: 1_000 }),
    );
    expect(result.edges.length).toBeGreaterThan(SUMMARY_ROWS);
    const text = renderVerificationText(result, { style });
    expect(text).toContain("159 probed edges, by the target's namespace (--wide or --json for every edge)");
    expect(text).toMatch(/│ ns1, ns2, ns4 and 3 more \(6\) │ 0 +│ 20 +│ 20 +│/);
    expect(text).toMatch(/│ ns3 +│ 10 +│ 10 +│ 20 +│/);
    expect(text).toContain("Contradicting (10)");
    expect(text).not.toContain("Inconclusive (");
    expect(text.match(/│ ns3\/w\d:80 +│ refused +│ plaintext +│ contradicts +│/g)).toHaveLength(10);
    expect(text).not.toMatch(/│ ns0\/w\d:80 /);
    expect(widest(text)).toBeLessThanOrEqual(100);
    const wide = renderVerificationText(result, { style, wide: true });
    expect(wide.match(/│ ns\d\/w\d:80 /g)).toHaveLength(159);
    expect(text.trim().split("\n").pop()).toBe(wide.trim().split("\n").pop());
  });

  it("verify: lists the first screen of inconclusive edges, however many share their cause, and says how many more", async () => {
    const plan = buildPlan(rollout, "strict");
    const unreachable = async () => ({
      exitCode: 1,
      stdout: "",
      stderr: "error: the server is currently unable to handle the request\n",
      timedOut: false,
    });
    const result = await verifyOnFakeClock(plan, rollout, unreachable, fakeVerifyOptions({ timeoutMs: 300 }));
    const text = renderVerificationText(result, { style });
    expect(text).toContain(`Inconclusive (159, the first ${SUMMARY_ROWS})`);
    expect(text).toContain(`… and ${159 - SUMMARY_ROWS} more inconclusive edges: --wide or --json for every one.`);
    expect(text.match(/│ ns\d\/w\d:80 +│/g)).toHaveLength(SUMMARY_ROWS);
  });

  it("status: counts live modes by namespace, and lists in full only the workloads whose live mode differs", () => {
    // ns3's default is on the cluster, but PERMISSIVE.
    // Every namespace STRICT at the stage; on the cluster ns3's default is PERMISSIVE.
    const everyNamespace = parseRollout(
      input(Array.from({ length: 8 }, (_, n) => ({ name: "default", namespace: `ns${n}`, mode: "STRICT" }))),
    );
    const live = everyNamespace.stages[1].peerAuthentications.map((pa) => ({
      policy: { ...pa, mode: pa.namespace === "ns3" ? ("PERMISSIVE" as const) : pa.mode },
      createdAt: "2026-11-01T10:00:00Z",
      dormant: false,
      managed: true,
    }));
    const status = compareWithRollout(everyNamespace, liveOf(everyNamespace, live));
    const text = renderStatusText(status, "kind-lab", { style });
    expect(text).toContain("81 workloads, by namespace and live mode (--wide or --json for every workload)");
    expect(text).toMatch(/│ ns3 +│ 10 +│ 0 +│ 0 +│ 10 +│/);
    // Every line but the summary, which stays one line for a log's tail.
    expect(widestBut(text, "DRIFT: ")).toBeLessThanOrEqual(100);
    expect(text).toContain("Live mode differs (10)");
    const roomy = renderStatusText(status, "kind-lab", { style: { width: 140, color: false } });
    expect(roomy.match(/│ ns3 +│ w\d +│ PERMISSIVE +│ STRICT +│ DIFFERS │/g)).toHaveLength(10);
    expect(text).not.toMatch(/│ ns0 +│ w\d /);
    expect(renderStatusText(status, "kind-lab", { style, wide: true }).match(/│ ns\d +│ w\d /g)).toHaveLength(80);
  });

  it("status: names a port only where its mode differs from its workload's, so the table fits a terminal", () => {
    const shop = parseRollout({
      namespaces: [{ name: "shop", injection: true }],
      workloads: [
        {
          name: "cart",
          namespace: "shop",
          image: "cart:1",
          labels: { app: "cart" },
          service: {
            ports: [
              { name: "http", port: 80, targetPort: 8080 },
              { name: "metrics", port: 9090 },
            ],
          },
        },
      ],
      stages: [
        {
          name: "s",
          peerAuthentications: [
            { name: "cart", namespace: "shop", selector: { app: "cart" }, mode: "STRICT", portLevelMtls: { 9090: "PERMISSIVE" } },
          ],
        },
      ],
    });
    // On the cluster the policy lacks its port-level exception.
    const live = shop.stages[0].peerAuthentications.map((pa) => ({
      policy: { ...pa, portLevelMtls: undefined },
      createdAt: "2026-11-01T10:00:00Z",
      dormant: false,
      managed: true,
    }));
    const text = renderStatusText(compareWithRollout(shop, liveOf(shop, live)), "kind-lab", { style: { width: 80, color: false } });
    expect(text).toMatch(/│ shop +│ cart +│ STRICT +│ STRICT \(9090:PERMISSIVE\) +│ DIFFERS │/);
    expect(widestBut(text, "DRIFT: ")).toBeLessThanOrEqual(80);
  });

  it("preflight: counts verdicts by namespace, and lists in full only the workloads still receiving plaintext", () => {
    const wider = parseRollout(input([{ name: "default", namespace: "istio-system", mode: "STRICT" }]));
    const targets = tightenedTargets(wider, "strict", { stage: "open" });
    expect(targets.length).toBeGreaterThan(SUMMARY_ROWS);
    const evidence = new Map(
      targets.map((t) => [
        t.workload,
        t.workload === "ns5/w5"
          ? { callers: [{ source: "legacy/old", requests: 3, connections: 0 }], via: "sidecar stats" }
          : { callers: [], via: "sidecar stats" },
      ]),
    );
    const gate = judgeTargets("strict", "open", targets, evidence, []);
    const text = renderGateText(gate, { style });
    expect(text).toContain("80 workloads turn STRICT, by namespace (--wide or --json for every workload)");
    expect(text).toContain("Still receiving plaintext (1)");
    expect(text).not.toContain("Without evidence");
    expect(text).toMatch(/│ ns5\/w5 +│ 8080 +│ fail +│ legacy\/old +│/);
    expect(text.trim().split("\n").pop()).toMatch(
      /^PLAINTEXT: stage strict tightens 80 workloads against open: 79 clear, 1 still receive plaintext/,
    );
    expect(renderGateText(gate, { style, wide: true }).match(/│ ns\d\/w\d +│ 8080 /g)).toHaveLength(80);
    // Without evidence everywhere (Prometheus unreachable): a screen of them, and how many more.
    const blind = judgeTargets(
      "strict",
      "open",
      targets,
      new Map(targets.map((t) => [t.workload, { error: "Prometheus unreachable" }])),
      [],
    );
    const blindText = renderGateText(blind, { style });
    expect(blindText).toContain(`Without evidence (80, the first ${SUMMARY_ROWS})`);
    expect(blindText).toContain(`… and ${80 - SUMMARY_ROWS} more without evidence: --wide or --json for every one.`);
    expect(blindText.match(/│ ns\d\/w\d +│ 8080 /g)).toHaveLength(SUMMARY_ROWS);
  });
});
