/**
 * `kubectl get … -o json`, read into validated objects, strictly: an answer is used only when it is whole and
 * says one thing. kubectl answers a list of any kinds as one `{"apiVersion":"v1","kind":"List","items":[…]}`
 * (it reads the API server's pages itself, `--chunk-size`, and prints them as one list); a single named object
 * as the object itself.
 */
import type { z } from "zod";
import { describeValue, formatPath } from "../model/errors";
import { kubectlFailure } from "./failure";
import type { KubectlRunner, RunResult } from "./runner";
import { commandLine, setupProblem } from "./setupProblem";
import { parseStrictJson } from "./strictJson";

export { commandLine } from "./setupProblem";

/**
 * The items, or why not. `notFound`: the API server said the named object does not exist; `setup`: the reason is
 * the setup (no context, unreachable, forbidden, no CRD), said in `error` in one line; `forbidden`: a list the
 * user may not read at this scope (another scope may be allowed); `tooLarge`: the answer exceeded the read bound;
 * `noSuchResource`: the API server serves no such kind (its CRD is not installed).
 */
export type Read<T> =
  | { items: T[] }
  | { error: string; notFound?: boolean; setup?: boolean; forbidden?: boolean; tooLarge?: boolean; noSuchResource?: boolean };

/**
 * What a list read may print: a cluster's pods at a few KB each (kubectl ≥ 1.21 leaves managedFields out) make tens
 * of MB. Beyond it the read is refused, and the snapshot reads the list namespace by namespace instead.
 */
export const MAX_LIST_BYTES = 64 * 1024 * 1024;

/**
 * A line kubectl writes on stderr when the server refused part of what was asked (`Error from server (…)`) or it
 * gave up (`error: …`): whatever it printed on stdout is then not the whole answer, whatever its exit code says.
 * Warnings (`Warning: …`, `W1204 …` from klog) are not.
 */
const STDERR_FAILURE = /^(Error from server\b|error:|Unable to connect to the server)/m;

/** The first thing wrong with an item, as `path: message (got value)`. */
function firstProblem(error: z.ZodError, item: unknown, index: number): string {
  const issue = error.issues[0];
  let at: unknown = item;
  for (const key of issue.path)
    at =
      at !== null && typeof at === "object" && Object.prototype.hasOwnProperty.call(at, key as string)
        ? (at as Record<PropertyKey, unknown>)[key as string]
        : undefined;
  return `${formatPath(["items", index, ...issue.path])}: ${issue.message} (got ${describeValue(at)})`;
}

export interface GetOptions {
  timeoutMs: number;
  /** Default MAX_LIST_BYTES. */
  maxBytes?: number;
}

/**
 * Runs `kubectl get … -o json` and validates every item. A failed call (or one that complained on stderr), output
 * that is not JSON or has a key twice, a list that is one page of a longer one, a list without items, or one item
 * that does not fit the schema: all are errors naming the call.
 */
export async function getList<S extends z.ZodType>(
  runner: KubectlRunner,
  args: string[],
  itemSchema: S,
  options: GetOptions | number,
): Promise<Read<z.infer<S>>> {
  const { timeoutMs, maxBytes = MAX_LIST_BYTES } = typeof options === "number" ? { timeoutMs: options } : options;
  return readAnswer(args, await runner(args, timeoutMs, { maxOutputBytes: maxBytes }), itemSchema, timeoutMs);
}

/** What one `kubectl get … -o json` call answered, read as getList reads it (also for a call made synchronously). */
export function readAnswer<S extends z.ZodType>(args: string[], result: RunResult, itemSchema: S, timeoutMs: number): Read<z.infer<S>> {
  const call = commandLine(args);
  const complaint = STDERR_FAILURE.exec(result.stderr);
  if (result.exitCode !== 0 || complaint) {
    const setup = result.truncated ? undefined : setupProblem(result, args, timeoutMs);
    const why =
      result.exitCode === 0
        ? `kubectl exited 0 but said ${JSON.stringify(result.stderr.slice(complaint!.index).split("\n")[0].slice(0, 200))}`
        : kubectlFailure(result, timeoutMs);
    return {
      error: setup ?? `${call}: ${why}`,
      ...(/\(NotFound\)/.test(result.stderr) ? { notFound: true } : {}),
      ...(setup ? { setup: true } : {}),
      ...(/\(Forbidden\)/.test(result.stderr) ? { forbidden: true } : {}),
      ...(result.truncated ? { tooLarge: true } : {}),
      // kubectl's own words for a kind the API server does not serve (its CRD is not installed).
      ...(/the server doesn't have a resource type/.test(result.stderr) ? { noSuchResource: true } : {}),
    };
  }
  const parsed = parseStrictJson(result.stdout);
  if ("error" in parsed)
    return { error: `${call}: kubectl's answer is ${parsed.error.startsWith("not JSON") ? "" : "not usable: "}${parsed.error}` };
  const json = parsed.value;
  if (json === null || typeof json !== "object" || Array.isArray(json)) return { error: `${call}: kubectl printed no JSON object` };
  const list = json as { kind?: unknown; items?: unknown; metadata?: { continue?: unknown; remainingItemCount?: unknown } };
  // `get KIND NAME` answers the object itself; any other call a List. An object where a list was asked for is not
  // the list, whatever it holds.
  const named = args[0] === "get" && args.length > 2 && !args[2].startsWith("-");
  const isList = typeof list.kind === "string" && (list.kind === "List" || list.kind.endsWith("List"));
  if (named === isList) {
    return {
      error: `${call}: kubectl answered ${isList ? "a list" : `a single ${describeValue(list.kind)}`} where ${named ? "an object" : "a list"} was asked for`,
    };
  }
  if (isList) {
    // One page of a longer list: the rest was never read, so what is missing cannot be told from what is absent.
    const more = list.metadata?.continue;
    const remaining = list.metadata?.remainingItemCount;
    if ((more !== undefined && more !== null && more !== "") || (remaining !== undefined && remaining !== null && remaining !== 0)) {
      return { error: `${call}: the answer is one page of a longer list (metadata.continue is set), not the whole list` };
    }
  }
  const items = isList ? list.items : [json];
  if (!Array.isArray(items)) return { error: `${call}: the answer has no items list (got ${describeValue(list.items)})` };
  // Asked for one namespace, the answer holds that namespace's objects, each once.
  const namespaceAt = args.indexOf("--namespace");
  const namespace = namespaceAt >= 0 ? args[namespaceAt + 1] : undefined;
  const seen = new Set<string>();
  const out: z.infer<S>[] = [];
  for (const [i, item] of items.entries()) {
    const valid = itemSchema.safeParse(item);
    if (!valid.success) return { error: `${call}: malformed object at ${firstProblem(valid.error, item, i)}` };
    const o = valid.data as { kind?: unknown; metadata?: { name?: string; namespace?: string } };
    if (namespace !== undefined && o.metadata?.namespace !== undefined && o.metadata.namespace !== namespace) {
      return {
        error: `${call}: the answer holds ${describeValue(`${o.metadata.namespace}/${o.metadata.name}`)}, of another namespace than the one asked for`,
      };
    }
    const key = `${String(o.kind ?? "")}\u0000${o.metadata?.namespace ?? ""}\u0000${o.metadata?.name ?? ""}`;
    if (seen.has(key))
      return { error: `${call}: the answer holds ${describeValue(`${o.metadata?.namespace ?? ""}/${o.metadata?.name ?? ""}`)} twice` };
    seen.add(key);
    out.push(valid.data);
  }
  return { items: out };
}
