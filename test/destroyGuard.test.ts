/**
 * The destroy guard of a stack on a mesh it does not own (issue 21, point 3): a Command that does nothing on `up` and,
 * when `pulumi destroy` deletes it (first, as it depends on everything the stack has on the cluster), runs `status
 * --policies-only` against the first stage with the stack's cluster UID. Its shell runs here for real, with the real
 * CLI against the own mesh as the fake kubectl answers it at one stage or another.
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { describe, expect, it } from "vitest";
import { DESTROY_GUARD_COMMAND, DESTROY_REFUSAL, storedClusterProblem } from "../src/components/destroyGuard";
import { loadRollout } from "../src/rollout/load";
import { stagePoliciesDigest } from "../src/model/policyDigest";
import { FAKE_KUBECTL } from "./support/fakeKubectlBuild";
import { cli } from "./support/inProcessCli";
import { clusterOf, writeLists } from "./support/labCluster";
import { named, ofType, runStack } from "./support/stack";
import { boundConfig, CLUSTER_UID, OWN_MESH } from "./support/ownMeshStack";

const ROOT = path.join(__dirname, "..");
const UID = CLUSTER_UID;
const config = boundConfig(OWN_MESH, "shop-strict");
/** What the stack stores of its first stage at each up. */
const FIRST_STAGE_DIGEST = stagePoliciesDigest(loadRollout(OWN_MESH), "current");
const PA = "kubernetes:security.istio.io/v1:PeerAuthentication";

/** An Output's value, or its failure (Output keeps its promise out of the typings). */
const settled = (o: pulumi.Output<unknown>) => (o as unknown as { promise(): Promise<unknown> }).promise();

/** The own mesh running, the stack's policies of `stage` on it, and kube-system (whose UID binds the stack). */
function meshAt(stage: string): string {
  const lists = clusterOf(loadRollout(OWN_MESH), stage);
  lists.namespaces.push(
    JSON.parse(fs.readFileSync(path.join(__dirname, "fixtures", "cluster", "namespaces.json"), "utf8")).items.find(
      (n: { metadata: { name: string } }) => n.metadata.name === "kube-system",
    ),
  );
  return writeLists(fs.mkdtempSync(path.join(os.tmpdir(), "mtls-rollout-guard-")), lists);
}

/** The guard's delete, as pulumi-command runs it: /bin/sh -c, in the project directory, with its environment. */
function destroyAgainst(dir: string, env: Record<string, string> = {}) {
  const run = spawnSync("/bin/sh", ["-c", DESTROY_GUARD_COMMAND], {
    cwd: ROOT,
    encoding: "utf8",
    timeout: 60_000,
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      KUBECTL: FAKE_KUBECTL,
      FAKE_KUBECTL_DIR: dir,
      MTLS_ROLLOUT_CLI: "bin/mtls-rollout.js",
      MTLS_ROLLOUT_STAGE: "current",
      MTLS_ROLLOUT_FILE: OWN_MESH,
      MTLS_ROLLOUT_CONTEXT: "",
      MTLS_ROLLOUT_CLUSTER_UID: UID,
      MTLS_ROLLOUT_HANDOVER: "",
      MTLS_ROLLOUT_STACKS: "organization/mtls-rollout/dev",
      MTLS_ROLLOUT_STAGE_DIGEST: FIRST_STAGE_DIGEST,
      ...env,
    },
  });
  return { code: run.status, stderr: run.stderr };
}

describe("status --policies-only", () => {
  it("needs the stage to compare with, and says so before it reads anything", async () => {
    const out = await cli(["status", "--rollout", OWN_MESH, "--policies-only"]);
    expect(out.code).toBe(2);
    expect(out.stderr).toBe("error: --policies-only: needs the stage to compare with: --stage NAME or --stack NAME\n");
  });

  it("lets the policies alone decide: a workload gone is drift for status, not for --policies-only", async () => {
    const dir = meshAt("current");
    // payments/ledger gone: its controller and its pods.
    for (const list of ["controllers", "pods"]) {
      const file = path.join(dir, `${list}.json`);
      const read = JSON.parse(fs.readFileSync(file, "utf8"));
      const kept = read.items.filter((o: { metadata: { name: string } }) => !o.metadata.name.startsWith("ledger"));
      expect(kept.length, list).toBeLessThan(read.items.length);
      fs.writeFileSync(file, JSON.stringify({ ...read, items: kept }));
    }
    const env = { KUBECTL: FAKE_KUBECTL, FAKE_KUBECTL_DIR: dir };
    const args = ["status", "--rollout", OWN_MESH, "--stage", "current"];
    expect((await cli(args, { env })).code).toBe(1);
    expect((await cli([...args, "--policies-only"], { env })).code).toBe(0);
  });
});

