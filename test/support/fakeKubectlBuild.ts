// fake-kubectl.js loads the fake cluster's TypeScript through tsx: half a second a call, and the verifier makes
// hundreds. The tests run it built into one file instead (vitest's global setup builds it, test/globalSetup.ts).
// The build sits one folder below test/, as the sources do, so recorded.ts still finds test/fixtures beside it.
import * as fs from "node:fs";
import * as path from "node:path";
import { build, type Plugin } from "esbuild";

export const FAKE_KUBECTL = path.join(__dirname, "..", ".build", "fake-kubectl.js");

/** The build needs no TypeScript hook: everything is compiled in. */
const withoutTsx: Plugin = {
  name: "without-tsx",
  setup(b) {
    b.onResolve({ filter: /^tsx\/cjs$/ }, () => ({ path: "tsx/cjs", namespace: "without-tsx" }));
    b.onLoad({ filter: /.*/, namespace: "without-tsx" }, () => ({ contents: "", loader: "js" }));
  },
};

export async function buildFakeKubectl(): Promise<void> {
  await build({
    entryPoints: [path.join(__dirname, "fake-kubectl.js")],
    bundle: true,
    platform: "node",
    target: "node20",
    format: "cjs",
    plugins: [withoutTsx],
    logLevel: "warning",
    outfile: FAKE_KUBECTL,
  });
  fs.chmodSync(FAKE_KUBECTL, 0o755);
}
