/**
 * The end-to-end walk of a team's own mesh (e2e/own-mesh.yaml on a throwaway cluster where Istio and its Prometheus
 * run, and nothing of that manifest yet: the walk overwrites, then deletes, what it applies):
 * discover writes the rollout, the walk gives it its stages, and a throwaway stack walks them. On the way: a policy
 * edited after discover must stop the first `up` before anything is adopted; the adopting `up`; a stage whose
 * workload still receives plaintext must stop at the Prometheus gate, and pass once the plaintext client is gone; a
 * retired exception must be left dormant on the cluster; `pulumi destroy` past the first stage must be refused; back
 * at the first stage it must go, leaving the adopted policies on the cluster. The Automation API stack, kubectl and
 * the CLI are seams, so a test drives the same walk with stubs.
 */
import * as fs from "node:fs";
import * as YAML from "yaml";
import type { WalkStack } from "./walk";
import { OUTSIDE_PROBE_NAMESPACE } from "../src/discover/propose";
import { DESTROY_REFUSAL } from "../src/components/destroyGuard";

export interface OwnMeshWalkOptions {
  kubeContext: string;
  /** Where the mesh's Prometheus answers (the caller port-forwards it). */
  prometheusUrl: string;
  /** The team's mesh: e2e/own-mesh.yaml. */
  manifest: string;
  /** Where discover writes the rollout the stack runs. */
  rolloutFile: string;
  /** The pre-flight gate's Prometheus window, in seconds: how long the plaintext client must have been gone. */
  gateWindowSeconds: number;
  /** mtls-rollout's CLI, as a team runs it. */
  cli: (args: string[]) => Promise<{ code: number | null; stdout: string; stderr: string }>;
  /** kubectl with the walk's context; its stdout; throws when it fails. */
  kubectl: (args: string[], stdin?: string) => Promise<string>;
  sleep: (ms: number) => Promise<void>;
  log: (line: string) => void;
}

/** The stages the walk gives the discovered rollout, after its first (`current`, the cluster as found). */
export const OWN_MESH_STAGES = [
  {
    name: "web-strict",
    description: "STRICT for shop/web, which legacy/client (no sidecar) calls in plaintext until it is stopped",
    peerAuthentications: [{ name: "web-strict", namespace: "shop", selector: { app: "web" }, mode: "STRICT" }],
  },
  { name: "shop-strict", peerAuthentications: [{ name: "default", namespace: "shop", mode: "STRICT" }] },
  {
    name: "no-exception",
    description: "the adopted exception retired: shop/api goes STRICT",
    retire: [{ namespace: "shop", name: "api-permissive" }],
  },
];

/** The adopted policies the walk made, which discover must have recorded in stage current. */
const ADOPTED = ["istio-system/default", "shop/api-permissive"];

/** What each refusal the walk provokes says: the program's, the gate's, Pulumi's. */
export const STALE_REFUSAL = "shop/api-permissive: changed on the cluster since stage current recorded it";
export const GATE_REFUSAL = "PLAINTEXT: stage web-strict";
/**
 * The destroy guard's refusal (src/components/destroyGuard.ts), which a destroy meets before Pulumi's own refusal of
 * the protected policies: the guard depends on them, so it is deleted, and its check run, first.
 */
export const PROTECTED_REFUSAL = DESTROY_REFUSAL;

/** The discovered rollout with the walk's stages after its own first one; refused without the adopted policies. */
export function walkRollout(discovered: string): { text: string; stages: string[] } {
  const doc = YAML.parseDocument(discovered);
  const stages = doc.get("stages") as YAML.YAMLSeq | undefined;
  const first = stages?.items[0] as YAML.YAMLMap | undefined;
  if (!first || first.get("name") !== "current") throw new Error("discover wrote no stage current");
  const adopted = (
    (first.toJSON() as { peerAuthentications?: { namespace: string; name: string; existing?: boolean }[] }).peerAuthentications ?? []
  )
    .filter((p) => p.existing)
    .map((p) => `${p.namespace}/${p.name}`);
  const missing = ADOPTED.filter((a) => !adopted.includes(a));
  if (missing.length > 0) throw new Error(`discover did not record ${missing.join(", ")} as existing in stage current`);
  doc.set("stages", doc.createNode([first.toJSON(), ...OWN_MESH_STAGES]));
  return { text: doc.toString(), stages: ["current", ...OWN_MESH_STAGES.map((s) => s.name)] };
}

