// Which code the CLI runs: the build in dist/cli (npm run build, which npm ci runs) while no project file it was
// built from has changed since, else undefined, and the bin runs the sources through tsx. A missing, unreadable
// or partial record is not current: running the sources is slower but never wrong.
const fs = require("node:fs");
const path = require("node:path");

/** The path of the CLI build under `root` if it is current, else undefined. */
function currentBuild(root) {
  try {
    const record = JSON.parse(fs.readFileSync(path.join(root, "dist", "cli", "inputs.json"), "utf8"));
    const builtAtMs = record.builtAtMs;
    if (!Number.isFinite(builtAtMs) || !Array.isArray(record.files) || record.files.length === 0) return undefined;
    for (const file of record.files) {
      if (typeof file !== "string" || fs.statSync(path.join(root, file)).mtimeMs > builtAtMs) return undefined;
    }
    const build = path.join(root, "dist", "cli", "main.js");
    return fs.statSync(build).isFile() ? build : undefined;
  } catch {
    return undefined;
  }
}

module.exports = { currentBuild };
