/**
 * The e2e walk of a team's own mesh (e2e/ownMesh.ts), driven with stubs for the Automation API stack and kubectl:
 * the real discover (in this process, against the mesh of e2e/own-mesh.yaml as the fake kubectl answers it) writes the
 * rollout, the walk gives it its stages and the real check accepts them; the stubs refuse what the program, the gate
 * and Pulumi refuse on a cluster, so each test proves the walk fails where one of those would not.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import * as YAML from "yaml";
import { OWN_MESH_STAGES, walkOwnMesh, walkRollout } from "../e2e/ownMesh";
import type { WalkStack } from "../e2e/walk";
import { DESTROY_REFUSAL } from "../src/components/destroyGuard";
import { adoptionRefusals } from "../src/model/adoption";
import { buildPlan } from "../src/model/plan";
import type { GateResult } from "../src/model/preflight";
import { gateSummary } from "../src/preflight/report";
import { tightenedTargets } from "../src/model/preflight";
import { parseRollout } from "../src/model/rollout";
import { parseRolloutYaml } from "../src/rollout/load";
import { crdValidator } from "./support/crdValidator";
import { FAKE_KUBECTL } from "./support/fakeKubectlBuild";
import { cli } from "./support/inProcessCli";
import { kubernetesSchemaErrors } from "./support/kubernetesSchema";
import { clusterOf, writeLists } from "./support/labCluster";

const MANIFEST = fs.readFileSync(path.join(__dirname, "..", "e2e", "own-mesh.yaml"), "utf8");
const OBJECTS = YAML.parseAllDocuments(MANIFEST).map((d) => d.toJSON());
const UID = "6f1c2a4e-0b7d-4c55-9a31-000000000006";

/** The mesh of e2e/own-mesh.yaml as a rollout, for clusterOf to run it: its namespaces, workloads and ports. */
const MESH = parseRollout({
  namespaces: [
    { name: "shop", injection: true },
    { name: "legacy", injection: false },
  ],
  workloads: [
    {
      name: "web",
      namespace: "shop",
      image: "docker.io/mccutchen/go-httpbin:v2.15.0",
      service: { ports: [{ name: "http", port: 8080, targetPort: 8080 }] },
    },
    {
      name: "api",
      namespace: "shop",
      image: "docker.io/nicholasjackson/fake-service:v0.7.8",
      service: { ports: [{ name: "http", port: 8080, targetPort: 8080 }] },
    },
    { name: "client", namespace: "legacy", image: "docker.io/curlimages/curl:8.16.0" },
  ],
  probes: { namespaces: [], outsideMesh: false },
  stages: [{ name: "none" }],
});

/** That mesh on a cluster, with the manifest's two PeerAuthentications made before the rollout. */
function ownMeshCluster(): string {
  const lists = clusterOf(MESH, null);
  // kube-system, whose UID discover writes into the rollout's header.
  lists.namespaces.push(
    JSON.parse(fs.readFileSync(path.join(__dirname, "fixtures", "cluster", "namespaces.json"), "utf8")).items.find(
      (n: { metadata: { name: string } }) => n.metadata.name === "kube-system",
    ),
  );
  const model = JSON.parse(fs.readFileSync(path.join(__dirname, "fixtures", "cluster", "peerauthentications.json"), "utf8")).items[0];
  lists.peerauthentications = OBJECTS.filter((o) => o.kind === "PeerAuthentication").map((o, i) => ({
    ...model,
    metadata: {
      ...model.metadata,
      name: o.metadata.name,
      namespace: o.metadata.namespace,
      uid: `${UID.slice(0, 24)}${String(900 + i).padStart(12, "0")}`,
    },
    spec: o.spec,
  }));
  return writeLists(fs.mkdtempSync(path.join(os.tmpdir(), "mtls-rollout-own-mesh-")), lists);
}

// What each refuses with, built by the code that prints it, so that the walk's words are checked against them.
/** The program's refusal of a stale adopted policy (src/model/adoption.ts). */
const STALE_PROGRAM_ERROR = (mode: string) =>
  adoptionRefusals(
    [{ kind: "stale", namespace: "shop", name: "api-permissive", differences: [`mode ${mode} (as found: PERMISSIVE)`] }],
    "current",
    "mtls-rollout status --rollout own-mesh.yaml --context kind-own-mesh",
  )[0];
