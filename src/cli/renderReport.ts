import type { EdgeChange, ModeCount, PolicySpec, StageReport } from "../model/report";
import { isBlocking } from "../model/rules";
import { groupBy } from "../model/groupBy";
import { groupNames, SUMMARY_ROWS } from "../render/summary";
import { count, markdownParagraph, markdownText, mermaidLabel } from "../model/text";

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

/** A table's heading row and the rule under it. */
const tableHead = (head: string[]) => [row(head), `|${head.map(() => " --- |").join("")}`];

function table(head: string[], rows: Cell[][]): string {
  return [...tableHead(head), ...rows.map(row)].join("\n");
}

/**
 * How much of a large stage the report shows. A pull-request comment holds 65,536 characters (GitHub's limit), and
 * Mermaid draws at most 500 edges of at most 50,000 characters of text (its defaults, which a diagram cannot raise:
 * maxEdges and maxTextSize are among its secure keys). Each table shows at most MAX_ROWS rows and at most its
 * budget of characters, the graph its own; the budgets sum to well under the comment's limit.
 */
export const REPORT_LIMITS = {
  commentCharacters: 65_536,
  maxRows: SUMMARY_ROWS,
  tableCharacters: 10_000,
  graphEdges: 500,
  graphCharacters: 14_000,
} as const;

export interface ReportMarkdownOptions {
  /** Every row and the whole graph, however long: for a file, not a comment. */
  wide?: boolean;
}

const EVERYTHING = "`--wide` or `--format json` for every one";

/**
 * A table of the rows that fit MAX_ROWS and the table's budget, then a line saying how many were left out; every
 * row with `wide`. A sentence when there are no rows: a report section is never empty.
 */
