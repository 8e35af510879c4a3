import type { RunResult } from "./runner";

/** kubectl's first line of complaint, cut short: a kubectl that writes megabytes on one line must not fill every report. */
export function firstLine(text: string): string {
  const line = text.trimStart().slice(0, 4096).split("\n")[0]?.trim() ?? "";
  return line.length > 300 ? `${line.slice(0, 297)}...` : line;
}

/** klog's warning and info lines (`W0312 10:04:05.123456   4711 loader.go:222] …`) and the API server's warnings. */
const NOT_THE_COMPLAINT = /^([WI]\d{4} \d{2}:\d{2}:\d{2}\.\d+\s|Warning: )/;

/**
 * kubectl's complaint: its first line that is not a warning, cut short. A missing kubeconfig file or a deprecated
 * auth plugin puts a warning first, before the error that says what went wrong.
 */
export function complaintLine(stderr: string): string {
  const lines = stderr
    .slice(0, 16384)
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l !== "");
  return firstLine(lines.find((l) => !NOT_THE_COMPLAINT.test(l)) ?? lines[0] ?? "");
}

/** Why kubectl itself failed, in the words a user can act on. */
export function kubectlFailure(result: RunResult, timeoutMs: number): string {
  if (result.spawnError) return `kubectl could not be started (${result.spawnError})`;
  // The call was ended at its output bound: what was read is part of an answer, never the answer.
  if (result.truncated) return "kubectl's answer exceeded what is read, and the call was ended";
  if (result.timedOut)
    return `kubectl did not return within ${timeoutMs % 1000 === 0 || timeoutMs >= 10_000 ? `${Math.round(timeoutMs / 1000)}s` : `${timeoutMs}ms`}`;
  const err = complaintLine(result.stderr);
  if (/NotFound/.test(err) || /not found/.test(err)) {
    if (/container/i.test(err)) return `container missing: ${err}`;
    if (/\(NotFound\): namespaces "/.test(err)) return `namespace missing: ${err}`;
    return `pod or deployment missing: ${err}`;
  }
  if (/not valid for pod|is not valid for/.test(err)) return `container missing: ${err}`;
  return `kubectl failed (exit ${result.exitCode ?? "none"})${err ? `: ${err}` : ""}`;
}
