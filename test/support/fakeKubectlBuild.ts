// The KUBECTL the tests give the CLI: test/.build/fake-kubectl, made once per run by vitest's global setup
// (test/globalSetup.ts). Where bash can open TCP connections it is a bash shim that asks one fake kubectl server
// process (fakeKubectlServer.ts) and runs its answer; elsewhere it runs fake-kubectl.js built into one file. Either
// answers as fakeKubectlAnswer.ts says. The builds sit one folder below test/, as the sources do, so
// recorded.ts still finds test/fixtures beside them.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { build, type Plugin } from "esbuild";
import { FAKE_KUBECTL_VARIABLES } from "./fakeKubectlAnswer";

const BUILD = path.join(__dirname, "..", ".build");
export const FAKE_KUBECTL = path.join(BUILD, "fake-kubectl");

/** The builds need no TypeScript hook: everything is compiled in. */
const withoutTsx: Plugin = {
  name: "without-tsx",
  setup(b) {
    b.onResolve({ filter: /^tsx\/cjs$/ }, () => ({ path: "tsx/cjs", namespace: "without-tsx" }));
    b.onLoad({ filter: /.*/, namespace: "without-tsx" }, () => ({ contents: "", loader: "js" }));
  },
};

const bundle = (entry: string, outfile: string) =>
  build({
    entryPoints: [path.join(__dirname, entry)],
    bundle: true,
    platform: "node",
    target: "node20",
    format: "cjs",
    plugins: [withoutTsx],
    logLevel: "warning",
    outfile,
  });

const quote = (text: string) => `'${text.replace(/'/g, `'\\''`)}'`;

/** Builds and starts what FAKE_KUBECTL runs; returns how to stop it. */
export async function startFakeKubectl(): Promise<() => void> {
  fs.mkdirSync(BUILD, { recursive: true });
  const standalone = path.join(BUILD, "fake-kubectl.js");
  await Promise.all([bundle("fake-kubectl.js", standalone), bundle("fakeKubectlServer.ts", path.join(BUILD, "fake-kubectl-server.js"))]);
  if (!bashHasNetworkRedirections()) {
    fs.writeFileSync(FAKE_KUBECTL, `#!/bin/sh\nexec ${quote(process.execPath)} ${quote(standalone)} "$@"\n`, { mode: 0o755 });
    return () => {};
  }
  const server: ChildProcess = spawn(process.execPath, [path.join(BUILD, "fake-kubectl-server.js")], {
    stdio: ["pipe", "pipe", "inherit"],
  });
  const port = await new Promise<number>((resolve, reject) => {
    server.stdout!.once("data", (chunk: Buffer) => resolve(Number(chunk.toString().trim())));
    server.once("exit", (code) => reject(new Error(`the fake kubectl server exited (${code})`)));
  });
  const variables = FAKE_KUBECTL_VARIABLES.map((name) => `"\${${name}-}"`).join(" ");
  fs.writeFileSync(
    FAKE_KUBECTL,
    [
      "#!/bin/bash",
      "# KUBECTL for the tests: asks the fake kubectl server (test/support/fakeKubectlServer.ts) and runs its answer.",
      `exec 3<>/dev/tcp/127.0.0.1/${port} || exit 1`,
      `printf '%s\\0' "$#" ${variables} "$@" >&3`,
      "answer=$(cat <&3) || exit 1",
      'eval "$answer"',
      "",
    ].join("\n"),
    { mode: 0o755 },
  );
  return () => server.kill();
}

/** Debian's and most distributions' bash open TCP connections as /dev/tcp/HOST/PORT; some builds leave it out. */
function bashHasNetworkRedirections(): boolean {
  return spawnSync("bash", ["-c", "exec 3<>/dev/tcp/127.0.0.1/1"], { encoding: "utf8" }).stderr?.includes("Connection refused") ?? false;
}
