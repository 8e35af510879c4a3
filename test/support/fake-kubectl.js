#!/usr/bin/env node
// An executable for KUBECTL: answers like a cluster in the state stored in $FAKE_CLUSTER_STATE
// (JSON, see fakeCluster.ts). Each server sidecar's counters live in a file of their own beside it,
// since the verifier probes different servers at once but one server at a time.
// With FAKE_KUBECTL_HANG=1 it never answers, like a kubectl stuck on an unreachable API server.
require("tsx/cjs");
const fs = require("node:fs");
const { answerKubectl } = require("./fakeCluster.ts");

if (process.env.FAKE_KUBECTL_HANG === "1") {
  setInterval(() => {}, 1 << 30);
} else {
  const stateFile = process.env.FAKE_CLUSTER_STATE;
  const state = JSON.parse(fs.readFileSync(stateFile, "utf8"));
  const counterFile = (server) => `${stateFile}.counters.${server.replace("/", "_")}`;
  const counters = {};
  for (const server of Object.keys(state.workloads)) {
    if (fs.existsSync(counterFile(server))) counters[server] = JSON.parse(fs.readFileSync(counterFile(server), "utf8"));
  }
  const before = Object.fromEntries(Object.entries(counters).map(([server, values]) => [server, JSON.stringify(values)]));
  const result = answerKubectl(process.argv.slice(2), state, counters);
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
