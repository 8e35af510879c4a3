import { groupBy } from "../model/groupBy";
import { countsTable, firstScreen, namespaceOf, SUMMARY_ROWS, type TextOptions } from "../render/summary";
import { Column, textTable, TextStyle, UNBOUNDED, wrapText } from "../render/textTable";
import type { CallResult } from "./calls";
import type { EdgeResult, VerificationResult } from "./verifier";
import { liveModeJson, liveModeText, modeText } from "../render/liveModes";

export const EXIT_VERIFIED = 0;
export const EXIT_CONTRADICTED = 1;
export const EXIT_INCONCLUSIVE = 3;

export function exitCodeOf(result: VerificationResult): number {
  return result.outcome === "pass" ? EXIT_VERIFIED : result.outcome === "fail" ? EXIT_CONTRADICTED : EXIT_INCONCLUSIVE;
}

/** One line: what the Pulumi stack output and a CI log show. */
export function summaryLine(result: VerificationResult): string {
  const count = (v: string) => result.edges.filter((e) => e.verdict === v).length;
  const verdict = result.interrupted
    ? `INTERRUPTED (${result.interrupted})`
    : { pass: "PASS", fail: "FAIL", inconclusive: "INCONCLUSIVE" }[result.outcome];
  if (result.liveDiffering.length > 0) {
    const n = result.liveDiffering.length;
    return `${verdict}: stage ${result.stage}: the cluster does not give ${n} workload${n === 1 ? "" : "s"} the stage's modes (Live state above); nothing was probed`;
  }
  if (result.matrixEdges === 0)
    return `${verdict}: stage ${result.stage}: no edge to probe: the rollout has no probe workload (probe: true, or a probes: section)`;
  const probed = result.edges.length < result.matrixEdges ? ` (${result.edges.length} probed)` : "";
  const calls = (v: string) => result.calls.filter((c) => c.verdict === v).length;
  const callPart =
    result.calls.length > 0
      ? `; ${result.calls.length} declared calls, ${calls("holds")} hold, ${calls("contradicts")} contradict, ${calls("unverified")} unverified`
      : "";
  const unverifiable = count("unverifiable");
  const acknowledged = result.edges.filter((e) => e.verdict === "unverifiable" && e.acknowledged !== undefined).length;
  const unverifiablePart = unverifiable > 0 ? `, ${unverifiable} unverifiable (${acknowledged} acknowledged)` : "";
  return (
    `${verdict}: stage ${result.stage}: ${result.matrixEdges} edges${probed}, ${count("holds")} hold, ${count("contradicts")} contradict, ` +
    `${count("inconclusive")} inconclusive${unverifiablePart}${callPart} (${result.rounds} rounds, ${(result.elapsedMs / 1000).toFixed(1)}s)`
  );
}

/** Items under the workload they come from, a table each: the workload is the heading, so the rows fit a terminal. */
function tablesByFrom<T extends { from: string }>(
  items: readonly T[],
  columns: Column[],
  cells: (item: T) => string[],
  style: TextStyle,
): string[] {
  return [...groupBy(items, (i) => i.from)].flatMap(([from, ofOne]) => [`From ${from}`, textTable(columns, ofOne.map(cells), style)]);
}

const VERDICT_COLUMNS: Column[] = [
  { head: "expected", coloured: true },
  { head: "observed", coloured: true },
  { head: "verdict", coloured: true },
];

/** The probed edges under their client. */
function edgesByClient(edges: readonly EdgeResult[], style: TextStyle): string[] {
  return tablesByFrom(
    edges,
    [{ head: "to" }, ...VERDICT_COLUMNS, { head: "evidence", prose: true }],
    (e) => {
      const evidence = [
        e.evidence,
        ...e.brokenHops.map((h) => `broken hop: ${h}`),
        ...(e.acknowledged !== undefined ? [`acknowledged: ${e.acknowledged}`] : []),
      ].join("; ");
      const standsFor = e.standsFor.length > 0 ? ` (probed for ${e.standsFor.join(", ")} too)` : "";
      const verdict = e.acknowledged !== undefined ? `${e.verdict} (acknowledged)` : e.verdict;
      return [`${e.to}:${e.port}`, e.expect, e.observed ?? "-", verdict, evidence + standsFor];
    },
    style,
  );
}

/** The declared calls under their caller, as the probed edges are under their client. */
function callsByCaller(calls: readonly CallResult[], style: TextStyle): string[] {
  return tablesByFrom(
    calls,
    [{ head: "calls" }, ...VERDICT_COLUMNS, { head: "evidence (the callee's sidecar, start to end of the run)", prose: true }],
    (c) => [c.to, c.expect, c.observed ?? "-", c.verdict, c.evidence],
    style,
  );
}

