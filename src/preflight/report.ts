import { textTable, TextStyle, UNBOUNDED } from "../render/textTable";
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

export function renderGateText(r: GateResult, style: TextStyle = UNBOUNDED): string {
  if (r.targets.length === 0) return `${gateSummary(r)}\nNothing turns STRICT at this stage: no gate to pass.\n`;
  const table = textTable(
    [
      { head: "workload" },
      { head: "ports" },
      { head: "verdict", coloured: true },
      { head: "plaintext callers" },
      { head: "evidence", prose: true },
    ],
    r.targets.map((t) => [
      t.workload,
      t.ports.join(", "),
      t.acknowledged !== undefined ? `${t.verdict} (acknowledged: ${t.acknowledged})` : t.verdict,
      t.callers.map((c) => c.source).join(", ") || "-",
      t.evidence,
    ]),
    style,
  );
  return `${table}\n${gateSummary(r)}\n`;
}
