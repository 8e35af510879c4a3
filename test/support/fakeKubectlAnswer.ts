// What the fake kubectl answers to `argv`, given the FAKE_* variables of the environment it runs in: like a
// cluster in the state stored in $FAKE_CLUSTER_STATE (JSON, see fakeCluster.ts). Each server sidecar's counters
// live in a file of their own beside it, since the verifier probes different servers at once.
// FAKE_KUBECTL_HANG=1: it never answers, like a kubectl stuck on an unreachable API server;
// FAKE_KUBECTL_HANG_EXEC=1: only `exec` never answers (the cluster is there, the probes hang);
// FAKE_KUBECTL_CONTEXTS: the contexts the kubeconfig has (kubectl's own error for any other);
// FAKE_KUBECTL_UNREACHABLE=1: the API server refuses connections (client-go's message);
// FAKE_KUBECTL_DIR: instead of that state, `get … -o json` answered from the List files there (kubectlFromLists.ts),
// FAKE_KUBECTL_FORBID naming a resource the user may not list.
import * as fs from "node:fs";
import type { RunResult } from "../../src/cluster/runner";
import { answerKubectl, type ClusterState, type Counters } from "./fakeCluster";
import { answerFromLists, listsInFolder } from "./kubectlFromLists";

/** The variables it reads, in this order (the server's shim sends them so). */
export const FAKE_KUBECTL_VARIABLES = [
  "FAKE_CLUSTER_STATE",
  "FAKE_KUBECTL_HANG",
  "FAKE_KUBECTL_HANG_EXEC",
  "FAKE_KUBECTL_CONTEXTS",
  "FAKE_KUBECTL_UNREACHABLE",
  "FAKE_KUBECTL_DIR",
  "FAKE_KUBECTL_FORBID",
] as const;

export type FakeAnswer = (Pick<RunResult, "stdout" | "stderr"> & { exitCode: number }) | "hang";

/** What it answers; an error of the fake itself is its answer on stderr, exit 1, as the server and the standalone build print it. */
export function answerFakeKubectl(argv: string[], env: Partial<Record<string, string>>): FakeAnswer {
  try {
    return answer(argv, env);
  } catch (err) {
    return { stdout: "", stderr: `fake kubectl: ${String(err)}\n`, exitCode: 1 };
  }
}

function answer(argv: string[], env: Partial<Record<string, string>>): FakeAnswer {
  const known = (env.FAKE_KUBECTL_CONTEXTS ?? "").split(",").filter(Boolean);
  if (env.FAKE_KUBECTL_HANG === "1") return "hang";
  if (argv[0] === "--context" && known.length > 0 && !known.includes(argv[1])) {
    return { stdout: "", stderr: `error: context "${argv[1]}" does not exist\n`, exitCode: 1 };
  }
  if (env.FAKE_KUBECTL_UNREACHABLE === "1") {
    return {
      stdout: "",
      stderr: "The connection to the server 127.0.0.1:6443 was refused - did you specify the right host or port?\n",
      exitCode: 1,
    };
  }
  if (env.FAKE_KUBECTL_HANG_EXEC === "1" && argv.includes("exec")) return "hang";
  if (env.FAKE_KUBECTL_DIR) {
    return answerFromLists(argv[0] === "--context" ? argv.slice(2) : argv, listsInFolder(env.FAKE_KUBECTL_DIR), env.FAKE_KUBECTL_FORBID);
  }
  const stateFile = env.FAKE_CLUSTER_STATE!;
  const state = JSON.parse(fs.readFileSync(stateFile, "utf8")) as ClusterState;
  const counterFile = (server: string) => `${stateFile}.counters.${server.replace("/", "_")}`;
  const counters: Counters = {};
  for (const server of Object.keys(state.workloads)) {
    if (fs.existsSync(counterFile(server))) counters[server] = JSON.parse(fs.readFileSync(counterFile(server), "utf8"));
  }
  const before = Object.fromEntries(Object.entries(counters).map(([server, values]) => [server, JSON.stringify(values)]));
  const result = answerKubectl(argv, state, counters);
  for (const [server, values] of Object.entries(counters)) {
    if (JSON.stringify(values) === before[server]) continue;
    // Write then rename: another probe process may be reading this file right now.
    fs.writeFileSync(`${counterFile(server)}.${process.pid}`, JSON.stringify(values));
    fs.renameSync(`${counterFile(server)}.${process.pid}`, counterFile(server));
  }
  return { stdout: result.stdout, stderr: result.stderr, exitCode: result.exitCode ?? 1 };
}
