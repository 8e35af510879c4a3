import type { z } from "zod";
import { terminalSafe } from "./text";

/** One thing wrong with an input, located by its path in the file or config (`stages[1].name`). */
export interface Problem {
  path: string;
  message: string;
}

/** More lines would bury the first ones, and a hostile file could make millions: the rest are counted. */
const MAX_PROBLEM_LINES = 50;

/** Bad input: the CLI answers it with exit code 2, the Pulumi program before any resource is registered. */
export class InputError extends Error {
  constructor(
    readonly problems: Problem[],
    readonly source?: string,
  ) {
    // Paths and values come from the input: nothing in a message may act on the terminal it is printed to.
    const shown = problems
      .slice(0, MAX_PROBLEM_LINES)
      .map((p) => terminalSafe((source ? `${source}: ${formatProblem(p)}` : formatProblem(p)).replace(/\r\n|\r|\n/g, " ")));
    if (problems.length > MAX_PROBLEM_LINES)
      shown.push(`${source ? `${source}: ` : ""}and ${problems.length - MAX_PROBLEM_LINES} more problems`);
    super(shown.join("\n"));
    this.name = "InputError";
  }

  /** One line per problem, each prefixed with where the input came from. */
  lines(): string[] {
    return this.message.split("\n");
  }
}

export function formatProblem(p: Problem): string {
  return p.path ? `${p.path}: ${p.message}` : p.message;
}

export function formatPath(path: readonly PropertyKey[]): string {
  let out = "";
  for (const key of path) {
    if (typeof key === "number") out += `[${key}]`;
    else if (typeof key === "string" && /^([A-Za-z_$][A-Za-z0-9_$]*|[0-9]+)$/.test(key)) out += out ? `.${key}` : key;
    else out += `[${JSON.stringify(String(key))}]`;
  }
  return out;
}

/** A value as it should appear in a one-line message: short, quoted, never multi-line, nothing a terminal obeys. */
export function describeValue(value: unknown): string {
  if (value === undefined) return "nothing";
  // JSON would print Infinity and NaN as null.
  if (typeof value === "number" && !Number.isFinite(value)) return String(value);
  let text: string;
  try {
    text = typeof value === "string" ? JSON.stringify(value) : (JSON.stringify(value) ?? String(value));
  } catch {
    text = String(value);
  }
  // JSON escapes C0 controls; DEL, C1 and bidirectional controls it leaves as they are.
  text = terminalSafe(text);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let cur: unknown = root;
  for (const key of path) {
    if (cur === null || typeof cur !== "object") return undefined;
    cur = (cur as Record<PropertyKey, unknown>)[key as string];
  }
  return cur;
}

/** zod's defaults start like this; a message written for the schema is kept as written. */
const ZOD_DEFAULT = /^(Invalid|Too small|Too big|Expected)\b/;

function messageOf(issue: z.core.$ZodIssue): string {
  if (!ZOD_DEFAULT.test(issue.message)) return issue.message;
  switch (issue.code) {
    case "invalid_value":
      return `must be one of ${issue.values.map(String).join(", ")}`;
    case "invalid_type":
      return `must be ${issue.expected === "record" ? "a mapping" : `a ${issue.expected}`}`;
    case "invalid_union":
      return "is not in any accepted form";
    case "too_small":
      return issue.origin === "array" ? `must have at least ${issue.minimum} entries` : `must be at least ${issue.minimum}`;
    case "too_big":
      return issue.origin === "array" ? `must have at most ${issue.maximum} entries` : `must be at most ${issue.maximum}`;
    default:
      return issue.message;
  }
}

/** Turns zod's issues into problems that name the path and the offending value. */
export function problemsFromZod(error: z.ZodError, input: unknown, prefix: readonly PropertyKey[] = []): Problem[] {
  const problems: Problem[] = [];
  for (const issue of error.issues) {
    const path = [...prefix, ...issue.path];
    if (issue.code === "unrecognized_keys") {
      for (const key of issue.keys) problems.push({ path: formatPath([...path, key]), message: "unknown key" });
      continue;
    }
    if (issue.code === "invalid_key") {
      // The value at the path is the entry's value; what is wrong is its key, the path's last element.
      const inner = issue.issues.map((i) => i.message).join("; ");
      problems.push({ path: formatPath(path), message: `key ${inner} (got ${describeValue(issue.path[issue.path.length - 1])})` });
      continue;
    }
    const value = valueAt(input, issue.path);
    if (issue.code === "invalid_type" && value === undefined) {
      problems.push({ path: formatPath(path), message: "is required" });
      continue;
    }
    problems.push({ path: formatPath(path), message: `${messageOf(issue)} (got ${describeValue(value)})` });
  }
  return problems;
}
