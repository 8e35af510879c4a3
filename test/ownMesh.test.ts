/**
 * A mesh that already runs: workloads the stack does not deploy (deploy: false, any controller kind,
 * named target ports), the probe kit the stack deploys instead, and PeerAuthentications it adopts.
 */
import * as fs from "node:fs";
import * as pulumi from "@pulumi/pulumi";
import { describe, expect, it, vi } from "vitest";
import { problemsOf } from "./support/problems";
import { buildPlan } from "../src/model/plan";
import { PROBE_IMAGE } from "../src/model/probeKit";
import { parseRollout } from "../src/model/rollout";
import { loadRollout } from "../src/rollout/load";
import { clusterState, fakeRunner, fakeVerifyOptions } from "./support/fakeCluster";
import { verifyOnFakeClock } from "./support/fakeClock";
import { kubernetesSchemaErrors } from "./support/kubernetesSchema";
import { named, ofType, runStack } from "./support/stack";
import { tempFile } from "./support/files";
import { boundConfig, CLUSTER_UID, OWN_MESH } from "./support/ownMeshStack";
import { clusterWithPolicies, policyObject, type PolicyObject } from "./support/clusterFolder";
import { ADOPTION_COMMAND } from "../src/components/adoptionGate";

const PA_TYPE = "kubernetes:security.istio.io/v1:PeerAuthentication";

const existing = (extra: Record<string, unknown> = {}) => ({
  namespaces: [{ name: "shop" }],
  workloads: [{ name: "cart", namespace: "shop", deploy: false, sidecar: true, labels: { app: "cart", version: "v2" }, ...extra }],
  stages: [{ name: "s" }],
});

