import * as fs from "node:fs";
import * as path from "node:path";
import { discover as discoverMesh } from "../../discover/run";
import { InputError } from "../../model/errors";
import { isDns1123Label } from "../../model/nameRules";
import { MAX_ROLLOUT_BYTES, parseRolloutYaml, schemaModeline } from "../../rollout/load";
import { readBoundedTextFile } from "../../rollout/boundedYaml";
import type { Rollout } from "../../model/rollout";
import { EXIT_BAD_INPUT, EXIT_OK, EXIT_UNREACHABLE, type CommandContext } from "../command";
import { prometheusFrom } from "../options";

export interface DiscoverOptions {
  context?: string;
  namespace?: string[];
  /** Istio's root namespace; the mesh config's when absent. */
  meshRoot?: string;
  prometheus?: string;
  prometheusTokenFile?: string;
  prometheusHeader?: string[];
  prometheusCaFile?: string;
  window?: number;
  output?: string;
  /** The rollout file of the stack that manages the cluster: refreshed from it. */
  rollout?: string;
}

/** The whole file or nothing: a reader never sees half a rollout. */
function writeFileAtomically(file: string, text: string) {
  const temp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.tmp`);
  try {
    fs.writeFileSync(temp, text, { flag: "wx" });
    fs.renameSync(temp, file);
  } catch (err) {
    fs.rmSync(temp, { force: true });
    throw new InputError([
      {
        path: "--output",
        message: `${JSON.stringify(file)} cannot be written (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`,
      },
    ]);
  }
}

export async function discover(opts: DiscoverOptions, { io, setExit, signal, kubectl }: CommandContext): Promise<void> {
  if (opts.meshRoot !== undefined && !isDns1123Label(opts.meshRoot)) {
    throw new InputError([{ path: "--mesh-root", message: `must be a namespace name (got ${JSON.stringify(opts.meshRoot)})` }]);
  }
  const prometheus = prometheusFrom(opts, io.env);
  if (opts.window !== undefined && !prometheus) {
    throw new InputError([{ path: "--window", message: "only counts with --prometheus, which reads the traffic" }]);
  }
  let rollout: { text: string; rollout: Rollout; path: string } | undefined;
  if (opts.rollout !== undefined) {
    for (const [flag, given] of [
      ["--prometheus", prometheus !== undefined],
      ["--namespace", opts.namespace !== undefined],
    ] as const) {
      if (given)
        throw new InputError([
          { path: flag, message: "does not go with --rollout, which refreshes that rollout's namespaces and proposes nothing" },
        ]);
    }
    const text = readBoundedTextFile(opts.rollout, MAX_ROLLOUT_BYTES);
    const loaded = parseRolloutYaml(text, opts.rollout);
    rollout = { text, rollout: loaded, path: opts.rollout };
  }
  const result = await discoverMesh({
    runner: kubectl(opts.context),
    meshRootNamespace: opts.meshRoot ?? rollout?.rollout.meshRootNamespace,
    namespaces: rollout
      ? [...new Set([...rollout.rollout.namespaces.map((n) => n.name), ...rollout.rollout.workloads.map((w) => w.namespace)])].sort()
      : opts.namespace && [...new Set(opts.namespace)].sort(),
    rollout,
    context: opts.context,
    prometheus: prometheus ? { access: prometheus, windowSeconds: opts.window ?? 86400 } : undefined,
    callTimeoutMs: 30_000,
    // Relative to the file written, so that the clone can move; to stdout, where the file will be is unknown.
    modeline: schemaModeline(opts.output === undefined ? undefined : path.dirname(opts.output)),
    signal,
    onProgress: (line) => io.stderr(`${line}\n`),
  });
  // A signal ends it without a word more and without a file: the exit code is the signal's.
  if ("interrupted" in result || signal?.aborted) return;
  if ("error" in result) {
    if (result.kind === "input") throw new InputError([{ path: "", message: result.error }]);
    io.stderr(`error: ${result.error}\n`);
    setExit(result.kind === "setup" ? EXIT_BAD_INPUT : EXIT_UNREACHABLE);
    return;
  }
  if (opts.output) writeFileAtomically(opts.output, result.yaml);
  else io.stdout(result.yaml);
  io.stderr(`${result.summary}${opts.output ? `; written to ${opts.output}` : ""}\n`);
  setExit(EXIT_OK);
}