/** The gate's summary (src/preflight/report.ts) when the one workload it tightens still receives plaintext. */
const GATE_SUMMARY = gateSummary({
  stage: "web-strict",
  previous: "current",
  outcome: "fail",
  targets: [{ verdict: "fail" } as GateResult["targets"][number]],
});
/** The destroy guard's refusal past the first stage, as test/destroyGuard.test.ts sees its shell print it. */
const GUARD_REFUSAL = `${DESTROY_REFUSAL}: the cluster's policies are not stage current's (see above)`;
/** pulumi-command's error for a Command that exits 1 ("%w: running %q:\n%s", provider/pkg/provider/local/commandOutputs.go, v1.2.1). */
const commandFailed = (output: string) => `exit status 1: running "node ...":\n${output}`;

interface World {
  stage: string;
  apiMode: string;
  clientRunning: boolean;
  applied: boolean;
  destroyed: boolean;
  calls: string[];
}

/**
 * Stubs that behave as the cluster, the program, the gate and Pulumi would; `breaks` makes one of them let through
 * what it refuses, to prove the walk notices.
 */
function stubs(breaks: { staleUp?: boolean; gate?: boolean; destroy?: boolean } = {}) {
  const dir = ownMeshCluster();
  const rolloutFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "mtls-rollout-walk-")), "own-mesh.yaml");
  const w: World = { stage: "", apiMode: "PERMISSIVE", clientRunning: true, applied: false, destroyed: false, calls: [] };
  let configured: Record<string, { value: string; secret?: boolean }> = {};
  const stack: WalkStack = {
    setAllConfig: async (c) => {
      configured = c;
    },
    up: async () => {
      const stage = configured["mtls-rollout:stage"].value;
      w.calls.push(`up ${stage}`);
      expect(configured).toMatchObject({
        "mtls-rollout:rollout": { value: rolloutFile },
        "mtls-rollout:kubeContext": { value: "kind-own-mesh" },
        "mtls-rollout:clusterUid": { value: UID },
        "mtls-rollout:prometheusUrl": { value: "http://127.0.0.1:19090", secret: true },
        "mtls-rollout:preflight": { value: "true" },
      });
      if (w.apiMode !== "PERMISSIVE" && !breaks.staleUp) throw new Error(`error: ${STALE_PROGRAM_ERROR(w.apiMode)}`);
      if (stage === "web-strict" && w.clientRunning && !breaks.gate) throw new Error(`error: ${commandFailed(GATE_SUMMARY)}`);
      w.stage = stage;
      return { summary: { result: "succeeded" } };
    },
    destroy: async () => {
      w.calls.push("destroy");
      if (w.stage !== "current" && !breaks.destroy) throw new Error(`error: ${commandFailed(GUARD_REFUSAL)}`);
      w.destroyed = true;
      return {};
    },
  };
  const kubectl = async (args: string[], stdin?: string) => {
    w.calls.push(`kubectl ${args.slice(0, 2).join(" ")}`);
    if (args[0] === "apply") {
      expect(stdin).toBe(MANIFEST);
      w.applied = true;
    }
    if (args[0] === "patch") w.apiMode = JSON.parse(args[args.length - 1]).spec.mtls.mode;
    if (args[0] === "scale") w.clientRunning = false;
    if (args[0] === "get" && args[1] === "namespace") return UID;
    if (args[0] === "get" && args.some((a) => a.includes("in-force"))) return w.stage === "no-exception" ? "false" : "";
    // After the first up that succeeded, the adopted policies carry the stack's annotations.
    if (args[0] === "get" && args.some((a) => a.includes("io/adopted"))) return w.stage !== "" ? "true" : "";
    return "";
  };
  const run = async (args: string[]) => {
    w.calls.push(`mtls-rollout ${args[0]}`);
    return cli(args, { env: { KUBECTL: FAKE_KUBECTL, FAKE_KUBECTL_DIR: dir } });
  };
  const slept: number[] = [];
  const options = {
    kubeContext: "kind-own-mesh",
    prometheusUrl: "http://127.0.0.1:19090",
    manifest: MANIFEST,
    rolloutFile,
    gateWindowSeconds: 120,
    cli: run,
    kubectl,
    sleep: async (ms: number) => void slept.push(ms),
    log: () => {},
  };
  return { stack, w, options, slept, rolloutFile };
}