/**
 * The verification as a person reads it: every probed edge under its client, then the declared calls, then when it
 * ended and the summary line (last, for a log's tail). Beyond SUMMARY_ROWS, unless `wide`, the edges and calls are
 * counted by the target's namespace and verdict: every contradicting edge and every call that does not hold are
 * listed, and the first SUMMARY_ROWS inconclusive edges.
 */
export function renderVerificationText(result: VerificationResult, { style, wide }: TextOptions = { style: UNBOUNDED }): string {
  const out: string[] = [];
  const verdictOf = (item: { verdict: string }) => item.verdict;
  if (result.liveDiffering.length > 0) {
    out.push(
      wrapText(
        "Live state: the cluster, read before probing, does not give these workloads the stage's modes (its PeerAuthentications are not the stage's, Istio applies an older one, a pod runs without its sidecar, or the workload is not there); `mtls-rollout status` says which",
        style.width,
      ),
      textTable(
        [{ head: "workload" }, { head: "live", prose: true }, { head: "expected" }],
        result.liveDiffering.map((w) => [`${w.namespace}/${w.name}`, liveModeText(w), modeText(w.expected.mode, w.expected.ports)]),
        style,
      ),
    );
  }

  if (wide || result.edges.length <= SUMMARY_ROWS) out.push(...edgesByClient(result.edges, style));
  else {
    // Every contradiction in full; the inconclusive edges, often one cause many times over (a deadline), up to a screen.
    const contradicting = result.edges.filter((e) => e.verdict === "contradicts");
    const inconclusive = result.edges.filter((e) => e.verdict === "inconclusive" || e.verdict === "unverifiable");
    out.push(
      wrapText(`${result.edges.length} probed edges, by the target's namespace (--wide or --json for every edge)`, style.width),
      countsTable(result.edges, (e) => namespaceOf(e.to), verdictOf, { groups: "target namespaces", total: "edges each" }, style),
    );
    if (contradicting.length + inconclusive.length === 0) out.push("Every probed edge holds.");
    if (contradicting.length > 0) out.push(`Contradicting (${contradicting.length})`, ...edgesByClient(contradicting, style));
    out.push(...firstScreen("Inconclusive", inconclusive, (shown) => edgesByClient(shown, style), "inconclusive edges"));
  }
  if (result.calls.length > 0) {
    out.push("Declared calls");
    if (wide || result.calls.length <= SUMMARY_ROWS) out.push(...callsByCaller(result.calls, style));
    else {
      // Every contradicting call in full; the unverified ones, often one cause many times over (no traffic), a screen.
      const contradicting = result.calls.filter((c) => c.verdict === "contradicts");
      const unverified = result.calls.filter((c) => c.verdict === "unverified");
      out.push(
        countsTable(result.calls, (c) => namespaceOf(c.to), verdictOf, { groups: "callee namespaces", total: "calls each" }, style),
        ...(contradicting.length + unverified.length === 0 ? ["Every declared call holds."] : []),
        ...(contradicting.length > 0 ? [`Contradicting (${contradicting.length})`, ...callsByCaller(contradicting, style)] : []),
        ...firstScreen("Unverified", unverified, (shown) => callsByCaller(shown, style), "unverified calls"),
      );
    }
  }
  // The end, which the next stage's pre-flight gate reads (stack output verifiedAt): its probes' plaintext is not a caller's.
  return `${out.join("\n")}\nEnded: ${new Date(result.endedAt).toISOString()}\n${summaryLine(result)}\n`;
}

export function verificationJson(result: VerificationResult) {
  return {
    stage: result.stage,
    outcome: result.outcome,
    ...(result.interrupted ? { interrupted: result.interrupted } : {}),
    endedAt: new Date(result.endedAt).toISOString(),
    matrixEdges: result.matrixEdges,
    calls: result.calls.map((c) => ({
      from: c.from,
      to: c.to,
      expect: c.expect,
      observed: c.observed,
      verdict: c.verdict,
      evidence: c.evidence,
    })),
    rounds: result.rounds,
    elapsedMs: result.elapsedMs,
    requiredStreak: result.requiredStreak,
    liveDiffering: result.liveDiffering.map(liveModeJson),
    summary: summaryLine(result),
    edges: result.edges.map((e) => ({
      from: e.from,
      standsFor: e.standsFor,
      to: e.to,
      host: e.host,
      port: e.port,
      targetPort: e.targetPort,
      expect: e.expect,
      observed: e.observed,
      verdict: e.verdict,
      ...(e.acknowledged !== undefined ? { acknowledged: e.acknowledged } : {}),
      evidence: e.evidence,
      brokenHops: e.brokenHops,
      streak: e.streak,
    })),
  };
}
