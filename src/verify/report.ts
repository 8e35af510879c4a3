import { textTable, TextStyle, UNBOUNDED } from "../render/textTable";
import { groupBy } from "../model/groupBy";
import type { VerificationResult } from "./verifier";

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
  if (result.matrixEdges === 0)
    return `${verdict}: stage ${result.stage}: no edge to probe: the rollout has no probe workload (probe: true, or a probes: section)`;
  const probed = result.edges.length < result.matrixEdges ? ` (${result.edges.length} probed)` : "";
  const calls = (v: string) => result.calls.filter((c) => c.verdict === v).length;
  const callPart =
    result.calls.length > 0
      ? `; ${result.calls.length} declared calls, ${calls("holds")} hold, ${calls("contradicts")} contradict, ${calls("unverified")} unverified`
      : "";
  return (
    `${verdict}: stage ${result.stage}: ${result.matrixEdges} edges${probed}, ${count("holds")} hold, ${count("contradicts")} contradict, ` +
    `${count("inconclusive")} inconclusive${callPart} (${result.rounds} rounds, ${(result.elapsedMs / 1000).toFixed(1)}s)`
  );
}

export function renderVerificationText(result: VerificationResult, style: TextStyle = UNBOUNDED): string {
  // A table per probe client, which heads it: the rows keep to what a terminal can show.
  const out = [...groupBy(result.edges, (e) => e.from)].flatMap(([from, edges]) => [
    `From ${from}`,
    textTable(
      [
        { head: "to" },
        { head: "expected", coloured: true },
        { head: "observed", coloured: true },
        { head: "verdict", coloured: true },
        { head: "evidence", prose: true },
      ],
      edges.map((e) => {
        const evidence = [e.evidence, ...e.brokenHops.map((h) => `broken hop: ${h}`)].join("; ");
        const standsFor = e.standsFor.length > 0 ? ` (probed for ${e.standsFor.join(", ")} too)` : "";
        return [`${e.to}:${e.port}`, e.expect, e.observed ?? "-", e.verdict, evidence + standsFor];
      }),
      style,
    ),
  ]);
  if (result.calls.length > 0) {
    out.push(
      "Declared calls",
      textTable(
        [
          { head: "declared call" },
          { head: "expected", coloured: true },
          { head: "observed", coloured: true },
          { head: "verdict", coloured: true },
          { head: "evidence (the callee's sidecar, start to end of the run)", prose: true },
        ],
        result.calls.map((c) => [`${c.from} -> ${c.to}`, c.expect, c.observed ?? "-", c.verdict, c.evidence]),
        style,
      ),
    );
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
      evidence: e.evidence,
      brokenHops: e.brokenHops,
      streak: e.streak,
    })),
  };
}