describe("the e2e walk of an own mesh", () => {
  it("adopts after refusing a stale file, stops at the gate until the plaintext client is gone, retires, and guards destroy", async () => {
    const { stack, w, options, slept } = stubs();
    await walkOwnMesh(stack, options);
    expect(w.calls.filter((c) => c.startsWith("up") || c === "destroy" || c.startsWith("mtls-rollout") || /patch|scale/.test(c))).toEqual([
      "mtls-rollout discover",
      "mtls-rollout check",
      "kubectl patch peerauthentication",
      "up current",
      "kubectl patch peerauthentication",
      "up current",
      "up web-strict",
      "kubectl scale deployment/client",
      "up web-strict",
      "up shop-strict",
      "up no-exception",
      "destroy",
      "up current",
      "destroy",
    ]);
    expect(slept).toEqual([150_000]);
    expect(w.destroyed).toBe(true);
    expect(w.calls.slice(-3)).toEqual(["kubectl delete --ignore-not-found", "kubectl delete namespace", "kubectl delete configmap"]);
  });

  it("gives the real discover's rollout the walk's stages, which check accepts and whose gates target what the walk expects", async () => {
    const { options, rolloutFile } = stubs();
    const found = await options.cli([
      "discover",
      "--context",
      "kind-own-mesh",
      "--namespace",
      "shop",
      "--namespace",
      "legacy",
      "-o",
      rolloutFile,
    ]);
    expect(found.code).toBe(0);
    const discovered = fs.readFileSync(rolloutFile, "utf8");
    expect(discovered).toContain(`(cluster UID ${UID}: pulumi config set mtls-rollout:clusterUid ${UID})`);
    const { text, stages } = walkRollout(discovered);
    expect(stages).toEqual(["current", ...OWN_MESH_STAGES.map((s) => s.name)]);
    const rollout = parseRolloutYaml(text, "own-mesh.yaml");
    expect(
      rollout.stages[0].peerAuthentications
        .filter((p) => p.existing)
        .map((p) => `${p.namespace}/${p.name}`)
        .sort(),
    ).toEqual(["istio-system/default", "shop/api-permissive"]);
    const target = (stage: string) => tightenedTargets(rollout, stage, null).map((t) => t.workload);
    expect(target("web-strict")).toEqual(["shop/web"]);
    // Retired, the exception no longer keeps shop/api PERMISSIVE under the namespace's STRICT.
    expect(buildPlan(rollout, "shop-strict").workloads.find((x) => x.name === "api")!.mode).toBe("PERMISSIVE");
    expect(buildPlan(rollout, "no-exception").workloads.find((x) => x.name === "api")!.mode).toBe("STRICT");
    fs.writeFileSync(rolloutFile, text);
    expect((await options.cli(["check", "--rollout", rolloutFile])).code).toBe(0);
  });

  it("fails when a stale file is adopted, when the gate lets plaintext through, or when destroy is not refused, and still cleans up", async () => {
    for (const [broken, words] of [
      ["staleUp", "the up of a stale file succeeded"],
      ["gate", "the up of web-strict succeeded"],
      ["destroy", "pulumi destroy at stage no-exception succeeded"],
    ] as const) {
      const { stack, w, options } = stubs({ [broken]: true });
      await expect(walkOwnMesh(stack, options), broken).rejects.toThrow(words);
      expect(w.calls.slice(-3), broken).toEqual([
        "kubectl delete --ignore-not-found",
        "kubectl delete namespace",
        "kubectl delete configmap",
      ]);
    }
  });

  it("refuses a discovered rollout that did not record the adopted policies", () => {
    expect(() => walkRollout(YAML.stringify({ stages: [{ name: "current", peerAuthentications: [] }] }))).toThrow(
      "discover did not record istio-system/default, shop/api-permissive as existing in stage current",
    );
  });

  it("runs a mesh of valid Kubernetes objects and PeerAuthentications the CRD accepts", () => {
    const pa = crdValidator(path.join(__dirname, "fixtures", "peerauthentication-crd.yaml"), "v1");
    for (const o of OBJECTS) {
      if (o.kind === "PeerAuthentication") expect(pa(o), o.metadata.name).toEqual([]);
      else expect(kubernetesSchemaErrors(o), `${o.kind} ${o.metadata.name}`).toEqual([]);
    }
  });
});
