/**
 * npm run e2e: with PULUMI_E2E=1, a Pulumi CLI and a kube context, walks the lab on a real cluster
 * through the Automation API (a local file backend in a temporary folder). Otherwise it says why it
 * skipped and exits 0. It is not part of npm test.
 */
import { LocalWorkspace } from "@pulumi/pulumi/automation";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { loadRollout } from "../src/rollout/load";
import { walkLab } from "./walk";

const ROOT = path.join(__dirname, "..");

/** Why the walk cannot run here, or undefined when it can. */
export function skipReason(env: NodeJS.ProcessEnv): string | undefined {
  if (env.PULUMI_E2E !== "1") return "PULUMI_E2E is not 1";
  if (spawnSync("pulumi", ["version"], { encoding: "utf8", env }).status !== 0) return "no Pulumi CLI on PATH";
  const context =
    env.KUBE_CONTEXT ?? spawnSync(env.KUBECTL ?? "kubectl", ["config", "current-context"], { encoding: "utf8", env }).stdout?.trim();
  if (!context) return "no kube context (set KUBE_CONTEXT, or a current context in kubeconfig)";
  return undefined;
}

async function main() {
  const reason = skipReason(process.env);
  if (reason) {
    console.log(`e2e skipped: ${reason}`);
    return;
  }
  const kubeContext =
    process.env.KUBE_CONTEXT ??
    spawnSync(process.env.KUBECTL ?? "kubectl", ["config", "current-context"], { encoding: "utf8" }).stdout.trim();
  const backend = fs.mkdtempSync(path.join(os.tmpdir(), "mtls-rollout-e2e-"));
  const stack = await LocalWorkspace.createStack(
    { stackName: `e2e-${Date.now()}`, workDir: ROOT },
    { envVars: { PULUMI_BACKEND_URL: `file://${backend}`, PULUMI_CONFIG_PASSPHRASE: "e2e" } },
  );
  const kubectl = async (args: string[], stdin: string) => {
    const r = spawnSync(process.env.KUBECTL ?? "kubectl", ["--context", kubeContext, ...args], { input: stdin, encoding: "utf8" });
    if (r.status !== 0) throw new Error(`kubectl ${args.join(" ")} failed: ${r.stderr}`);
  };
  try {
    await walkLab(stack, { stages: loadRollout().stages.map((s) => s.name), kubeContext, kubectl, log: (line) => console.log(line) });
  } finally {
    // The throwaway stack leaves nothing behind: not its stack file, not its state.
    await stack.workspace.removeStack(stack.name, { force: true }).catch(() => undefined);
    fs.rmSync(backend, { recursive: true, force: true });
  }
  console.log("e2e passed");
}

if (require.main === module) {
  main().catch((err) => {
    console.error(`e2e failed: ${err instanceof Error ? err.message : err}`);
    process.exit(1);
  });
}
