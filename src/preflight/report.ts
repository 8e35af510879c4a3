import { countsTable, firstScreen, namespaceOf, SUMMARY_ROWS, type TextOptions } from "../render/summary";
import { textTable, TextStyle, UNBOUNDED, wrapText } from "../render/textTable";
import type { GateResult } from "../model/preflight";

export const EXIT_CLEAR = 0;
export const EXIT_PLAINTEXT = 1;
export const EXIT_NO_EVIDENCE = 3;

export const gateExitCode = (r: GateResult) =>
  r.outcome === "pass" ? EXIT_CLEAR : r.outcome === "fail" ? EXIT_PLAINTEXT : EXIT_NO_EVIDENCE;

export function gateSummary(r: GateResult): string {
  const n = (v: string) => r.targets.filter((t) => t.verdict === v && t.acknowledged === undefined).length;
  const acked = r.targets.filter((t) => t.acknowledged !== undefined).length;
  const word = { pass: "CLEAR", fail: "PLAINTEXT", inconclusive: "NO EVIDENCE" }[r.outcome];
  return (
    `${word}: stage ${r.stage} tightens ${r.targets.length} workload${r.targets.length === 1 ? "" : "s"}` +
    ` against ${r.previous ?? "a fresh mesh"}: ${n("pass")} clear, ${n("fail")} still receive plaintext, ${n("inconclusive")} without evidence` +
    (acked ? `, ${acked} acknowledged` : "")
  );
}

function targetsTable(targets: readonly GateResult["targets"][number][], style: TextStyle): string {
  return textTable(
    [
      { head: "workload" },
      { head: "ports" },
      { head: "verdict", coloured: true },
      { head: "plaintext callers" },
      { head: "evidence", prose: true },
    ],
    targets.map((t) => [
      t.workload,
      t.ports.join(", "),
      t.acknowledged !== undefined ? `${t.verdict} (acknowledged: ${t.acknowledged})` : t.verdict,
      t.callers.map((c) => c.source).join(", ") || "-",
      t.evidence,
    ]),
    style,
  );
}

/**
 * The gate's verdict per workload about to go STRICT, the summary last. Beyond SUMMARY_ROWS workloads, unless
 * `wide`, the verdicts are counted by namespace, every workload still receiving plaintext is listed, and the first
 * SUMMARY_ROWS of those without evidence.
 */
export function renderGateText(r: GateResult, { style, wide }: TextOptions = { style: UNBOUNDED }): string {
  if (r.targets.length === 0) return `${gateSummary(r)}\nNothing turns STRICT at this stage: no gate to pass.\n`;
  if (wide || r.targets.length <= SUMMARY_ROWS) return `${targetsTable(r.targets, style)}\n${gateSummary(r)}\n`;
  const verdictOf = (t: GateResult["targets"][number]) => (t.acknowledged !== undefined ? `${t.verdict} (acknowledged)` : t.verdict);
  // Every workload still receiving plaintext in full; those without evidence, often one cause many times over (an
  // unreachable Prometheus), up to a screen.
  const plaintext = r.targets.filter((t) => t.verdict === "fail");
  const noEvidence = r.targets.filter((t) => t.verdict === "inconclusive");

  return [
    wrapText(`${r.targets.length} workloads turn STRICT, by namespace (--wide or --json for every workload)`, style.width),
    countsTable(r.targets, (t) => namespaceOf(t.workload), verdictOf, { groups: "namespaces", total: "workloads each" }, style),
    ...(plaintext.length + noEvidence.length === 0 ? ["Every workload is clear."] : []),
    ...(plaintext.length > 0 ? [`Still receiving plaintext (${plaintext.length})`, targetsTable(plaintext, style)] : []),
    ...firstScreen("Without evidence", noEvidence, (shown) => [targetsTable(shown, style)], "without evidence"),
    gateSummary(r),
    "",
  ].join("\n");
}