describe("workloads the stack does not deploy", () => {
  it("need no image, keep their template's labels as pod labels, and make their namespace existing", () => {
    const rollout = parseRollout(existing({ service: { selector: { app: "cart" }, ports: [{ port: 80, targetPort: 8080 }] } }));
    const cart = rollout.workloads[0];
    expect(cart).toMatchObject({ deploy: false, kind: "Deployment", sidecar: true });
    expect(cart.image).toBeUndefined();
    // No injection label of ours: the running pods carry what their template has, and the injector's labels.
    expect(cart.podLabels).toEqual({
      app: "cart",
      version: "v2",
      "security.istio.io/tlsMode": "istio",
      "service.istio.io/canonical-name": "cart",
      "service.istio.io/canonical-revision": "v2",
    });
    expect(cart.services).toEqual([
      {
        name: "cart",
        selector: { app: "cart" },
        ports: [{ port: 80, targetPort: 8080, protocol: "TCP" }],
        origin: expect.stringMatching(/\.service$/),
      },
    ]);
    expect(rollout.namespaces[0]).toEqual({ name: "shop", injection: false, existing: true });
  });

  it.each([
    [
      "an image",
      { image: "cart:1" },
      'workloads[0].image: is for a workload the stack deploys, but this one has deploy: false (it runs already); remove it (got "cart:1")',
    ],
    [
      "a command",
      { command: ["x"] },
      'workloads[0].command: is for a workload the stack deploys, but this one has deploy: false (it runs already); remove it (got ["x"])',
    ],
    [
      "replicas",
      { replicas: 2 },
      "workloads[0].replicas: is for a workload the stack deploys, but this one has deploy: false (it runs already); remove it (got 2)",
    ],
    [
      "no sidecar fact",
      { sidecar: undefined },
      "workloads[0].sidecar: is required with deploy: false: say whether the running pods have an istio-proxy sidecar (discover reads it from them)",
    ],
  ])("refuse %s", (_what, extra, message) => {
    expect(problemsOf(existing(extra))).toEqual([message]);
  });

  it("refuse a namespace declared as created by the stack", () => {
    const data = existing();
    data.namespaces[0] = { name: "shop", existing: false } as never;
    expect(problemsOf(data)).toEqual([
      'namespaces[0].existing: is false, but "shop" holds workloads with deploy: false, which run already; the namespace exists',
    ]);
  });

  it("may be a StatefulSet or DaemonSet, which the stack cannot deploy itself", () => {
    expect(parseRollout(existing({ kind: "StatefulSet" })).workloads[0].kind).toBe("StatefulSet");
    const deployed = {
      namespaces: [{ name: "shop" }],
      workloads: [{ name: "db", namespace: "shop", image: "db:1", kind: "DaemonSet" }],
      stages: [{ name: "s" }],
    };
    expect(problemsOf(deployed)).toEqual([
      'workloads[0].kind: is "DaemonSet", but the stack deploys only Deployments; set deploy: false for a DaemonSet that runs already',
    ]);
  });

  it("resolve a Service's named target port through the workload's named ports, and refuse a name that is not there", () => {
    const ok = parseRollout(
      existing({
        ports: [{ name: "grpc", containerPort: 7070 }, 9090],
        service: { ports: [{ name: "grpc", port: 7070, targetPort: "grpc" }] },
      }),
    );
    expect(ok.workloads[0].services[0].ports).toEqual([
      { name: "grpc", port: 7070, targetPort: 7070, targetPortName: "grpc", protocol: "TCP" },
    ]);
    expect(ok.workloads[0].containerPorts).toEqual([7070, 9090]);
    expect(
      problemsOf(existing({ ports: [{ name: "grpc", containerPort: 7070 }], service: { ports: [{ port: 80, targetPort: "http" }] } })),
    ).toEqual([
      'workloads[0].service.ports[0].targetPort: "http" names no port of the workload (its named ports: grpc); declare it in ports as { name, containerPort }',
    ]);
  });

  it("refuse a Service selector that misses the workload's pods or also picks another workload's", () => {
    expect(problemsOf(existing({ service: { selector: { app: "till" }, ports: [{ port: 80 }] } }))).toEqual([
      'workloads[0].service.selector: {"app":"till"} does not select the workload\'s own pods (labels {"app":"cart","version":"v2"})',
    ]);
    const two = existing({ service: { selector: { app: "cart" }, ports: [{ port: 80 }] } });
    two.workloads.push({
      name: "cart-v3",
      namespace: "shop",
      deploy: false,
      sidecar: true,
      labels: { app: "cart", version: "v3" },
    } as never);
    expect(problemsOf(two)).toEqual([
      'workloads[0].service.selector: {"app":"cart"} also select the pods of shop/cart-v3; give each workload a distinguishing label',
    ]);
  });

  it("follow Kubernetes' names: a Service name starts with a letter, a container port name has one", () => {
    expect(problemsOf(existing({ service: { name: "1cart", ports: [{ port: 80 }] } }))).toEqual([
      "workloads[0].service.name: must be a DNS-1035 label (lower-case letters, digits and '-', starting with a letter and ending with a letter or digit) (got \"1cart\")",
    ]);
    expect(problemsOf(existing({ ports: [{ name: "8080", containerPort: 8080 }] }))).toEqual([
      "workloads[0].ports[0].name: must be a port name: at most 15 lower-case letters, digits and '-', with at least one letter and no '--' (got \"8080\")",
    ]);
    // A Service port's name is a DNS-1123 label, longer than a container port's may be.
    expect(problemsOf(existing({ service: { ports: [{ name: "http-metrics-endpoint", port: 80 }] } }))).toEqual([]);
  });
});

