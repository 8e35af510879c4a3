#!/usr/bin/env node
// An executable for KUBECTL that answers like a cluster in a known state: see fakeKubectlAnswer.ts. The tests
// run it through test/support/fakeKubectlBuild.ts (a shim to one server process, or this file built).
require("tsx/cjs");
const { answerFakeKubectl } = require("./fakeKubectlAnswer.ts");

const answer = answerFakeKubectl(process.argv.slice(2), process.env);
if (answer === "hang") {
  setInterval(() => {}, 1 << 30);
} else {
  process.stdout.write(answer.stdout);
  process.stderr.write(answer.stderr);
  process.exitCode = answer.exitCode;
}
