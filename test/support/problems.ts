import { InputError } from "../../src/model/errors";
import { parseRollout } from "../../src/model/rollout";

/** The problems parseRollout finds in a document, as `path: message` lines; [] when it is valid. */
export function problemsOf(data: unknown): string[] {
  try {
    parseRollout(data);
  } catch (err) {
    if (err instanceof InputError) return err.problems.map((p) => `${p.path}: ${p.message}`);
    throw err;
  }
  return [];
}
