import * as path from "node:path";
import { InputError } from "../model/errors";
import { parseRollout, Rollout } from "../model/rollout";
import { DEFAULT_YAML_LIMITS, parseBoundedYaml, readBoundedTextFile } from "./boundedYaml";

/** The lab of the workshop this project grew from: the default rollout of the stack and the CLI. */
export const LAB_ROLLOUT_PATH = path.resolve(__dirname, "..", "..", "stages", "lab.yaml");

/** The rollout file's JSON Schema for editors (npm run build:schema writes it from the zod schema). */
export const ROLLOUT_SCHEMA_PATH = path.resolve(__dirname, "..", "..", "schema", "rollout.schema.json");

/** The yaml-language-server modeline that points an editor at that schema, from a file in `directory`. */
export function schemaModeline(directory?: string): string {
  const target = directory === undefined ? ROLLOUT_SCHEMA_PATH : path.relative(path.resolve(directory), ROLLOUT_SCHEMA_PATH);
  return `yaml-language-server: $schema=${target}`;
}

/** Larger than any hand-written rollout, small enough that reading one cannot exhaust memory. */
export const MAX_ROLLOUT_BYTES = DEFAULT_YAML_LIMITS.maxBytes;

/** Parses rollout YAML text; every problem is reported against `source`. */
export function parseRolloutYaml(text: string, source: string): Rollout {
  const data = parseBoundedYaml(text, source);
  if (data === null || typeof data !== "object" || Array.isArray(data)) {
    throw new InputError([{ path: "", message: "must be a YAML mapping with namespaces, workloads and stages" }], source);
  }
  return parseRollout(data, source);
}

/** Reads a rollout file, or the lab when no file is given. */
export function loadRollout(file?: string): Rollout {
  const target = file ?? LAB_ROLLOUT_PATH;
  return parseRolloutYaml(readBoundedTextFile(target, MAX_ROLLOUT_BYTES), target);
}
