/**
 * npm run e2e: with PULUMI_E2E=1, a Pulumi CLI and a kube context, walks the lab on a real cluster
 * through the Automation API (a local file backend in a temporary folder). `npm run e2e:own-mesh` walks a team's own
 * mesh instead (e2e/ownMesh.ts), on a cluster where Istio and its Prometheus addon run already. Otherwise it says why
 * it skipped and exits 0. It is not part of npm test.
 */
import { LocalWorkspace } from "@pulumi/pulumi/automation";
import { spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { loadRollout } from "../src/rollout/load";
import { walkLab } from "./walk";
import { walkOwnMesh } from "./ownMesh";
import { OUTSIDE_PROBE_NAMESPACE } from "../src/discover/propose";

const ROOT = path.join(__dirname, "..");

export type Walk = "lab" | "own-mesh";

/** Why the walk cannot run here, or undefined when it can. */
export function skipReason(env: NodeJS.ProcessEnv, walk: Walk = "lab"): string | undefined {
  if (env.PULUMI_E2E !== "1") return "PULUMI_E2E is not 1";
  if (spawnSync("pulumi", ["version"], { encoding: "utf8", env }).status !== 0) return "no Pulumi CLI on PATH";
  const kubectl = env.KUBECTL ?? "kubectl";
  const context = env.KUBE_CONTEXT ?? spawnSync(kubectl, ["config", "current-context"], { encoding: "utf8", env }).stdout?.trim();
  if (!context) return "no kube context (set KUBE_CONTEXT, or a current context in kubeconfig)";
  if (walk === "own-mesh") {
    const get = (args: string[]) => spawnSync(kubectl, ["--context", context, "get", ...args, "-o", "name"], { encoding: "utf8", env });
    // A team's mesh runs Istio already: the walk does not install it.
    if (get(["deployment", "istiod", "prometheus", "-n", "istio-system"]).status !== 0)
      return "no istiod and prometheus Deployments in istio-system (install Istio and its Prometheus addon first)";
    // It applies e2e/own-mesh.yaml over whatever is there and deletes it, the probe kit's namespace and the verification's
    // record at the end: a throwaway cluster only. Only the API server's NotFound says an object is not there.
    const objects: [string, string[]][] = [
      ["PeerAuthentication istio-system/default", ["peerauthentication", "default", "-n", "istio-system"]],
      ["namespace shop", ["namespace", "shop"]],
      ["namespace legacy", ["namespace", "legacy"]],
      [`namespace ${OUTSIDE_PROBE_NAMESPACE}`, ["namespace", OUTSIDE_PROBE_NAMESPACE]],
      ["ConfigMap istio-system/mtls-rollout-verified", ["configmap", "mtls-rollout-verified", "-n", "istio-system"]],
    ];
    const taken: string[] = [];
    for (const [what, args] of objects) {
      const r = get(args);
      if (r.status === 0) taken.push(what);
      else if (!/\(NotFound\)/.test(r.stderr ?? ""))
        return `cannot tell whether the cluster has ${what}: ${(r.stderr ?? "").trim().split("\n")[0]}`;
    }
    if (taken.length > 0) return `the cluster has ${taken.join(", ")}, which the walk would overwrite and delete: use a throwaway cluster`;
  }
  return undefined;
}

/** `kubectl port-forward` to the mesh's Prometheus, until it answers /-/ready; stop() ends it. */
async function forwardPrometheus(kubectl: string, context: string): Promise<{ url: string; stop: () => void }> {
  const port = 19090;
  const child = spawn(kubectl, ["--context", context, "port-forward", "-n", "istio-system", "svc/prometheus", `${port}:9090`], {
    stdio: ["ignore", "ignore", "pipe"],
  });
  let stderr = "";
  child.stderr.on("data", (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
  const url = `http://127.0.0.1:${port}`;
  const stop = () => child.kill("SIGTERM");
  for (let i = 0; i < 60; i++) {
    try {
      const ready = await fetch(`${url}/-/ready`, { signal: AbortSignal.timeout(2000) });
      if (ready.ok) return { url, stop };
    } catch {
      // not forwarding yet
    }
    if (child.exitCode !== null) break;
    await new Promise((r) => setTimeout(r, 1000));
  }
  stop();
  throw new Error(`Prometheus did not answer through kubectl port-forward: ${stderr.trim().slice(-500)}`);
}

async function main(walk: Walk) {
  const reason = skipReason(process.env, walk);
  if (reason) {
    // Asked to walk (PULUMI_E2E=1), a walk that cannot run is a failure, not a skip: a CI job must not pass without it.
    if (process.env.PULUMI_E2E === "1") throw new Error(`cannot walk: ${reason}`);
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
  const kubectlPath = process.env.KUBECTL ?? "kubectl";
  const kubectl = async (args: string[], stdin?: string) => {
    const r = spawnSync(kubectlPath, ["--context", kubeContext, ...args], { input: stdin ?? "", encoding: "utf8", timeout: 600_000 });
    if (r.status !== 0) throw new Error(`kubectl ${args.join(" ")} failed: ${r.stderr}`);
    return r.stdout;
  };
  const log = (line: string) => console.log(line);
  let prometheus: { url: string; stop: () => void } | undefined;
  try {
    if (walk === "lab") {
      await walkLab(stack, {
        stages: loadRollout().stages.map((s) => s.name),
        kubeContext,
        kubectl: async (a, i) => void (await kubectl(a, i)),
        log,
      });
    } else {
      prometheus = await forwardPrometheus(kubectlPath, kubeContext);
      const cli = async (args: string[]) => {
        const r = spawnSync(process.execPath, [path.join(ROOT, "bin", "mtls-rollout.js"), ...args], {
          cwd: ROOT,
          encoding: "utf8",
          timeout: 600_000,
        });
        return { code: r.status, stdout: r.stdout ?? "", stderr: r.stderr ?? "" };
      };
      await walkOwnMesh(stack, {
        kubeContext,
        prometheusUrl: prometheus.url,
        manifest: fs.readFileSync(path.join(__dirname, "own-mesh.yaml"), "utf8"),
        rolloutFile: path.join(backend, "own-mesh.yaml"),
        gateWindowSeconds: 120,
        cli,
        kubectl,
        sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
        log,
      });
    }
  } finally {
    prometheus?.stop();
    // The throwaway stack leaves nothing behind: not its stack file, not its state.
    await stack.workspace.removeStack(stack.name, { force: true }).catch(() => undefined);
    fs.rmSync(backend, { recursive: true, force: true });
  }
  console.log("e2e passed");
}

if (require.main === module) {
  const walk = process.argv[2] ?? "lab";
  if (walk !== "lab" && walk !== "own-mesh") {
    console.error(`e2e: unknown walk ${JSON.stringify(walk)} (lab or own-mesh)`);
    process.exit(2);
  }
  main(walk).catch((err) => {
    console.error(`e2e failed: ${err instanceof Error ? err.message : err}`);
    process.exit(1);
  });
}