describe("the destroy guard", () => {
  it("is declared on a mesh the stack does not own, after everything the stack has there, and never replaced", async () => {
    const { resources } = await runStack(config);
    const guard = named(resources, "command:local:Command", "destroy-guard");
    expect(guard.inputs).toMatchObject({ create: "true", delete: DESTROY_GUARD_COMMAND });
    expect(guard.inputs.triggers).toBeUndefined();
    expect(guard.inputs.environment).toMatchObject({
      MTLS_ROLLOUT_STAGE: "current",
      MTLS_ROLLOUT_CONTEXT: "prod-eu",
      MTLS_ROLLOUT_CLUSTER_UID: UID,
      MTLS_ROLLOUT_HANDOVER: "",
      MTLS_ROLLOUT_STACKS: "organization/mtls-rollout/dev",
      MTLS_ROLLOUT_STAGE_DIGEST: FIRST_STAGE_DIGEST,
    });
    // A destroy deletes what depends on a resource first: the guard, before any policy, probe or namespace of the stack.
    for (const type of [PA, "kubernetes:apps/v1:Deployment", "kubernetes:core/v1:ServiceAccount", "kubernetes:core/v1:Namespace"])
      for (const r of ofType(resources, type)) expect(guard.dependencies, r.name).toContain(r.urn);
    const handedOver = await runStack({
      ...config,
      "mtls-rollout:handover": "true",
      "mtls-rollout:formerStacks": "organization/mtls-rollout/prod",
    });
    expect(named(handedOver.resources, "command:local:Command", "destroy-guard").inputs.environment).toMatchObject({
      MTLS_ROLLOUT_HANDOVER: "1",
      MTLS_ROLLOUT_STACKS: "organization/mtls-rollout/dev,organization/mtls-rollout/prod",
    });
    // The Istio and Prometheus the stack may install on such a mesh wait for it too.
    const withIstio = await runStack({ ...config, "mtls-rollout:installIstio": "true", "mtls-rollout:installPrometheus": "true" });
    const guarded = named(withIstio.resources, "command:local:Command", "destroy-guard").dependencies;
    const installed = withIstio.resources.filter((x) => x.type.startsWith("kubernetes:helm.sh") || x.type.startsWith("kubernetes:yaml"));
    expect(installed.length).toBeGreaterThanOrEqual(3);
    for (const r of installed) expect(guarded, r.name).toContain(r.urn);
  });

  it("knows a stored cluster other than the config's, which fails the program (its `bound` output); the config's own passes", async () => {
    // A refresh or destroy that runs the program gets the guard's stored environment back, while the providers take
    // the config's: the component fails the program (its `bound` output) where the two name different clusters.
    const { stack } = await runStack(config);
    await expect(settled(stack.guard!.bound)).resolves.toBeUndefined();
    expect(storedClusterProblem("0b9a4f2e-1111-4c55-9a31-00000000beef", UID)).toMatch(
      /^mtls-rollout:clusterUid is 6f1c2a4e-0b7d-4c55-9a31-000000000006, but the stack's resources are on the cluster 0b9a4f2e-1111-4c55-9a31-00000000beef, as its last up left them: .*to move the stack, run pulumi up --refresh=false --run-program=false$/,
    );
    expect(storedClusterProblem(UID, UID)).toBeUndefined();
    // Nothing stored yet (a first up, a stack from before the guard).
    expect(storedClusterProblem(undefined, UID)).toBeUndefined();
  });

  it("is not declared for the lab, which a destroy removes whole", async () => {
    const { resources } = await runStack({ "mtls-rollout:stage": "permissive" });
    expect(ofType(resources, "command:local:Command").map((c) => c.name)).not.toContain("destroy-guard");
  });

  it("lets a destroy go on where the cluster's policies are the first stage's, and refuses one past it, saying the way out", () => {
    expect(destroyAgainst(meshAt("current")).code).toBe(0);
    const past = destroyAgainst(meshAt("shop-strict"));
    expect(past.code).toBe(1);
    expect(past.stderr).toContain(
      `${DESTROY_REFUSAL}: the cluster's policies are not stage current's (see above), and deleting the stack's would drop exceptions and keep what is STRICT, ungated. Go back first: pulumi config set mtls-rollout:stage current && pulumi up, then pulumi destroy; or keep them: pulumi config set mtls-rollout:handover true && pulumi up, then pulumi destroy.`,
    );
    // Handed over, the policies stay: any stage will do.
    expect(destroyAgainst(meshAt("shop-strict"), { MTLS_ROLLOUT_HANDOVER: "1" }).code).toBe(0);
  });

  it("counts only status's own answers: a CLI that cannot start refuses the destroy, handed over or not", () => {
    for (const handover of ["", "1"]) {
      const broken = destroyAgainst(meshAt("current"), { MTLS_ROLLOUT_CLI: "bin/gone.js", MTLS_ROLLOUT_HANDOVER: handover });
      expect(broken.code, handover).toBe(1);
      expect(broken.stderr, handover).toContain(`${DESTROY_REFUSAL}: status could not tell`);
    }
  });

  /** The mesh at `current`, its policies as `edit` makes them (objects the shape of the stack's own, from the fixture). */
  const editedMesh = (edit: (items: any[]) => any[]) => {
    const dir = meshAt("current");
    const file = path.join(dir, "peerauthentications.json");
    const list = JSON.parse(fs.readFileSync(file, "utf8"));
    fs.writeFileSync(file, JSON.stringify({ ...list, items: edit(list.items) }));
    return dir;
  };
  const extra = (items: any[], annotations: Record<string, string>) => {
    const one = structuredClone(items[0]);
    one.metadata = {
      ...one.metadata,
      namespace: "payments",
      name: "ledger-extra",
      annotations,
      uid: "6f1c2a4e-0b7d-4c55-9a31-0000000000aa",
    };
    one.spec = { selector: { matchLabels: { app: "ledger" } }, mtls: { mode: "PERMISSIVE" } };
    return [...items, one];
  };

  it("counts only what a destroy of this stack would delete: not another team's policy, another stack's, or an adopted one gone", () => {
    expect(destroyAgainst(editedMesh((items) => extra(items, {}))).code).toBe(0);
    const otherStack = { "mtls-rollout.io/defined-in-stage": "current", "mtls-rollout.io/stack": "organization/team-b/prod" };
    expect(destroyAgainst(editedMesh((items) => extra(items, otherStack))).code).toBe(0);
    // istio-system/default, which the rollout adopts, deleted by someone: a destroy leaves adopted policies alone anyway.
    expect(destroyAgainst(editedMesh((items) => items.filter((p) => p.metadata.namespace !== "istio-system"))).code).toBe(0);
    // This stack's own extra policy (or one from a release that named no stack): refused, going back removes it.
    const ours = { ...otherStack, "mtls-rollout.io/stack": "organization/mtls-rollout/dev" };
    expect(destroyAgainst(editedMesh((items) => extra(items, ours))).code).toBe(1);
    const { "mtls-rollout.io/stack": _, ...unnamed } = ours;
    expect(destroyAgainst(editedMesh((items) => extra(items, unnamed))).code).toBe(1);
  });

  it("judges the cluster only against the first stage the stack applied: a rollout file whose first stage differs (an older checkout) is refused", () => {
    const rewritten = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "mtls-rollout-guard-")), "own-mesh.yaml");
    fs.writeFileSync(
      rewritten,
      fs
        .readFileSync(OWN_MESH, "utf8")
        .replace(
          "- { name: default, namespace: istio-system, mode: PERMISSIVE, existing: true }",
          "- { name: default, namespace: istio-system, mode: STRICT, existing: true }",
        ),
    );
    expect(fs.readFileSync(rewritten, "utf8")).not.toBe(fs.readFileSync(OWN_MESH, "utf8"));
    const refused = destroyAgainst(meshAt("current"), { MTLS_ROLLOUT_FILE: rewritten });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(
      /--stage-digest: the rollout file's stage current puts other policies in force than the one expected \(digest [0-9a-f]{16}, not [0-9a-f]{16}\): use the rollout file of the last pulumi up/,
    );
    expect(refused.stderr).toContain(`${DESTROY_REFUSAL}: status could not tell`);
  });

  it("refuses a destroy on another cluster than the stack's, handed over or not, before anything is read", () => {
    for (const handover of ["", "1"]) {
      const elsewhere = destroyAgainst(meshAt("current"), {
        MTLS_ROLLOUT_CLUSTER_UID: "0b9a4f2e-1111-4c55-9a31-00000000beef",
        MTLS_ROLLOUT_HANDOVER: handover,
      });
      expect(elsewhere.code, handover).toBe(1);
      expect(elsewhere.stderr, handover).toMatch(
        /reaches the cluster whose kube-system namespace has UID 6f1c2a4e-0b7d-4c55-9a31-000000000006/,
      );
      expect(elsewhere.stderr, handover).toContain(
        `${DESTROY_REFUSAL}: status could not tell that the context reaches the stack's cluster`,
      );
    }
  });
});
