import * as fs from "node:fs";
import * as path from "node:path";
import * as YAML from "yaml";
import { InputError } from "../model/errors";
import { parseRollout, Rollout } from "../model/rollout";

/** The lab of the workshop this project grew from: the default rollout of the stack and the CLI. */
export const LAB_ROLLOUT_PATH = path.resolve(__dirname, "..", "..", "stages", "lab.yaml");

/** Larger than any hand-written rollout, small enough that reading one cannot exhaust memory. */
export const MAX_ROLLOUT_BYTES = 8 * 1024 * 1024;
/** Bounds the expansion of YAML aliases (the "billion laughs" file). */
const MAX_ALIAS_COUNT = 1000;

/** Parses rollout YAML text; every problem is reported against `source`. */
export function parseRolloutYaml(text: string, source: string): Rollout {
  const doc = YAML.parseDocument(text, { uniqueKeys: true, prettyErrors: true });
  if (doc.errors.length > 0) {
    throw new InputError(
      doc.errors.map((e) => ({ path: "", message: `not valid YAML: ${e.message.split("\n")[0].replace(/:$/, "")}` })),
      source,
    );
  }
  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
  } catch (err) {
    throw new InputError([{ path: "", message: `not usable YAML: ${(err as Error).message.split("\n")[0]}` }], source);
  }
  if (data === null || typeof data !== "object" || Array.isArray(data)) {
    throw new InputError([{ path: "", message: "must be a YAML mapping with namespaces, workloads and stages" }], source);
  }
  return parseRollout(data, source);
}

/** Reads a rollout file, or the lab when no file is given. */
export function loadRollout(file?: string): Rollout {
  const target = file ?? LAB_ROLLOUT_PATH;
  let text: string;
  try {
    const stat = fs.statSync(target);
    // A device or FIFO reports size 0 and may never end: only regular files are read.
    if (!stat.isFile()) throw new InputError([{ path: "", message: "is not a regular file" }], target);
    const size = stat.size;
    if (size > MAX_ROLLOUT_BYTES) {
      throw new InputError([{ path: "", message: `is ${size} bytes; a rollout file may have at most ${MAX_ROLLOUT_BYTES}` }], target);
    }
    text = fs.readFileSync(target, "utf8");
  } catch (err) {
    if (err instanceof InputError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    throw new InputError([{ path: "", message: `cannot be read (${code ?? (err as Error).message})` }], target);
  }
  return parseRolloutYaml(text, target);
}
