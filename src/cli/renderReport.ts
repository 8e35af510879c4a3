import type { EdgeChange, ModeCount, PolicySpec, StageReport } from "../model/report";
import { isBlocking } from "../model/rules";
import { markdownParagraph, markdownText, mermaidLabel } from "../model/text";

const OUTCOME_LABEL = { mtls: "mTLS", plaintext: "plaintext", refused: "refused" } as const;

/** A cell the report itself marks up (`**breaking**`); every other cell is text and escaped. */
interface Markup {
  markdown: string;
}
type Cell = string | number | Markup;

const cellText = (c: Cell) => (typeof c === "object" ? c.markdown : markdownText(String(c)));

function row(cells: Cell[]): string {
  return `| ${cells.map(cellText).join(" | ")} |`;
}

function table(head: string[], rows: Cell[][]): string {
  return [row(head), `|${head.map(() => " --- |").join("")}`, ...rows.map(row)].join("\n");
}

/** A table, or a sentence saying there is nothing: a report section is never empty. */
function tableOr(none: string, head: string[], rows: Cell[][]): string {
  return rows.length === 0 ? none : table(head, rows);
}

/** A fenced block no line of its content can close: the fence is longer than any run of backticks in it. */
function fenced(info: string, lines: string[]): string {
  // A loop, not a spread: the graph of a 10,000-workload stage has more lines than a call takes arguments.
  let longest = 0;
  for (const line of lines) for (const run of line.match(/`+/g) ?? []) longest = Math.max(longest, run.length);
  const fence = "`".repeat(Math.max(3, longest + 1));
  return [`${fence}${info}`, ...lines, fence].join("\n");
}

function specText(spec: PolicySpec | null): string {
  if (!spec) return "-";
  const selector =
    spec.selector === null
      ? "all workloads"
      : Object.entries(spec.selector)
          .map(([k, v]) => `${k}=${v}`)
          .join(",");
  const ports = Object.entries(spec.portLevelMtls).map(([p, m]) => `${p}:${m}`);
  return `${spec.mode} (${selector})${ports.length ? `, ports ${ports.join(" ")}` : ""}`;
}

const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

function summary(r: StageReport): string {
  const count = (c: string) => r.policyChanges.filter((p) => p.change === c).length;
  const breaking = r.edgeChanges.filter((e) => e.breaking);
  const brokenCalls = breaking.filter((e) => e.kind === "call");
  return [
    `Stage \`${r.stage}\`, against ${r.previous === null ? "a fresh mesh with no PeerAuthentication" : `stage \`${r.previous}\``},`,
    `puts ${plural(count("added"), "PeerAuthentication")} in force, changes ${count("changed")} and retires ${count("removed")}.`,
    `${plural(r.edgeChanges.length, "edge changes", "edges change")} outcome${breaking.length ? `, ${breaking.length} of them refused from now on` : ""}` +
      `${brokenCalls.length ? `, including ${plural(brokenCalls.length, "declared call")} (**breaking**)` : ""}.`,
    r.blockingViolations === 0
      ? "No mandatory guardrail is violated."
      : `**${plural(r.blockingViolations, "mandatory guardrail violation")}**: the program will refuse this stage.`,
  ].join(" ");
}

function counts(c: ModeCount): string[] {
  return [String(c.STRICT), String(c.PERMISSIVE), String(c.DISABLE), String(c["outside the mesh"])];
}

function changeRow(e: EdgeChange): Cell[] {
  return [
    { markdown: e.breaking ? "**breaking**" : "" },
    e.kind === "call" ? "declared call" : "probe",
    e.from,
    `${e.to} (${e.host}:${e.port})`,
    `${OUTCOME_LABEL[e.before]} → ${OUTCOME_LABEL[e.after]}`,
    e.reason,
  ];
}

/** Mermaid ids must be plain identifiers; workloads get w0, w1, … in rollout order. */
export function mermaidGraph(r: StageReport): string {
  const refs = [...new Set(r.edges.flatMap((e) => [e.from, e.to]))];
  const all = [...new Set([...r.progress.map((p) => p.namespace), ...refs.map((ref) => ref.split("/")[0])])];
  const id = new Map(refs.map((ref, i) => [ref, `w${i}`]));
  const lines = ["graph LR"];
  all.forEach((namespace, n) => {
    const members = refs.filter((ref) => ref.startsWith(`${namespace}/`));
    if (members.length === 0) return;
    lines.push(`  subgraph ns${n}["${mermaidLabel(namespace)}"]`);
    for (const ref of members) lines.push(`    ${id.get(ref)}["${mermaidLabel(ref.split("/")[1])}"]`);
    lines.push("  end");
  });
  const byPair = new Map<string, Set<string>>();
  for (const e of r.edges) {
    const key = `${e.from} ${e.to}`;
    byPair.set(key, (byPair.get(key) ?? new Set()).add(e.expect));
  }
  for (const [key, outcomes] of byPair) {
    const [from, to] = key.split(" ");
    const label = [...outcomes].map((o) => OUTCOME_LABEL[o as keyof typeof OUTCOME_LABEL]).join(" / ");
    const arrow = outcomes.size === 1 && outcomes.has("refused") ? "-.->" : "-->";
    lines.push(`  ${id.get(from)} ${arrow}|${label}| ${id.get(to)}`);
  }
  return lines.join("\n");
}

/** The pull-request report: stable output (same input, same bytes), every section with content. */
export function renderReportMarkdown(r: StageReport): string {
  const out: string[] = [`## mtls-rollout: stage \`${r.stage}\``, ""];
  if (r.description) out.push(`> ${markdownParagraph(r.description)}`, "");
  out.push(summary(r), "");

  out.push("### Progress", "");
  out.push(
    table(
      [
        "namespace",
        "workloads STRICT",
        "PERMISSIVE",
        "DISABLE",
        "outside the mesh",
        "ports STRICT",
        "PERMISSIVE",
        "DISABLE",
        "outside the mesh",
        "coverage",
      ],
      r.progress.map((p) => [p.namespace, ...counts(p.workloads), ...counts(p.ports), `${p.coverage.toFixed(1)}%`]),
    ),
    "",
    "Coverage: the share of the namespace's workload ports that are STRICT.",
    "",
  );

  out.push("### Changes", "");
  out.push(
    tableOr(
      "No PeerAuthentication changes.",
      ["change", "PeerAuthentication", "before", "after"],
      r.policyChanges.map((p) => [p.change, `${p.namespace}/${p.name}`, specText(p.before), specText(p.after)]),
    ),
    "",
    tableOr("No edge changes its outcome.", ["", "edge", "from", "to", "outcome", "why"], r.edgeChanges.map(changeRow)),
    "",
  );

  out.push("### Guardrails", "");
  out.push(
    tableOr(
      "No rule is violated.",
      ["level", "rule", "resource", "message"],
      r.violations.map((v) => [
        { markdown: v.acknowledged !== undefined ? "acknowledged" : isBlocking(v) ? "**mandatory**" : v.level },
        v.rule,
        v.resource,
        v.acknowledged !== undefined ? `${v.message} (acknowledged: ${v.acknowledged})` : v.message,
      ]),
    ),
    "",
  );

  out.push("### Mesh after this stage", "", fenced("mermaid", mermaidGraph(r).split("\n")), "");

  out.push(
    "### Commands",
    "",
    fenced("sh", [
      "# apply this stage (the verification runs at the end of `pulumi up`)",
      ...r.commands.apply,
      "# verify again by hand",
      ...r.commands.verify,
      "# roll back",
      ...r.commands.rollback,
    ]),
    "",
  );
  return out.join("\n");
}
