/**
 * `kubectl get … -o json`, read into validated objects. kubectl answers a list of any kinds as one
 * `{"apiVersion":"v1","kind":"List","items":[…]}`; a single named object as the object itself.
 */
import type { z } from "zod";
import { describeValue, formatPath } from "../model/errors";
import { kubectlFailure } from "./failure";
import type { KubectlRunner } from "./runner";

/** The items, or why not; `notFound` when the API server said the object (a named namespace, say) does not exist. */
export type Read<T> = { items: T[] } | { error: string; notFound?: boolean };

/** The command as a user would type it, for messages. */
export const commandLine = (args: readonly string[]) => `kubectl ${args.join(" ")}`;

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** The first thing wrong with an item, as `path: message (got value)`. */
function firstProblem(error: z.ZodError, item: unknown, index: number): string {
  const issue = error.issues[0];
  let at: unknown = item;
  for (const key of issue.path)
    at = at !== null && typeof at === "object" ? (at as Record<PropertyKey, unknown>)[key as string] : undefined;
  return `${formatPath(["items", index, ...issue.path])}: ${issue.message} (got ${describeValue(at)})`;
}

/**
 * Runs `kubectl get … -o json` and validates every item. A failed call, output that is not JSON, a
 * list without items, or one item that does not fit the schema: all are errors naming the call.
 */
export async function getList<S extends z.ZodType>(
  runner: KubectlRunner,
  args: string[],
  itemSchema: S,
  timeoutMs: number,
): Promise<Read<z.infer<S>>> {
  const call = commandLine(args);
  const result = await runner(args, timeoutMs);
  if (result.exitCode !== 0) {
    return { error: `${call}: ${kubectlFailure(result, timeoutMs)}`, ...(/\(NotFound\)/.test(result.stderr) ? { notFound: true } : {}) };
  }
  if (result.truncated) return { error: `${call}: the answer exceeds what is read` };
  const json = parseJson(result.stdout);
  if (json === null || typeof json !== "object" || Array.isArray(json)) return { error: `${call}: kubectl printed no JSON object` };
  const list = json as { kind?: unknown; items?: unknown };
  // A single object (`get KIND NAME`) stands for a list of one.
  const items = typeof list.kind === "string" && list.kind !== "List" && !list.kind.endsWith("List") ? [json] : list.items;
  if (!Array.isArray(items)) return { error: `${call}: the answer has no items list (got ${describeValue(list.items)})` };
  const out: z.infer<S>[] = [];
  for (const [i, item] of items.entries()) {
    const parsed = itemSchema.safeParse(item);
    if (!parsed.success) return { error: `${call}: malformed object at ${firstProblem(parsed.error, item, i)}` };
    out.push(parsed.data);
  }
  return { items: out };
}
