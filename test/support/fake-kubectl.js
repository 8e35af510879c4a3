#!/usr/bin/env node
// An executable for KUBECTL: answers like a cluster in the state stored in $FAKE_CLUSTER_STATE
// (JSON, see fakeCluster.ts). Each server sidecar's counters live in a file of their own beside it,
// since the verifier probes different servers at once but one server at a time.
// FAKE_KUBECTL_HANG=1: it never answers, like a kubectl stuck on an unreachable API server;
// FAKE_KUBECTL_HANG_EXEC=1: only `exec` never answers (the cluster is there, the probes hang);
// FAKE_KUBECTL_CONTEXTS: the contexts the kubeconfig has (kubectl's own error for any other);
// FAKE_KUBECTL_UNREACHABLE=1: the API server refuses connections (client-go's message).
require("tsx/cjs");
const fs = require("node:fs");
const { answerKubectl } = require("./fakeCluster.ts");

const argv = process.argv.slice(2);
const hang = () => setInterval(() => {}, 1 << 30);
const known = (process.env.FAKE_KUBECTL_CONTEXTS ?? "").split(",").filter(Boolean);
if (process.env.FAKE_KUBECTL_HANG === "1") {
  hang();
} else if (argv[0] === "--context" && known.length > 0 && !known.includes(argv[1])) {
  process.stderr.write(`error: context "${argv[1]}" does not exist\n`);
  process.exitCode = 1;
} else if (process.env.FAKE_KUBECTL_UNREACHABLE === "1") {
  process.stderr.write("The connection to the server 127.0.0.1:6443 was refused - did you specify the right host or port?\n");
  process.exitCode = 1;
} else if (process.env.FAKE_KUBECTL_HANG_EXEC === "1" && argv.includes("exec")) {
  hang();
} else {
  const stateFile = process.env.FAKE_CLUSTER_STATE;
  const state = JSON.parse(fs.readFileSync(stateFile, "utf8"));
  const counterFile = (server) => `${stateFile}.counters.${server.replace("/", "_")}`;
  const counters = {};
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
  process.stdout.write(result.stdout);
  process.stderr.write(result.stderr);
  process.exitCode = result.exitCode;
}