describe("the probe kit", () => {
  const rollout = loadRollout(OWN_MESH);
  const kit = rollout.workloads.filter((w) => w.name === "mtls-probe");

  it("adds one probe with a sidecar per named namespace and one outside the mesh, in a namespace the stack creates", () => {
    expect(kit.map((w) => [w.ref, w.sidecar, w.probe, w.deploy])).toEqual([
      ["shop/mtls-probe", true, true, true],
      ["payments/mtls-probe", true, true, true],
      ["mtls-rollout-probes/mtls-probe", false, true, true],
    ]);
    expect(rollout.namespaces.find((n) => n.name === "mtls-rollout-probes")).toEqual({
      name: "mtls-rollout-probes",
      injection: false,
      existing: false,
    });
    expect(kit[0].image).toBe(PROBE_IMAGE);
  });

  it("is the only source of probes in the rollout, so verification does not need curl in the application images", () => {
    expect(rollout.workloads.filter((w) => w.probe).map((w) => w.ref)).toEqual(kit.map((w) => w.ref));
    expect(
      buildPlan(rollout, "shop-strict")
        .expectations.filter((e) => e.from === "mtls-rollout-probes/mtls-probe")
        .map((e) => [e.to, e.expect]),
    ).toEqual([
      ["shop/frontend", "refused"],
      ["shop/cart", "refused"],
      ["shop/redis", "refused"],
      ["payments/checkout", "plaintext"],
      ["payments/ledger", "plaintext"],
    ]);
  });

  it("refuses a namespace that is not declared and a probe that collides with a workload", () => {
    const data = {
      namespaces: [{ name: "shop" }],
      workloads: [{ name: "mtls-probe", namespace: "shop", image: "x:1" }],
      probes: { namespaces: ["shop", "nope"] },
      stages: [{ name: "s" }],
    };
    expect(problemsOf(data)).toEqual([
      'probes.namespaces[0].name: duplicate workload "shop/mtls-probe" (first at workloads[0])',
      'probes.namespaces[1]: namespace "nope" is not declared in namespaces',
    ]);
  });
});

/** The own mesh's stack, bound to test/fixtures/cluster. */
const config = boundConfig(OWN_MESH, "shop-strict");

