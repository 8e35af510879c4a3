#!/usr/bin/env node
// The CLI runs from the TypeScript sources through tsx's CommonJS hook, so `npx --no-install mtls-rollout` works
// right after `npm ci` with no build step, and the sources stay the only copy of the code.
require("tsx/cjs");
const { main } = require("../src/cli/main.ts");

main(process.argv.slice(2)).then(
  (code) => {
    // Exit now: a probe's process that outlived its deadline must not keep the verdict waiting.
    process.stdout.write("", () => process.exit(code));
  },
  (err) => {
    process.stderr.write(`internal error: ${err && err.stack ? err.stack : err}\n`);
    process.exitCode = 70;
  },
);
