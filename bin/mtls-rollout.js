#!/usr/bin/env node
// The CLI runs its build (dist/cli/main.js, made by `npm run build`, which `npm ci` runs) while the build is
// current, and the TypeScript sources through tsx's CommonJS hook otherwise: an edited source is never ignored,
// and the sources stay the only hand-written copy of the code.
const path = require("node:path");
const { currentBuild } = require("./currentBuild");

function loadMain() {
  const build = currentBuild(path.join(__dirname, ".."));
  if (build) return require(build).main;
  require("tsx/cjs");
  return require("../src/cli/main.ts").main;
}

// A reader that stops early (`| head`) closes the pipe: end quietly, as a process killed by SIGPIPE would (141), since
// what was left unprinted may have been the verdict. A closed stderr is nothing to report on.
process.stdout.on("error", (err) => {
  if (err && err.code === "EPIPE") process.exit(141);
  throw err;
});
process.stderr.on("error", (err) => {
  if (!err || err.code !== "EPIPE") throw err;
});

let main;
try {
  main = loadMain();
} catch (err) {
  // A build or a dependency that cannot load (no `npm ci`): exit 70 like any internal error, never 1, which a
  // caller could take for an answer (status's drift).
  process.stderr.write(`internal error: ${err && err.stack ? err.stack : err}\n`);
  process.exit(70);
}

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
