import Table from "cli-table3";
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
  const verdict = { pass: "PASS", fail: "FAIL", inconclusive: "INCONCLUSIVE" }[result.outcome];
  return (
    `${verdict}: stage ${result.stage}: ${result.edges.length} edges, ${count("holds")} hold, ${count("contradicts")} contradict, ` +
    `${count("inconclusive")} inconclusive (${result.rounds} rounds, ${(result.elapsedMs / 1000).toFixed(1)}s)`
  );
}

export function renderVerificationText(result: VerificationResult): string {
  const table = new Table({
    head: ["from", "to", "expected", "observed", "verdict", "evidence"],
    style: { head: [], border: [] },
    chars: { mid: "", "left-mid": "", "mid-mid": "", "right-mid": "" },
  });
  for (const e of result.edges) {
    const evidence = [e.evidence, ...e.brokenHops.map((h) => `broken hop: ${h}`)].join("; ");
    table.push([e.from, `${e.to} (${e.host}:${e.port})`, e.expect, e.observed ?? "-", e.verdict, evidence]);
  }
  return `${table.toString()}\n${summaryLine(result)}\n`;
}

export function verificationJson(result: VerificationResult) {
  return {
    stage: result.stage,
    outcome: result.outcome,
    rounds: result.rounds,
    elapsedMs: result.elapsedMs,
    requiredStreak: result.requiredStreak,
    summary: summaryLine(result),
    edges: result.edges.map((e) => ({
      from: e.from,
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