export async function walkOwnMesh(stack: WalkStack, o: OwnMeshWalkOptions): Promise<void> {
  const output = { onOutput: (out: string) => o.log(out.trimEnd()) };
  const step = (line: string) => o.log(`== ${line}`);
  let failure: unknown;
  let clusterUid = "";
  const configure = (stage: string) =>
    stack.setAllConfig({
      "mtls-rollout:stage": { value: stage },
      "mtls-rollout:rollout": { value: o.rolloutFile },
      "mtls-rollout:kubeContext": { value: o.kubeContext },
      "mtls-rollout:clusterUid": { value: clusterUid },
      "mtls-rollout:prometheusUrl": { value: o.prometheusUrl, secret: true },
      "mtls-rollout:preflight": { value: "true" },
      "mtls-rollout:preflightWindow": { value: String(o.gateWindowSeconds) },
    });
  const up = async (stage: string) => {
    step(`up: stage ${stage}`);
    await configure(stage);
    const result = await stack.up(output);
    if (result.summary.result !== "succeeded") throw new Error(`up of stage ${stage} ended ${result.summary.result}`);
  };
  /** An `up` that must fail, and with `words`. */
  const refused = async (what: string, words: string, run: () => Promise<unknown>) => {
    let error: unknown;
    try {
      await run();
    } catch (err) {
      error = err;
    }
    if (!error) throw new Error(`${what} succeeded`);
    const text = String((error as Error).message ?? error);
    if (!text.includes(words)) throw new Error(`${what} failed, but not with "${words}": ${text.slice(0, 800)}`);
    step(`${what} was refused, as it must be`);
  };
  const patchMode = (mode: string) =>
    o.kubectl([
      "patch",
      "peerauthentication",
      "api-permissive",
      "-n",
      "shop",
      "--type",
      "merge",
      "-p",
      JSON.stringify({ spec: { mtls: { mode } } }),
    ]);

  try {
    step("the team's mesh: e2e/own-mesh.yaml");
    await o.kubectl(["apply", "-f", "-"], o.manifest);
    for (const [ns, name] of [
      ["shop", "web"],
      ["shop", "api"],
      ["legacy", "client"],
    ])
      await o.kubectl(["rollout", "status", `deployment/${name}`, "-n", ns, "--timeout=300s"]);
    clusterUid = (await o.kubectl(["get", "namespace", "kube-system", "-o", "jsonpath={.metadata.uid}"])).trim();

    step("discover");
    const found = await o.cli([
      "discover",
      "--context",
      o.kubeContext,
      "--namespace",
      "shop",
      "--namespace",
      "legacy",
      "-o",
      o.rolloutFile,
    ]);
    if (found.code !== 0) throw new Error(`discover exited ${found.code}: ${found.stderr.slice(0, 800)}`);
    const rollout = walkRollout(fs.readFileSync(o.rolloutFile, "utf8"));
    fs.writeFileSync(o.rolloutFile, rollout.text);
    const check = await o.cli(["check", "--rollout", o.rolloutFile]);
    if (check.code !== 0) throw new Error(`check of the walk's rollout exited ${check.code}: ${check.stdout}${check.stderr}`);

    step("shop/api-permissive edited after discover: the first up must adopt nothing");
    await patchMode("DISABLE");
    await refused("the up of a stale file", STALE_REFUSAL, () => up("current"));
    await patchMode("PERMISSIVE");
    await up("current");
    // Adopted: written by the stack now, as its annotations say.
    for (const id of ADOPTED) {
      const [ns, name] = id.split("/");
      const adopted = await o.kubectl([
        "get",
        "peerauthentication",
        name,
        "-n",
        ns,
        "-o",
        "jsonpath={.metadata.annotations.mtls-rollout\\.io/adopted}",
      ]);
      if (adopted.trim() !== "true") throw new Error(`${id} is not marked adopted after up current (adopted: ${JSON.stringify(adopted)})`);
    }

    step("legacy/client still sends plaintext to shop/web: the gate must stop web-strict");
    await refused("the up of web-strict", GATE_REFUSAL, () => up("web-strict"));
    await o.kubectl(["scale", "deployment/client", "-n", "legacy", "--replicas=0"]);
    await o.kubectl(["wait", "--for=delete", "pod", "-l", "app=client", "-n", "legacy", "--timeout=120s"]);
    // From the client's end: the window with no plaintext, and two of Prometheus's scrape intervals (15s in Istio's
    // addon) on top.
    step(`legacy/client stopped: waiting ${o.gateWindowSeconds + 30}s for the gate's window`);
    await o.sleep((o.gateWindowSeconds + 30) * 1000);
    await up("web-strict");
    await up("shop-strict");
    await up("no-exception");
    const inForce = await o.kubectl([
      "get",
      "peerauthentication",
      "api-permissive",
      "-n",
      "shop",
      "-o",
      "jsonpath={.metadata.annotations.mtls-rollout\\.io/in-force}",
    ]);
    if (inForce.trim() !== "false")
      throw new Error(`the retired shop/api-permissive is not dormant on the cluster (in-force: ${JSON.stringify(inForce)})`);

    step("pulumi destroy past the first stage must be refused");
    await refused("pulumi destroy at stage no-exception", PROTECTED_REFUSAL, () => stack.destroy(output));
    await up("current");
    step("destroy, back at the first stage");
    await stack.destroy(output);
    for (const id of ADOPTED) {
      const [ns, name] = id.split("/");
      await o.kubectl(["get", "peerauthentication", name, "-n", ns, "-o", "name"]);
    }
    step("the adopted policies are still on the cluster");
  } catch (err) {
    failure = err;
  }
  step("clean up the team's mesh");
  try {
    await o.kubectl(["delete", "--ignore-not-found", "--wait=false", "-f", "-"], o.manifest);
    await o.kubectl(["delete", "namespace", "--ignore-not-found", "--wait=false", OUTSIDE_PROBE_NAMESPACE]);
    // What the verification recorded in the mesh root (verify --record), which a refused destroy leaves behind.
    await o.kubectl(["delete", "configmap", "mtls-rollout-verified", "-n", "istio-system", "--ignore-not-found"]);
  } catch (err) {
    if (failure) o.log(`clean up failed too: ${String(err)}`);
    else failure = err;
  }
  if (failure) throw failure;
}
