import { InputError } from "../model/errors";

/**
 * Runs a step of the model on a loaded rollout. The model names the stage as the stack config does (`stage`): on
 * the command line that is an option, named as such; every other problem is the rollout file's, prefixed with it
 * as the loader's own problems are.
 */
export function withOptionNames<T>(fn: () => T, source: string, option = "--stage"): T {
  try {
    return fn();
  } catch (err) {
    if (!(err instanceof InputError) || err.source) throw err;
    const options = err.problems.filter((p) => p.path === "stage").map((p) => ({ ...p, path: option }));
    if (options.length > 0) throw new InputError(options);
    throw new InputError(err.problems, source);
  }
}