describe("the program on a mesh that runs already", () => {
  it("registers nothing for deploy: false workloads nor existing namespaces, the probe kit, and the stage's policies", async () => {
    const { resources } = await runStack(config);
    const names = (type: string) =>
      ofType(resources, type)
        .map((r) => r.name)
        .sort();
    expect(names("kubernetes:apps/v1:Deployment")).toEqual(["mtls-rollout-probes/mtls-probe", "payments/mtls-probe", "shop/mtls-probe"]);
    expect(names("kubernetes:core/v1:ServiceAccount")).toEqual([
      "mtls-rollout-probes/mtls-probe",
      "payments/mtls-probe",
      "shop/mtls-probe",
    ]);
    expect(names("kubernetes:core/v1:Service")).toEqual([]);
    expect(names("kubernetes:core/v1:Namespace")).toEqual(["mtls-rollout-probes"]);
    expect(names(PA_TYPE)).toEqual(["istio-system/default", "payments/checkout", "shop/default"]);
    expect(named(resources, PA_TYPE, "shop/default").inputs.spec).toEqual({ mtls: { mode: "STRICT" } });
  });

  it("deploys hardened probes: non-root, read-only root filesystem, no capabilities, requests and limits, valid Kubernetes objects", async () => {
    const { resources } = await runStack(config);
    for (const d of ofType(resources, "kubernetes:apps/v1:Deployment")) {
      const container = d.inputs.spec.template.spec.containers[0];
      expect(container.securityContext).toMatchObject({
        runAsNonRoot: true,
        runAsUser: 100,
        readOnlyRootFilesystem: true,
        allowPrivilegeEscalation: false,
        capabilities: { drop: ["ALL"] },
      });
      expect(container.resources).toEqual({ requests: { cpu: "10m", memory: "16Mi" }, limits: { cpu: "100m", memory: "64Mi" } });
      expect(container.image).toBe(PROBE_IMAGE);
      expect(kubernetesSchemaErrors(d.inputs)).toEqual([]);
    }
    expect(
      named(resources, "kubernetes:apps/v1:Deployment", "mtls-rollout-probes/mtls-probe").inputs.spec.template.metadata.labels[
        "sidecar.istio.io/inject"
      ],
    ).toBe("false");
    expect(named(resources, "kubernetes:core/v1:Namespace", "mtls-rollout-probes").inputs.metadata.labels).toEqual({});
  });

  it("adopts an existing policy with Pulumi's import (namespace/name) through the one plain provider, and never deletes it", async () => {
    const { resources } = await runStack(config);
    const providers = ofType(resources, "pulumi:providers:kubernetes");
    // One provider: nothing upserts, whatever the environment says (PULUMI_K8S_UPSERT_EXISTING_OBJECTS, patch force).
    expect(providers.map((p) => p.name)).toEqual(["kubernetes"]);
    const plain = providers[0];
    expect(plain.inputs).toMatchObject({
      context: "prod-eu",
      clusterIdentifier: CLUSTER_UID,
      enableServerSideApply: "true",
      upsertExistingObjects: "false",
      enablePatchForce: "false",
      deleteUnreachable: "false",
      skipUpdateUnreachable: "false",
    });
    const adopted = named(resources, PA_TYPE, "istio-system/default");
    expect(adopted.importId).toBe("istio-system/default");
    expect(adopted.provider.startsWith(`${plain.urn}::`)).toBe(true);
    expect(adopted.retainOnDelete).toBe(true);
    expect(adopted.inputs.metadata.annotations).toMatchObject({ "mtls-rollout.io/adopted": "true", "pulumi.com/patchForce": "true" });
    for (const created of ["shop/default", "payments/checkout"]) {
      const r = named(resources, PA_TYPE, created);
      expect(r.importId, created).toBe("");
      expect(r.provider.startsWith(`${plain.urn}::`), created).toBe(true);
      expect(r.retainOnDelete, created).toBeUndefined();
      expect(r.inputs.metadata.annotations["mtls-rollout.io/adopted"], created).toBeUndefined();
    }
  });

  it("refuses a mesh it does not own without the kube context and the cluster's UID, before any resource", async () => {
    const { "mtls-rollout:kubeContext": _, "mtls-rollout:clusterUid": __, ...unbound } = config;
    await expect(runStack(unbound)).rejects.toThrow(
      /^mtls-rollout:kubeContext: is required for a mesh the stack does not own.*\nmtls-rollout:clusterUid: is required for a mesh the stack does not own/s,
    );
    await expect(runStack({ ...config, "mtls-rollout:clusterUid": "prod-eu" })).rejects.toThrow(
      /mtls-rollout:clusterUid: must be a namespace UID/,
    );
  });

  it("checks the cluster the context reaches before it declares anything: another one, or none that answers, stops the program", async () => {
    await expect(runStack({ ...config, "mtls-rollout:clusterUid": "0b9a4f2e-1111-4c55-9a31-00000000beef" })).rejects.toThrow(
      /^mtls-rollout:clusterUid: kube context prod-eu reaches the cluster whose kube-system namespace has UID 6f1c2a4e-0b7d-4c55-9a31-000000000006, not 0b9a4f2e-1111-4c55-9a31-00000000beef: nothing is declared/,
    );
    await expect(runStack(config, [], { kubectl: "/nonexistent/kubectl" })).rejects.toThrow(
      /^mtls-rollout:clusterUid: cannot tell which cluster kube context prod-eu reaches, so nothing is declared/,
    );
  });

  it("carries the cluster's UID to the gate and the verification, in their environment and their triggers", async () => {
    const { resources } = await runStack({ ...config, "mtls-rollout:preflight": "true" });
    for (const name of ["preflight", "verify"]) {
      const c = ofType(resources, "command:local:Command").find((r) => r.name === name)!;
      expect(c.inputs.environment.MTLS_ROLLOUT_CLUSTER_UID, name).toBe(CLUSTER_UID);
      expect(c.inputs.triggers, name).toContain(CLUSTER_UID);
    }
  });

  it("protects the policies past the first stage, so that pulumi destroy stops before it changes a mode; hands them over when asked", async () => {
    const policies = (r: Awaited<ReturnType<typeof runStack>>["resources"]) => ofType(r, PA_TYPE);
    const first = await runStack({ ...config, "mtls-rollout:stage": "current" });
    expect(policies(first.resources).every((p) => !p.protect)).toBe(true);
    // In force: protected; dormant (a later stage's, inert): free to go, so that a later stage's policy may be dropped.
    const inForce = (r: Awaited<ReturnType<typeof runStack>>["resources"]) =>
      policies(r).filter((p) => p.inputs.metadata.annotations["mtls-rollout.io/in-force"] !== "false");
    const dormant = (r: Awaited<ReturnType<typeof runStack>>["resources"]) =>
      policies(r).filter((p) => p.inputs.metadata.annotations["mtls-rollout.io/in-force"] === "false");
    const later = await runStack(config);
    expect(inForce(later.resources).length).toBeGreaterThan(1);
    expect(dormant(later.resources).length).toBeGreaterThan(0);
    expect(inForce(later.resources).every((p) => p.protect)).toBe(true);
    expect(dormant(later.resources).every((p) => !p.protect)).toBe(true);
    // Handed over: what is in force stays; dormant policies go (inert, but an old selector-less one would hold its place).
    const handover = await runStack({ ...config, "mtls-rollout:handover": "true" });
    expect(inForce(handover.resources).every((p) => !p.protect && p.retainOnDelete === true)).toBe(true);
    expect(dormant(handover.resources).every((p) => p.retainOnDelete !== true)).toBe(true);
  });

  it("writes every policy with server-side apply's force, so that an update puts back a field a kubectl edit took", async () => {
    for (const p of ofType((await runStack(config)).resources, PA_TYPE))
      expect(p.inputs.metadata.annotations["pulumi.com/patchForce"], p.name).toBe("true");
  });

  it("verifies again when a policy on the cluster changed (its resourceVersion, read by refresh), not otherwise", async () => {
    const triggerWith = async (versions: Record<string, string>) => {
      const { resources } = await runStack(config, [], { resourceVersionOf: (name) => versions[name] });
      return ofType(resources, "command:local:Command").find((r) => r.name === "verify")!.inputs.triggers[4];
    };
    const before = await triggerWith({ "shop/default": "4711", "istio-system/default": "815" });
    expect(await triggerWith({ "shop/default": "4711", "istio-system/default": "815" })).toBe(before);
    // Someone ran kubectl edit on shop/default; the update put it back: a new resourceVersion.
    expect(await triggerWith({ "shop/default": "4790", "istio-system/default": "815" })).not.toBe(before);
  });

  it("declares the one plain provider for a rollout that adopts nothing too", async () => {
    const { resources } = await runStack({ "mtls-rollout:stage": "permissive" });
    expect(ofType(resources, "pulumi:providers:kubernetes").map((p) => p.name)).toEqual(["kubernetes"]);
  });

  it("gives the policy pack the workloads it cannot see as Deployments", async () => {
    const { resources } = await runStack(config);
    const stage = ofType(resources, "mtls-rollout:index:StagePolicies")[0];
    expect(stage.inputs.existingWorkloads.map((w: { ref: string }) => w.ref)).toEqual([
      "shop/frontend",
      "shop/cart",
      "shop/redis",
      "payments/checkout",
      "payments/ledger",
    ]);
  });

  it("refuses existing: true on a policy of a later stage, which would neutralise a live policy while dormant", () => {
    const data = {
      namespaces: [{ name: "shop" }],
      stages: [{ name: "a" }, { name: "b", peerAuthentications: [{ name: "x", namespace: "shop", existing: true }] }],
    };
    expect(problemsOf(data)).toEqual([
      "stages[1].peerAuthentications[0].existing: is only for a policy of the first stage, which describes the cluster as it is before the rollout",
    ]);
  });
});