function boundedTable(
  none: string,
  head: string[],
  rows: Cell[][],
  [one, many]: [string, string],
  { wide }: ReportMarkdownOptions,
): string {
  if (rows.length === 0) return none;
  if (wide) return table(head, rows);
  const lines = tableHead(head);
  let size = lines[0].length + lines[1].length;
  let shown = 0;
  for (const cells of rows) {
    if (shown === REPORT_LIMITS.maxRows) break;
    const line = row(cells);
    if (shown > 0 && size + line.length + 1 > REPORT_LIMITS.tableCharacters) break;
    lines.push(line);
    size += line.length + 1;
    shown++;
  }
  if (shown < rows.length) lines.push("", `… and ${plural(rows.length - shown, `more ${one}`, `more ${many}`)}: ${EVERYTHING}.`);
  return lines.join("\n");
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

/** The namespaces' progress; beyond MAX_ROWS, namespaces with the same counts share a row. */
function progressRows(r: StageReport, { wide }: ReportMarkdownOptions): Cell[][] {
  const cells = (p: StageReport["progress"][number]) => [...counts(p.workloads), ...counts(p.ports), `${p.coverage.toFixed(1)}%`];
  if (wide || r.progress.length <= REPORT_LIMITS.maxRows) return r.progress.map((p) => [p.namespace, ...cells(p)]);
  const alike = groupBy(r.progress, (p) => cells(p).join(" "));
  return [...alike.values()].map((group) => [groupNames(group.map((p) => p.namespace)), ...cells(group[0])]);
}

function policyChangesMarkdown(r: StageReport, options: ReportMarkdownOptions): string[] {
  const changes = r.policyChanges;
  const rows = changes.map((p) => [p.change, `${p.namespace}/${p.name}`, specText(p.before), specText(p.after)]);
  if (options.wide || changes.length <= REPORT_LIMITS.maxRows) {
    return [
      boundedTable(
        "No PeerAuthentication changes.",
        ["change", "PeerAuthentication", "before", "after"],
        rows,
        ["change", "changes"],
        options,
      ),
    ];
  }
  // By change and by the mode it leaves in force (or retires), with the namespaces it happens in.
  const modeOf = (p: StageReport["policyChanges"][number]) => (p.after ?? p.before)!.mode;
  const byKind = groupBy(changes, (p) => `${p.change} ${modeOf(p)}`);
  return [
    `${plural(changes.length, "PeerAuthentication change")}, by change and mode (${EVERYTHING}):`,
    "",
    boundedTable(
      "",
      ["change", "mode", "PeerAuthentications", "in namespaces"],
      [...byKind.values()].map((group) => [
        group[0].change,
        modeOf(group[0]),
        group.length,
        groupNames([...new Set(group.map((p) => p.namespace))]),
      ]),
      ["kind of change", "kinds of change"],
      options,
    ),
  ];
}

function edgeChangesMarkdown(r: StageReport, options: ReportMarkdownOptions): string[] {
  const changes = r.edgeChanges;
  const head = ["", "edge", "from", "to", "outcome", "why"];
  if (options.wide || changes.length <= REPORT_LIMITS.maxRows) {
    return [boundedTable("No edge changes its outcome.", head, changes.map(changeRow), ["edge change", "edge changes"], options)];
  }
  // By outcome, then the breaking ones (declared calls first), as many as fit.
  const byOutcome = groupBy(changes, (e) => `${e.kind} ${e.before} ${e.after}`);
  const breaking = changes.filter((e) => e.breaking);
  return [
    `${plural(changes.length, "edge changes", "edges change")} outcome, by kind and outcome (${EVERYTHING}):`,
    "",
    table(
      ["edge", "outcome", "edges", "into namespaces"],
      [...byOutcome.values()].map((group) => [
        group[0].kind === "call" ? "declared call" : "probe",
        `${OUTCOME_LABEL[group[0].before]} → ${OUTCOME_LABEL[group[0].after]}`,
        group.length,
        groupNames([...new Set(group.map((e) => e.to.split("/")[0]))]),
      ]),
    ),
    "",
    breaking.length === 0 ? "None of them is refused from now on." : `Refused from now on (${breaking.length}):`,
    ...(breaking.length === 0 ? [] : ["", boundedTable("", head, breaking.map(changeRow), ["breaking edge", "breaking edges"], options)]),
  ];
}

/** The graph of the stage; when Mermaid or a comment could not hold it, a sentence that says so and where to look. */
function graphMarkdown(r: StageReport, { wide }: ReportMarkdownOptions): string {
  const edges = new Set(r.edges.map((e) => `${e.from} ${e.to}`)).size;
  // Not drawn at all beyond Mermaid's edges: a 10,000-workload graph takes seconds to write.
  const graph = wide || edges <= REPORT_LIMITS.graphEdges ? mermaidGraph(r) : undefined;
  if (graph !== undefined && (wide || graph.length <= REPORT_LIMITS.graphCharacters)) return fenced("mermaid", graph.split("\n"));
  const workloads = new Set(r.edges.flatMap((e) => [e.from, e.to])).size;
  const why =
    graph === undefined
      ? `more than the ${REPORT_LIMITS.graphEdges} Mermaid draws`
      : `${count(graph.length)} characters of Mermaid, more than the report keeps for it (${count(REPORT_LIMITS.graphCharacters)})`;
  return (
    `The graph of this stage joins ${plural(workloads, "workload")} by ${plural(edges, "edge")}: ${why}. ` +
    "`--wide` prints it; `plan --json` has every edge."
  );
}

/**
 * The pull-request report: stable output (same input, same bytes), every section with content, and within a
 * comment's size however large the stage (unless `wide`).
 */
/** The stage's coverage in a sentence, and every port of a workload with a sidecar that is not STRICT, with what keeps it open. */
function coverageMarkdown(r: StageReport, options: ReportMarkdownOptions): string {
  const c = r.coverage;
  if (c.total === 0) return "No workload with a sidecar has a port.";
  const percent = Math.round((c.strict / c.total) * 1000) / 10;
  const line = `${c.strict} of ${c.total} ports of workloads with a sidecar are STRICT after this stage (${percent}%).`;
  if (c.open.length === 0) return `${line} Nothing is left open.`;
  return `${line}\n\n${boundedTable(
    "",
    ["workload", "port", "mode", "kept open by"],
    c.open.map((p) => [p.workload, p.port, p.mode, p.keptBy ?? "no policy: Istio's default"]),
    ["port", "ports"],
    options,
  )}`;
}

export function renderReportMarkdown(r: StageReport, options: ReportMarkdownOptions = {}): string {
  const out: string[] = [`## mtls-rollout: stage \`${r.stage}\``, ""];
  if (r.description) out.push(`> ${markdownParagraph(r.description)}`, "");
  out.push(summary(r), "");

  out.push("### Progress", "");
  out.push(
    boundedTable(
      "No workload.",
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
      progressRows(r, options),
      ["row", "rows"],
      options,
    ),
    "",
    "Coverage: the share of the namespace's workload ports that are STRICT.",
    "",
  );
  out.push(coverageMarkdown(r, options), "");

  out.push("### Changes", "");
  out.push(...policyChangesMarkdown(r, options), "", ...edgeChangesMarkdown(r, options), "");

  out.push("### Guardrails", "");
  out.push(
    boundedTable(
      "No rule is violated.",
      ["level", "rule", "resource", "message"],
      r.violations.map((v) => [
        { markdown: v.acknowledged !== undefined ? "acknowledged" : isBlocking(v) ? "**mandatory**" : v.level },
        v.rule,
        v.resource,
        v.acknowledged !== undefined ? `${v.message} (acknowledged: ${v.acknowledged})` : v.message,
      ]),
      ["finding", "findings"],
      options,
    ),
    "",
  );

  if (r.acknowledged.length > 0) {
    out.push("### Acknowledged", "");
    out.push(
      boundedTable(
        "",
        ["workload port", "accepted", "reason"],
        r.acknowledged.map((a) => [a.target, a.kind === "plaintext" ? "plaintext (gate)" : "unverifiable (verify)", a.reason]),
        ["acknowledgement", "acknowledgements"],
        options,
      ),
      "",
    );
  }

  out.push("### Mesh after this stage", "", graphMarkdown(r, options), "");

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