describe("verification of workloads of every kind", () => {
  it("probes and reads sidecars through the workload's own controller: statefulset/NAME for a StatefulSet", async () => {
    const rollout = loadRollout(OWN_MESH);
    const plan = buildPlan(rollout, "shop-strict");
    const state = clusterState(rollout, plan);
    const calls: string[][] = [];
    const result = await verifyOnFakeClock(
      plan,
      rollout,
      fakeRunner(state, (args) => calls.push(args)),
      fakeVerifyOptions(),
    );
    expect(result.outcome).toBe("pass");
    expect(calls.filter((a) => a[3] === "statefulset/redis").length).toBeGreaterThan(0);
    expect(calls.some((a) => a[3] === "deployment/redis")).toBe(false);
    // One probe per target port and client class: the two probes with a sidecar stand for each other.
    expect(result.edges.length).toBe(10);
    expect(result.matrixEdges).toBe(15);
    expect(calls.filter((a) => a[3].startsWith("deployment/mtls-probe")).length).toBe(10);
  });
});

describe("adoption, on a mesh that runs already", () => {
  it("runs status at the first stage before any policy is written, once per set of policies adopted as found", async () => {
    const { resources } = await runStack(config);
    const gate = ofType(resources, "command:local:Command").find((r) => r.name === "adoption-status")!;
    expect(gate.inputs.create).toBe(ADOPTION_COMMAND);
    expect(gate.inputs.environment).toMatchObject({
      MTLS_ROLLOUT_STAGE: "current",
      MTLS_ROLLOUT_CONTEXT: "prod-eu",
      MTLS_ROLLOUT_CLUSTER_UID: CLUSTER_UID,
    });
    for (const p of ofType(resources, PA_TYPE)) expect(p.dependencies, p.name).toContain(gate.urn);
    // The same trigger at every stage: it does not run again as the rollout moves on.
    const later = await runStack({ ...config, "mtls-rollout:stage": "checkout-strict" });
    expect(ofType(later.resources, "command:local:Command").find((r) => r.name === "adoption-status")!.inputs.triggers).toEqual(
      gate.inputs.triggers,
    );
  });

  it("refuses to adopt a policy another tool manages, without takeOver, before any resource", async () => {
    const text = fs
      .readFileSync(OWN_MESH, "utf8")
      .replace(
        /(- \{ name: default, namespace: istio-system, mode: PERMISSIVE, existing: true)( \})/,
        "$1, managedBy: Helm (release istiod in istio-system)$2",
      );
    expect(text).toContain("managedBy: Helm");
    const owned = tempFile("owned.yaml", text);
    await expect(runStack({ ...config, "mtls-rollout:rollout": owned })).rejects.toThrow(
      /mtls-rollout:rollout istio-system\/default: istio-system\/default is managed by Helm \(release istiod in istio-system\): adopting it would fight that owner/,
    );
    const taken = tempFile(
      "taken.yaml",
      text.replace(
        "managedBy: Helm (release istiod in istio-system)",
        'managedBy: Helm (release istiod in istio-system), takeOver: "the chart no longer renders it"',
      ),
    );
    await expect(runStack({ ...config, "mtls-rollout:rollout": taken })).resolves.toBeDefined();
  });
});

describe("adopting a policy as the cluster has it now (read before anything is declared)", () => {
  const meshDefault = (mode: string, annotations?: Record<string, string>) => (pas: PolicyObject[]) =>
    pas.map((p) =>
      p.metadata.namespace === "istio-system" && p.metadata.name === "default"
        ? policyObject("istio-system", "default", { mtls: { mode } }, annotations)
        : p,
    );

  it("refuses a policy changed on the cluster since the first stage found it, naming the difference, before any resource", async () => {
    const dir = clusterWithPolicies(meshDefault("STRICT"));
    await expect(runStack(config, [], { dir })).rejects.toThrow(
      /^istio-system\/default: changed on the cluster since stage current recorded it \(mode STRICT \(as found: PERMISSIVE\)\): adopting it would write this stage's spec over one nobody reviewed it against; put it back, or declare it in stage current as it is now \(mtls-rollout status --rollout .*own-mesh\.yaml --context prod-eu shows every difference\)$/,
    );
  });

  it("refuses a policy that is gone: there is nothing to import", async () => {
    const dir = clusterWithPolicies((pas) => pas.filter((p) => p.metadata.namespace !== "istio-system"));
    await expect(runStack(config, [], { dir })).rejects.toThrow(
      /^istio-system\/default: stage current marks it existing: true \(adopted\), but it is not on the cluster, so there is nothing to import/,
    );
  });

  /** The info lines the program says about istio-system/default while `run` runs. */
  const saidOfMeshDefault = async (run: () => Promise<unknown>) => {
    const said = vi.spyOn(pulumi.log, "info");
    try {
      await run();
      return said.mock.calls.map((c) => String(c[0])).filter((m) => m.startsWith("istio-system/default"));
    } finally {
      said.mockRestore();
    }
  };
  /** The annotations this stack (organization/mtls-rollout/dev under the mocks) writes on the adopted policy. */
  const ours = {
    "mtls-rollout.io/defined-in-stage": "current",
    "mtls-rollout.io/adopted": "true",
    "mtls-rollout.io/stack": "organization/mtls-rollout/dev",
  };

  it("names the stack in every policy it writes", async () => {
    for (const p of ofType((await runStack(config)).resources, PA_TYPE))
      expect(p.inputs.metadata.annotations["mtls-rollout.io/stack"], p.name).toBe("organization/mtls-rollout/dev");
  });

  it("takes a policy this stack wrote as it left it (a later stage changed it), still imported in case the state lost it, and says what the up changes", async () => {
    const dir = clusterWithPolicies(meshDefault("STRICT", ours));
    const said = await saidOfMeshDefault(async () => {
      const { resources } = await runStack(config, [], { dir });
      expect(named(resources, PA_TYPE, "istio-system/default").importId).toBe("istio-system/default");
    });
    expect(said).toEqual(["istio-system/default: this up changes it on the cluster: mode STRICT (stage shop-strict: PERMISSIVE)"]);
    // A version of mtls-rollout that did not name the stack: its writer cannot be told, so it is taken as this stack's.
    const { "mtls-rollout.io/stack": _, ...unnamed } = ours;
    await expect(runStack(config, [], { dir: clusterWithPolicies(meshDefault("STRICT", unnamed)) })).resolves.toBeDefined();
  });

  it("refuses a policy another mtls-rollout stack wrote (or left behind), unless the file takes it over, and then only as found", async () => {
    const other = { ...ours, "mtls-rollout.io/stack": "organization/mtls-rollout/prod" };
    await expect(runStack(config, [], { dir: clusterWithPolicies(meshDefault("PERMISSIVE", other)) })).rejects.toThrow(
      /^istio-system\/default: written by the mtls-rollout stack organization\/mtls-rollout\/prod: adopting it here would have two stacks put back their own specs in turn; destroy or hand over that stack first, then say takeOver: "<reason>" on it in stage current \(if that is this stack under a former name, after pulumi stack rename or a move, set mtls-rollout:formerStacks to organization\/mtls-rollout\/prod\)$/,
    );
    const taken = tempFile(
      "taken.yaml",
      fs
        .readFileSync(OWN_MESH, "utf8")
        .replace(
          /(- \{ name: default, namespace: istio-system, mode: PERMISSIVE, existing: true)( \})/,
          '$1, takeOver: "stack prod was handed over and destroyed"$2',
        ),
    );
    const takenConfig = { ...config, "mtls-rollout:rollout": taken };
    expect(
      await saidOfMeshDefault(() => runStack(takenConfig, [], { dir: clusterWithPolicies(meshDefault("PERMISSIVE", other)) })),
    ).toEqual(["istio-system/default: adopted (= import) as it is on the cluster"]);
    await expect(runStack(takenConfig, [], { dir: clusterWithPolicies(meshDefault("STRICT", other)) })).rejects.toThrow(
      /^istio-system\/default: changed on the cluster since stage current recorded it \(mode STRICT \(as found: PERMISSIVE\)\)/,
    );
  });

  it("takes its own policies under a former name (pulumi stack rename, a move) as its own when told that name", async () => {
    const renamed = clusterWithPolicies(meshDefault("STRICT", { ...ours, "mtls-rollout.io/stack": "organization/mtls-rollout/prod" }));
    await expect(runStack(config, [], { dir: renamed })).rejects.toThrow(
      /written by the mtls-rollout stack organization\/mtls-rollout\/prod/,
    );
    expect(
      await saidOfMeshDefault(() =>
        runStack({ ...config, "mtls-rollout:formerStacks": "other/x/y,organization/mtls-rollout/prod" }, [], { dir: renamed }),
      ),
    ).toEqual(["istio-system/default: this up changes it on the cluster: mode STRICT (stage shop-strict: PERMISSIVE)"]);
    await expect(runStack({ ...config, "mtls-rollout:formerStacks": "prod" })).rejects.toThrow(
      /mtls-rollout:formerStacks: must be organization\/project\/stack names, comma-separated/,
    );
  });

  it("says what the import then changes on the cluster, in the words status uses", async () => {
    const meshStrict = tempFile(
      "mesh-strict.yaml",
      fs.readFileSync(OWN_MESH, "utf8") +
        ["  - name: mesh-strict", "    peerAuthentications:", "      - { name: default, namespace: istio-system, mode: STRICT }", ""].join(
          "\n",
        ),
    );
    expect(
      await saidOfMeshDefault(async () => {
        await runStack({ ...config, "mtls-rollout:rollout": meshStrict, "mtls-rollout:stage": "mesh-strict" });
        await runStack(config);
      }),
    ).toEqual([
      "istio-system/default: adopted (= import), then this up changes it on the cluster: mode PERMISSIVE (stage mesh-strict: STRICT)",
      "istio-system/default: adopted (= import) as it is on the cluster",
    ]);
  });

  it("stops when the policies cannot be read: a preview that cannot tell what it adopts declares nothing", async () => {
    const saved = process.env.FAKE_KUBECTL_FORBID;
    process.env.FAKE_KUBECTL_FORBID = "peerauthentications";
    try {
      await expect(runStack(config)).rejects.toThrow(
        /^the adopted policies cannot be read from the cluster, so none is declared: .*peerauthentications is forbidden/,
      );
    } finally {
      if (saved === undefined) delete process.env.FAKE_KUBECTL_FORBID;
      else process.env.FAKE_KUBECTL_FORBID = saved;
    }
  });
});

describe("Istio's Kiali addon", () => {
  it("is refused on a mesh the stack does not own: anonymous, and its ClusterRole writes every Istio resource", async () => {
    await expect(
      runStack({
        "mtls-rollout:stage": "current",
        "mtls-rollout:rollout": OWN_MESH,
        "mtls-rollout:kubeContext": "prod-eu",
        "mtls-rollout:clusterUid": CLUSTER_UID,
        "mtls-rollout:installIstio": "true",
        "mtls-rollout:installPrometheus": "true",
        "mtls-rollout:installKiali": "true",
      }),
    ).rejects.toThrow(
      /mtls-rollout:installKiali: installs Istio's Kiali addon, which anyone who reaches it may use to change every Istio resource/,
    );
  });
});
