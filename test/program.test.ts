import * as pulumi from "@pulumi/pulumi";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import * as YAML from "yaml";
import { PREFLIGHT_COMMAND, targetsHash } from "../src/components/preflight";
import { expectationsHash, VERIFY_COMMAND, VERIFY_KEEP_COMMAND } from "../src/components/verification";
import { tightenedTargets } from "../src/model/preflight";
import { buildPlan } from "../src/model/plan";
import { defineRolloutStack, stageDigest } from "../src/program";
import { generatedMesh } from "./support/labCluster";
import { loadRollout } from "../src/rollout/load";
import { crdValidator } from "./support/crdValidator";
import { kubernetesSchemaErrors } from "./support/kubernetesSchema";
import { tempFile } from "./support/files";
import { cli } from "./support/inProcessCli";
import { installRecordingMocks, settleRegistrations } from "./support/pulumiMocks";
import { named, ofType, runStack } from "./support/stack";

const validateAgainstCrd = crdValidator(path.join(__dirname, "fixtures", "peerauthentication-crd.yaml"), "v1");
const PA_TYPE = "kubernetes:security.istio.io/v1:PeerAuthentication";
const LAB_STAGES = ["permissive", "purchase-history-strict", "istioinaction-strict", "mesh-strict"];

describe("the Pulumi program under mocks", () => {
  it("declares the istioinaction namespace with injection and leaves the existing default namespace alone", async () => {
    const { resources } = await runStack({ "mtls-rollout:stage": "permissive" });
    const namespaces = ofType(resources, "kubernetes:core/v1:Namespace");
    expect(namespaces.map((n) => n.name)).toEqual(["istioinaction"]);
    expect(namespaces[0].inputs.metadata).toEqual({ name: "istioinaction", labels: { "istio-injection": "enabled" } });
  });

  it("declares a ServiceAccount, Deployment and Service per workload with pinned images and explicit sidecar labels", async () => {
    const { resources } = await runStack({ "mtls-rollout:stage": "permissive" });
    expect(
      ofType(resources, "kubernetes:apps/v1:Deployment")
        .map((d) => d.name)
        .sort(),
    ).toEqual([
      "default/httpbin",
      "default/sleep",
      "istioinaction/purchase-history-v1",
      "istioinaction/recommendation",
      "istioinaction/sleep",
      "istioinaction/web-api",
    ]);
    const purchase = named(resources, "kubernetes:apps/v1:Deployment", "istioinaction/purchase-history-v1").inputs;
    expect(purchase.metadata).toEqual({
      name: "purchase-history-v1",
      namespace: "istioinaction",
      labels: { app: "purchase-history", version: "v1" },
    });
    expect(purchase.spec.selector.matchLabels).toEqual({ app: "purchase-history", version: "v1" });
    expect(purchase.spec.template.metadata.labels).toEqual({ app: "purchase-history", version: "v1", "sidecar.istio.io/inject": "true" });
    const container = purchase.spec.template.spec.containers[0];
    expect(container).toMatchObject({
      name: "purchase-history",
      image: "docker.io/nicholasjackson/fake-service:v0.7.8",
      ports: [{ containerPort: 8080 }],
    });
    expect(purchase.spec.template.spec.serviceAccountName).toBe("purchase-history");
    expect(named(resources, "kubernetes:core/v1:ServiceAccount", "istioinaction/purchase-history").inputs.metadata).toEqual({
      name: "purchase-history",
      namespace: "istioinaction",
    });
    for (const d of ofType(resources, "kubernetes:apps/v1:Deployment")) {
      expect(d.inputs.spec.template.spec.containers[0].image, d.name).toMatch(/:[\w.-]+$/);
    }

    const httpbinPod = named(resources, "kubernetes:apps/v1:Deployment", "default/httpbin").inputs.spec.template;
    expect(httpbinPod.metadata.labels["sidecar.istio.io/inject"]).toBe("true");
    const outsideSleep = named(resources, "kubernetes:apps/v1:Deployment", "default/sleep").inputs.spec.template;
    expect(outsideSleep.metadata.labels["sidecar.istio.io/inject"]).toBe("false");
    expect(outsideSleep.spec.containers[0].command).toEqual(["/bin/sleep", "infinity"]);
    // Sidecars keep the counters the pre-flight gate reads; a pod without a sidecar has no proxy to configure.
    // Sidecars keep their clusters' connection counters too: a probe's tell whether it reached a server without one.
    expect(httpbinPod.metadata.annotations["proxy.istio.io/config"]).toBe(
      'proxyStatsMatcher:\n  inclusionPrefixes:\n  - "tls_inspector"\n  - "listener.0.0.0.0_15006"\n  inclusionSuffixes:\n  - "upstream_cx_total"\n  - "upstream_cx_connect_fail"',
    );
    expect(outsideSleep.metadata.annotations).toBeUndefined();

    const httpbinService = named(resources, "kubernetes:core/v1:Service", "default/httpbin").inputs;
    expect(httpbinService.metadata).toMatchObject({ name: "httpbin", namespace: "default" });
    expect(httpbinService.spec).toEqual({
      selector: { app: "httpbin", version: "v1" },
      ports: [{ name: "http", port: 8000, targetPort: 8080, protocol: "TCP" }],
    });
    expect(named(resources, "kubernetes:core/v1:Service", "istioinaction/purchase-history").inputs.metadata.name).toBe("purchase-history");
    expect(ofType(resources, "kubernetes:core/v1:Service").map((s) => s.name)).not.toContain("istioinaction/sleep");
  });

  // A later stage's policy is declared dormant: UNSET, selecting nothing, so a stage change is an update.
  const dormantWide = { mtls: { mode: "UNSET" } };
  const dormantSelector = { selector: { matchLabels: { "mtls-rollout.io/dormant": "true" } }, mtls: { mode: "UNSET" } };
  const expectedPolicies: Record<string, { name: string; spec: unknown }[]> = {
    permissive: [
      { name: "istio-system/default", spec: { mtls: { mode: "PERMISSIVE" } } },
      { name: "istioinaction/purchase-history-strict", spec: dormantSelector },
      { name: "istioinaction/default", spec: dormantWide },
    ],
    "purchase-history-strict": [
      { name: "istio-system/default", spec: { mtls: { mode: "PERMISSIVE" } } },
      {
        name: "istioinaction/purchase-history-strict",
        spec: { selector: { matchLabels: { app: "purchase-history" } }, mtls: { mode: "STRICT" } },
      },
      { name: "istioinaction/default", spec: dormantWide },
    ],
    "istioinaction-strict": [
      { name: "istio-system/default", spec: { mtls: { mode: "PERMISSIVE" } } },
      {
        name: "istioinaction/purchase-history-strict",
        spec: { selector: { matchLabels: { app: "purchase-history" } }, mtls: { mode: "STRICT" } },
      },
      { name: "istioinaction/default", spec: { mtls: { mode: "STRICT" } } },
    ],
    "mesh-strict": [
      { name: "istio-system/default", spec: { mtls: { mode: "STRICT" } } },
      {
        name: "istioinaction/purchase-history-strict",
        spec: { selector: { matchLabels: { app: "purchase-history" } }, mtls: { mode: "STRICT" } },
      },
      { name: "istioinaction/default", spec: { mtls: { mode: "STRICT" } } },
    ],
  };

  for (const stage of LAB_STAGES) {
    it(`declares the PeerAuthentications of stage ${stage}, and later stages' dormant, as security.istio.io/v1 resources valid against Istio's CRD`, async () => {
      const { resources, stack } = await runStack({ "mtls-rollout:stage": stage });
      const policies = ofType(resources, PA_TYPE);
      const byName = (a: { name: string }, b: { name: string }) => a.name.localeCompare(b.name);
      expect(policies.map((p) => ({ name: p.name, spec: p.inputs.spec })).sort(byName)).toEqual([...expectedPolicies[stage]].sort(byName));
      for (const p of policies) {
        expect(validateAgainstCrd(p.inputs), p.name).toEqual([]);
        const [namespace, name] = p.name.split("/");
        expect(p.inputs).toMatchObject({ apiVersion: "security.istio.io/v1", kind: "PeerAuthentication", metadata: { name, namespace } });
        expect(p.custom).toBe(true);
        expect(p.parent).toContain("mtls-rollout:index:StagePolicies");
      }
      expect(stack.outputs.stage).toBe(stage);
      // Every workload, namespace and service is declared at every stage: a stage only changes policies.
      expect(ofType(resources, "kubernetes:apps/v1:Deployment")).toHaveLength(6);
    });
  }

  it("makes each PeerAuthentication wait for the workloads whose mode it sets", async () => {
    const { resources } = await runStack({ "mtls-rollout:stage": "istioinaction-strict" });
    const deploymentUrn = (name: string) => named(resources, "kubernetes:apps/v1:Deployment", name).urn;
    const dependsOn = (name: string) => named(resources, PA_TYPE, name).dependencies;

    expect(dependsOn("istioinaction/purchase-history-strict")).toContain(deploymentUrn("istioinaction/purchase-history-v1"));
    expect(dependsOn("istioinaction/purchase-history-strict")).not.toContain(deploymentUrn("istioinaction/web-api"));
    for (const w of ["web-api", "recommendation", "purchase-history-v1", "sleep"]) {
      expect(dependsOn("istioinaction/default")).toContain(deploymentUrn(`istioinaction/${w}`));
    }
    expect(dependsOn("istioinaction/default")).not.toContain(deploymentUrn("default/httpbin"));
    for (const d of ofType(resources, "kubernetes:apps/v1:Deployment")) {
      expect(dependsOn("istio-system/default")).toContain(d.urn);
    }
    // The namespace comes first because the policy's metadata.namespace is the Namespace's output.
    const namespaceUrn = named(resources, "kubernetes:core/v1:Namespace", "istioinaction").urn;
    expect(named(resources, PA_TYPE, "istioinaction/default").propertyDependencies.metadata).toContain(namespaceUrn);
    expect(named(resources, "kubernetes:apps/v1:Deployment", "istioinaction/web-api").propertyDependencies.metadata).toContain(
      namespaceUrn,
    );
    expect(named(resources, "kubernetes:apps/v1:Deployment", "istioinaction/web-api").dependencies).toContain(
      named(resources, "kubernetes:core/v1:ServiceAccount", "istioinaction/web-api").urn,
    );
  });

  it("passes one explicit Kubernetes provider, built from mtls-rollout:kubeContext, to every Kubernetes resource", async () => {
    const { resources } = await runStack({ "mtls-rollout:stage": "permissive", "mtls-rollout:kubeContext": "kind-mtls-lab" });
    const providers = ofType(resources, "pulumi:providers:kubernetes");
    expect(providers).toHaveLength(1);
    expect(providers[0].inputs.context).toBe("kind-mtls-lab");
    const kubernetesResources = resources.filter((r) => r.custom && r.type.startsWith("kubernetes:"));
    expect(kubernetesResources.length).toBeGreaterThan(10);
    for (const r of kubernetesResources) expect(r.provider, `${r.type} ${r.name}`).toContain(providers[0].urn);
  });

  it("exports the stage and a digest of it as stack outputs, never the whole plan", async () => {
    const { stack } = await runStack({ "mtls-rollout:stage": "purchase-history-strict" });
    const plan = buildPlan(loadRollout(), "purchase-history-strict");
    expect(stack.outputs.digest).toEqual({
      ports: { STRICT: 1, PERMISSIVE: 3, DISABLE: 0 },
      workloadsOutsideTheMesh: 1,
      expectations: {
        mtls: plan.expectations.filter((e) => e.expect === "mtls").length,
        plaintext: plan.expectations.filter((e) => e.expect === "plaintext").length,
        refused: plan.expectations.filter((e) => e.expect === "refused").length,
      },
      calls: { mtls: 2, plaintext: 0, refused: 0 },
      expectationsHash: expectationsHash(plan, loadRollout()),
    });
    expect(Object.keys(stack.outputs)).not.toContain("expectations");
  });

  it("keeps the digest small at 10,000 workloads: under 1 KB of JSON, where the plan is megabytes", () => {
    const mesh = generatedMesh(1000, 10);
    const plan = buildPlan(mesh, "s");
    expect(JSON.stringify(stageDigest(plan, mesh)).length).toBeLessThan(1024);
    expect(JSON.stringify(plan.workloads).length).toBeGreaterThan(1_000_000);
  });

  it("reads a user's rollout file named by mtls-rollout:rollout, relative to the project directory", async () => {
    const file = tempFile("mine.yaml", [
      "namespaces: [ { name: shop, injection: true } ]",
      "workloads:",
      "  - { name: cart, namespace: shop, image: example.com/cart:1.0, service: { ports: [ { port: 80, targetPort: 8080 } ] } }",
      "stages:",
      "  - name: cart-port-strict",
      "    peerAuthentications:",
      "      - { name: cart, namespace: shop, selector: { app: cart }, portLevelMtls: { 8080: STRICT } }",
    ]);
    const { resources } = await runStack({
      "mtls-rollout:stage": "cart-port-strict",
      "mtls-rollout:rollout": path.relative(process.cwd(), file),
    });
    expect(named(resources, PA_TYPE, "shop/cart").inputs.spec).toEqual({
      selector: { matchLabels: { app: "cart" } },
      mtls: { mode: "UNSET" },
      portLevelMtls: { "8080": { mode: "STRICT" } },
    });
    expect(ofType(resources, "kubernetes:core/v1:Namespace").map((n) => n.name)).toEqual(["shop"]);
  });

  it("declares one verification Command per stage that runs the verifier after every resource of the stage", async () => {
    for (const stage of LAB_STAGES) {
      const { resources } = await runStack({ "mtls-rollout:stage": stage, "mtls-rollout:kubeContext": "kind-mtls-lab" });
      const commands = ofType(resources, "command:local:Command").filter((c) => c.name === "verify");
      expect(commands).toHaveLength(1);
      const [verify] = commands;
      expect(verify.inputs.create).toBe(VERIFY_COMMAND);
      // A new deadline alone reruns nothing: the update prints the last run's output again, summary included.
      expect(verify.inputs.update).toBe(VERIFY_KEEP_COMMAND);
      const versions = verify.inputs.triggers[4];
      expect(verify.inputs.triggers).toEqual([
        stage,
        expectationsHash(buildPlan(loadRollout(), stage), loadRollout()),
        "kind-mtls-lab",
        "",
        versions,
      ]);
      // The policies' resourceVersions as the cluster holds them, hashed: the mocks give none.
      expect(versions).toMatch(/^[0-9a-f]{16}$/);
      // Paths relative to the project: the same inputs on every machine and checkout.
      expect(verify.inputs.environment).toEqual({
        MTLS_ROLLOUT_CLI: "bin/mtls-rollout.js",
        MTLS_ROLLOUT_END_WITH_PARENT: "1",
        MTLS_ROLLOUT_STAGE: stage,
        MTLS_ROLLOUT_FILE: "stages/lab.yaml",
        MTLS_ROLLOUT_VERIFY_TIMEOUT: "180",
        MTLS_ROLLOUT_VERIFY_SETTLE: "5",
        MTLS_ROLLOUT_CONTEXT: "kind-mtls-lab",
        MTLS_ROLLOUT_CLUSTER_UID: "",
        MTLS_ROLLOUT_RECORD_VERIFIED: "1",
      });
      expect(verify.inputs.logging).toBe("stdoutAndStderr");
      // The Command outlives the verifier's own deadline by a minute, so the verifier reports first.
      expect(verify.customTimeouts).toMatchObject({ create: "240s", update: "240s" });
      for (const r of [...ofType(resources, PA_TYPE), ...ofType(resources, "kubernetes:apps/v1:Deployment")]) {
        expect(verify.dependencies, `${stage}: ${r.name}`).toContain(r.urn);
      }
    }
  });

  it("gives the verification the stack's deadline and settle time, neither of which reruns it", async () => {
    const defaults = await runStack({ "mtls-rollout:stage": "mesh-strict" });
    const tuned = await runStack({
      "mtls-rollout:stage": "mesh-strict",
      "mtls-rollout:verifyTimeout": "900",
      "mtls-rollout:verifySettle": "30",
    });
    const verifyOf = (r: typeof defaults.resources) => named(r, "command:local:Command", "verify");
    expect(verifyOf(tuned.resources).inputs.environment).toMatchObject({
      MTLS_ROLLOUT_VERIFY_TIMEOUT: "900",
      MTLS_ROLLOUT_VERIFY_SETTLE: "30",
    });
    expect(verifyOf(tuned.resources).customTimeouts).toMatchObject({ create: "960s", update: "960s" });
    expect(verifyOf(tuned.resources).inputs.triggers).toEqual(verifyOf(defaults.resources).inputs.triggers);
  });

  it("keeps names out of the verification's shell string: it only expands quoted environment variables", () => {
    expect(VERIFY_COMMAND).not.toMatch(/istio|sleep|permissive/);
    const expansions = VERIFY_COMMAND.match(/\$\{?[A-Z_]+/g)!.map((e) => e.replace(/[${]/g, ""));
    expect(new Set(expansions)).toEqual(
      new Set([
        "MTLS_ROLLOUT_CLI",
        "MTLS_ROLLOUT_STAGE",
        "MTLS_ROLLOUT_FILE",
        "MTLS_ROLLOUT_VERIFY_TIMEOUT",
        "MTLS_ROLLOUT_VERIFY_SETTLE",
        "MTLS_ROLLOUT_CONTEXT",
      ]),
    );
    // Only quoted variables, and the exit status the shell ends with (so that it stays in place of node).
    expect(VERIFY_COMMAND.endsWith("; exit $?")).toBe(true);
    expect(
      VERIFY_COMMAND.replace(/\$\{MTLS_ROLLOUT_CONTEXT:\+--context "\$MTLS_ROLLOUT_CONTEXT"\}/, "")
        .replace(/"\$[A-Z_]+"/g, "")
        .replace(/; exit \$\?$/, ""),
    ).not.toContain("$");
  });

  it("changes the verification's trigger when what it checks changes, and not for prose", () => {
    const lab = loadRollout();
    const hash = (rollout = lab, stage = "permissive") => expectationsHash(buildPlan(rollout, stage), rollout);
    const hashes = LAB_STAGES.map((stage) => hash(lab, stage));
    expect(new Set(hashes).size).toBe(LAB_STAGES.length);
    expect(hash()).toBe(hashes[0]);
    const changed = (change: (r: ReturnType<typeof loadRollout>) => void) => {
      const copy = structuredClone(lab);
      change(copy);
      return hash(copy);
    };
    expect(changed((r) => (r.stages[0].description = "reworded"))).toBe(hashes[0]);
    expect(changed((r) => (r.workloads.find((w) => w.name === "httpbin")!.services[0].ports[0].port = 8001))).not.toBe(hashes[0]);
    expect(changed((r) => (r.workloads.find((w) => w.name === "httpbin")!.probePath = "/get"))).not.toBe(hashes[0]);
    expect(changed((r) => (r.workloads.find((w) => w.name === "web-api")!.calls = []))).not.toBe(hashes[0]);
  });

  it("declares a pre-flight gate for every stage with STRICT ports, and the stage's policies wait for it", async () => {
    const lab = loadRollout();
    for (const stage of LAB_STAGES) {
      const { resources } = await runStack({
        "mtls-rollout:stage": stage,
        "mtls-rollout:prometheusUrl": "http://prometheus.istio-system:9090",
      });
      const gates = ofType(resources, "command:local:Command").filter((c) => c.name === "preflight");
      const policies = ofType(resources, PA_TYPE);
      if (stage === "permissive") {
        expect(gates).toEqual([]);
        continue;
      }
      const hash = targetsHash(tightenedTargets(lab, stage, null));
      expect(gates).toHaveLength(1);
      const [gate] = gates;
      expect(gate.inputs.create).toBe(PREFLIGHT_COMMAND);
      // A changed window or URL must not rerun the gate of an applied stage: only the triggers do.
      expect(gate.inputs.update).toBe("true");
      expect(gate.inputs.triggers).toEqual([stage, hash, "", ""]);
      expect(gate.inputs.environment).toMatchObject({
        MTLS_ROLLOUT_STAGE: stage,
        // Compared with the cluster's live policies when it runs: right after a skipped stage or a rollback too.
        MTLS_ROLLOUT_PREVIOUS: "live",
        MTLS_ROLLOUT_PROMETHEUS_URL: "http://prometheus.istio-system:9090",
      });
      // The gate watches workloads that exist; the policies change only after it passed.
      for (const d of ofType(resources, "kubernetes:apps/v1:Deployment")) expect(gate.dependencies).toContain(d.urn);
      // An ordering, not an input: a policy this stage does not change shows no diff.
      for (const pa of policies) {
        expect(pa.dependencies, pa.name).toContain(gate.urn);
        expect(pa.propertyDependencies.metadata ?? [], pa.name).not.toContain(gate.urn);
      }
    }
  });

  it("declares no pre-flight gate when mtls-rollout:preflight is false", async () => {
    const { resources } = await runStack({ "mtls-rollout:stage": "mesh-strict", "mtls-rollout:preflight": "false" });
    expect(ofType(resources, "command:local:Command").filter((c) => c.name === "preflight")).toEqual([]);
    expect(ofType(resources, "mtls-rollout:index:PreflightGate")).toEqual([]);
  });

  it("installs Istio from its pinned Helm charts when installIstio is true, in an order that holds on a fresh cluster", async () => {
    const { resources } = await runStack({
      "mtls-rollout:stage": "istioinaction-strict",
      "mtls-rollout:installIstio": "true",
      "mtls-rollout:installPrometheus": "true",
    });
    const releases = ofType(resources, "kubernetes:helm.sh/v3:Release");
    expect(releases.map((r) => r.name).sort()).toEqual(["istio-base", "istiod"]);
    const base = named(resources, "kubernetes:helm.sh/v3:Release", "istio-base");
    const istiod = named(resources, "kubernetes:helm.sh/v3:Release", "istiod");
    expect(base.inputs).toMatchObject({
      chart: "base",
      version: "1.29.6",
      namespace: "istio-system",
      createNamespace: true,
      repositoryOpts: { repo: "https://istio-release.storage.googleapis.com/charts" },
    });
    expect(istiod.inputs).toMatchObject({
      chart: "istiod",
      version: "1.29.6",
      namespace: "istio-system",
      values: { meshConfig: { enableAutoMtls: true, accessLogFile: "/dev/stdout" } },
    });
    expect(istiod.dependencies).toContain(base.urn);
    // The CRDs (base) before any PeerAuthentication; istiod's webhook before any pod that needs a sidecar.
    for (const pa of ofType(resources, PA_TYPE)) expect(pa.dependencies, pa.name).toEqual(expect.arrayContaining([base.urn, istiod.urn]));
    for (const d of ofType(resources, "kubernetes:apps/v1:Deployment")) {
      if (d.name === "default/sleep") expect(d.dependencies, d.name).not.toContain(istiod.urn);
      else expect(d.dependencies, d.name).toContain(istiod.urn);
    }
    const prometheus = named(resources, "kubernetes:yaml/v2:ConfigFile", "prometheus");
    expect(prometheus.inputs.file).toBe("https://raw.githubusercontent.com/istio/istio/1.29.6/samples/addons/prometheus.yaml");
    expect(prometheus.dependencies).toContain(istiod.urn);
    expect(ofType(resources, "kubernetes:yaml/v2:ConfigFile").map((r) => r.name)).toEqual(["prometheus"]);
  });

  it("installs Istio's Kiali addon of the same release after its Prometheus when installKiali is true", async () => {
    const { resources } = await runStack({
      "mtls-rollout:stage": "istioinaction-strict",
      "mtls-rollout:installIstio": "true",
      "mtls-rollout:installPrometheus": "true",
      "mtls-rollout:installKiali": "true",
    });
    const prometheus = named(resources, "kubernetes:yaml/v2:ConfigFile", "prometheus");
    const kiali = named(resources, "kubernetes:yaml/v2:ConfigFile", "kiali");
    expect(kiali.inputs.file).toBe("https://raw.githubusercontent.com/istio/istio/1.29.6/samples/addons/kiali.yaml");
    expect(kiali.dependencies).toContain(prometheus.urn);
    expect(kiali.parent).toBe(named(resources, "mtls-rollout:index:IstioControlPlane", "istio").urn);
  });

  it("declares no Istio resources at all when installIstio is false", async () => {
    const { resources } = await runStack({ "mtls-rollout:stage": "istioinaction-strict" });
    expect(
      resources.filter(
        (r) =>
          r.type.startsWith("kubernetes:helm.sh") ||
          r.type === "mtls-rollout:index:IstioControlPlane" ||
          r.type.startsWith("kubernetes:yaml"),
      ),
    ).toEqual([]);
  });

  it("pins the lab stack file to install Istio, Prometheus and Kiali", () => {
    const lab = YAML.parse(fs.readFileSync(path.join(__dirname, "..", "Pulumi.lab.yaml"), "utf8")).config;
    expect(lab).toMatchObject({
      "mtls-rollout:installIstio": "true",
      "mtls-rollout:installPrometheus": "true",
      "mtls-rollout:installKiali": "true",
      "mtls-rollout:istioVersion": "1.29.6",
    });
  });

  it("declares no verification resources when mtls-rollout:verify is false", async () => {
    const { resources, stack } = await runStack({ "mtls-rollout:stage": "mesh-strict", "mtls-rollout:verify": "false" });
    expect(ofType(resources, "command:local:Command").filter((c) => c.name === "verify")).toEqual([]);
    expect(ofType(resources, "mtls-rollout:index:StageVerification")).toEqual([]);
    expect(stack.outputs.verification).toBeUndefined();
    expect(ofType(resources, PA_TYPE)).toHaveLength(3);
  });

  it("manages one ServiceAccount per namespace and name, and never the namespace's default one", async () => {
    const file = tempFile("sa.yaml", [
      "namespaces: [ { name: shop, injection: true } ]",
      "workloads:",
      "  - { name: cart, namespace: shop, image: 'cart:1', serviceAccount: shared }",
      "  - { name: till, namespace: shop, image: 'till:1', serviceAccount: shared }",
      "  - { name: tool, namespace: shop, image: 'tool:1', serviceAccount: default }",
      "stages: [ { name: only } ]",
    ]);
    const { resources } = await runStack({ "mtls-rollout:stage": "only", "mtls-rollout:rollout": file });
    expect(ofType(resources, "kubernetes:core/v1:ServiceAccount").map((r) => r.name)).toEqual(["shop/shared"]);
    const sa = named(resources, "kubernetes:core/v1:ServiceAccount", "shop/shared").urn;
    expect(named(resources, "kubernetes:apps/v1:Deployment", "shop/cart").dependencies).toContain(sa);
    expect(named(resources, "kubernetes:apps/v1:Deployment", "shop/till").dependencies).toContain(sa);
    expect(named(resources, "kubernetes:apps/v1:Deployment", "shop/tool").inputs.spec.template.spec.serviceAccountName).toBe("default");
  });

  it("declares every Service of a workload with services:, each under its own name, valid against Kubernetes' schema", async () => {
    const file = tempFile("two-services.yaml", [
      "namespaces: [ { name: shop, injection: true } ]",
      "workloads:",
      "  - name: cart",
      "    namespace: shop",
      "    image: 'cart:1'",
      "    ports: [ { name: grpc, containerPort: 7070 } ]",
      "    services:",
      "      - { name: cart, ports: [ { name: http, port: 80, targetPort: 8080 } ] }",
      "      - { name: cart-grpc, ports: [ { name: grpc, port: 7070, targetPort: grpc, appProtocol: grpc } ] }",
      "stages: [ { name: only } ]",
    ]);
    const { resources } = await runStack({ "mtls-rollout:stage": "only", "mtls-rollout:rollout": file });
    const services = ofType(resources, "kubernetes:core/v1:Service");
    expect(services.map((r) => r.name).sort()).toEqual(["shop/cart", "shop/cart-grpc"]);
    expect(named(resources, "kubernetes:core/v1:Service", "shop/cart-grpc").inputs.spec).toEqual({
      selector: { app: "cart" },
      ports: [{ name: "grpc", port: 7070, targetPort: "grpc", protocol: "TCP", appProtocol: "grpc" }],
    });
    for (const s of services) expect(kubernetesSchemaErrors(s.inputs), s.name).toEqual([]);
    // Both under the workload's component.
    const component = named(resources, "mtls-rollout:index:Workload", "shop/cart").urn;
    expect(services.every((s) => s.parent === component)).toBe(true);
  });

  const disablingRollout = tempFile("disable.yaml", [
    "namespaces: [ { name: app, injection: true } ]",
    "workloads: [ { name: api, namespace: app, image: 'api:1' } ]",
    "stages: [ { name: off, peerAuthentications: [ { name: default, namespace: app, mode: DISABLE } ] } ]",
  ]);
  const badConfigs: [string, Record<string, string>, RegExp][] = [
    [
      "a stage that breaks a mandatory guardrail",
      { "mtls-rollout:stage": "off", "mtls-rollout:rollout": disablingRollout },
      /^mtls-rollout:stage "off": breaks no-mtls-disable: app\/default sets mode DISABLE, which switches mTLS off; /,
    ],
    ["a missing stage", {}, /^mtls-rollout:stage: is required$/],
    [
      "an unknown stage",
      { "mtls-rollout:stage": "all-strict" },
      /^mtls-rollout:stage: unknown stage "all-strict"; the rollout has permissive, /,
    ],
    [
      "a stage that is not a DNS label",
      { "mtls-rollout:stage": "Mesh Strict" },
      /^mtls-rollout:stage: must be a DNS-1123 label .* \(got "Mesh Strict"\)$/,
    ],
    [
      "verify that is not a boolean",
      { "mtls-rollout:stage": "permissive", "mtls-rollout:verify": "yes" },
      /^mtls-rollout:verify: must be true or false \(got "yes"\)$/,
    ],
    [
      "a verify timeout out of range",
      { "mtls-rollout:stage": "permissive", "mtls-rollout:verifyTimeout": "5" },
      /^mtls-rollout:verifyTimeout: must be from 10 to 3600 seconds \(got "5"\)$/,
    ],
    [
      "a settle time as long as the deadline",
      { "mtls-rollout:stage": "permissive", "mtls-rollout:verifyTimeout": "60", "mtls-rollout:verifySettle": "60" },
      /^mtls-rollout:verifySettle: must be shorter than mtls-rollout:verifyTimeout \(60\), or no round counts \(got "60"\)$/,
    ],
    [
      "a settle time out of range",
      { "mtls-rollout:stage": "permissive", "mtls-rollout:verifySettle": "601" },
      /^mtls-rollout:verifySettle: must be from 0 to 600 seconds \(got "601"\)$/,
    ],
    [
      "Kiali without the Prometheus it reads",
      { "mtls-rollout:stage": "permissive", "mtls-rollout:installIstio": "true", "mtls-rollout:installKiali": "true" },
      /^mtls-rollout:installKiali: needs mtls-rollout:installIstio and mtls-rollout:installPrometheus true$/,
    ],
    ["a misspelt key", { "mtls-rollout:stage": "permissive", "mtls-rollout:stgae": "x" }, /^mtls-rollout:stgae: unknown key$/],
    [
      "a rollout file that does not exist",
      { "mtls-rollout:stage": "permissive", "mtls-rollout:rollout": "no-such.yaml" },
      /^mtls-rollout:rollout: .*no-such\.yaml: cannot be read \(ENOENT\)$/,
    ],
  ];
  for (const [what, config, message] of badConfigs) {
    it(`stops with one message naming the key and value, and registers nothing, for ${what}`, async () => {
      const resources = await installRecordingMocks(config);
      let error: unknown;
      try {
        defineRolloutStack();
      } catch (err) {
        error = err;
      }
      expect(error).toBeInstanceOf(pulumi.RunError);
      expect((error as Error).message.split("\n")).toHaveLength(1);
      expect((error as Error).message).toMatch(message);
      await settleRegistrations();
      expect(resources).toEqual([]);
    });
  }
});

describe("the Commands' environment", () => {
  it("sets every variable its script reads, empty when the stack leaves it unset, so an exported one cannot fill it in", async () => {
    const { resources } = await runStack({ "mtls-rollout:stage": "istioinaction-strict" });
    const byName = (name: string) => ofType(resources, "command:local:Command").find((c) => c.name === name)!;
    expect(byName("verify").inputs.environment.MTLS_ROLLOUT_CONTEXT).toBe("");
    expect(byName("preflight").inputs.environment).toMatchObject({
      MTLS_ROLLOUT_CONTEXT: "",
      MTLS_ROLLOUT_PROMETHEUS_URL: "",
      MTLS_ROLLOUT_WINDOW: "",
    });
    // What the shell then does with an exported value that the Command's environment overrides with "".
    const printed = spawnSync("/bin/sh", ["-c", 'echo ${MTLS_ROLLOUT_CONTEXT:+--context "$MTLS_ROLLOUT_CONTEXT"}'], {
      env: { ...process.env, MTLS_ROLLOUT_CONTEXT: byName("verify").inputs.environment.MTLS_ROLLOUT_CONTEXT },
      encoding: "utf8",
    });
    expect(printed.stdout).toBe("\n");
  });
});

describe("a stage change, as the engine sees it", () => {
  const at = async (stage: string) =>
    (await runStack({ "mtls-rollout:stage": stage, "mtls-rollout:kubeContext": "kind-mtls-lab" })).resources;

  it("keeps every resource's URN: no component or Command is named after the stage", async () => {
    const before = await at("purchase-history-strict");
    const after = await at("istioinaction-strict");
    expect(after.map((r) => r.urn).sort()).toEqual(before.map((r) => r.urn).sort());
    // From the first stage, only the gate is new: the first stage tightens nothing.
    const first = await at("permissive");
    expect(before.filter((r) => !first.some((f) => f.urn === r.urn)).map((r) => r.name)).toEqual(["mtls-rollout", "preflight"]);
  });

  it("changes the inputs of only what the stage changes", async () => {
    const before = await at("purchase-history-strict");
    const after = await at("istioinaction-strict");
    const changed = after.filter((r) => {
      const was = before.find((b) => b.urn === r.urn)!;
      return JSON.stringify(was.inputs) !== JSON.stringify(r.inputs);
    });
    // The namespace policy comes into force; the components and Commands carry the stage.
    expect(changed.map((r) => `${r.type} ${r.name}`).sort()).toEqual([
      "command:local:Command preflight",
      "command:local:Command verify",
      `${PA_TYPE} istioinaction/default`,
      "mtls-rollout:index:PreflightGate mtls-rollout",
      "mtls-rollout:index:RolloutStage mtls-rollout",
      "mtls-rollout:index:StagePolicies mtls-rollout",
      "mtls-rollout:index:StageVerification mtls-rollout",
    ]);
  });

  it("keeps the URNs of stacks made by earlier versions, which named these after the stage, with aliases", async () => {
    const resources = await at("istioinaction-strict");
    const stageNames = LAB_STAGES.map((name) => ({ name }));
    const aliasesOf = (type: string, name: string) => named(resources, type, name).aliases;
    expect(aliasesOf("mtls-rollout:index:StagePolicies", "mtls-rollout")).toEqual(stageNames);
    expect(aliasesOf("mtls-rollout:index:PreflightGate", "mtls-rollout")).toEqual(stageNames);
    expect(aliasesOf("mtls-rollout:index:StageVerification", "mtls-rollout")).toEqual(stageNames);
    expect(aliasesOf("command:local:Command", "preflight")).toEqual(LAB_STAGES.map((s) => ({ name: `preflight-${s}` })));
    expect(aliasesOf("command:local:Command", "verify")).toEqual(LAB_STAGES.map((s) => ({ name: `verify-${s}` })));
    // The workload component's type token is the class's name, as before.
    expect(ofType(resources, "mtls-rollout:index:Workload").length).toBeGreaterThan(0);
  });

  it("refuses a rollout whose stages name a namespace's selector-less policy differently, in plan, check and the program", async () => {
    const file = tempFile("two-wide.yaml", [
      "namespaces: [ { name: shop, injection: true } ]",
      "workloads: [ { name: cart, namespace: shop, image: 'cart:1', service: { ports: [ { port: 80 } ] } } ]",
      "stages:",
      "  - { name: one, peerAuthentications: [ { name: default, namespace: shop, mode: STRICT } ] }",
      "  - { name: two, peerAuthentications: [ { name: aaa, namespace: shop, mode: PERMISSIVE } ] }",
    ]);
    const message =
      /stages\[1\]\.peerAuthentications\[0\]\.name: "shop\/aaa" is a second namespace-wide policy besides "shop\/default" \(stages\[0\]\.peerAuthentications\[0\]\); the stack creates every stage's policy from the first stage on/;
    for (const args of [["plan", "--stage", "one"], ["check"]]) {
      const { code, stderr } = await cli([...args, "--rollout", file]);
      expect(code).toBe(2);
      expect(stderr).toMatch(message);
    }
    const resources = await installRecordingMocks({ "mtls-rollout:stage": "one", "mtls-rollout:rollout": file });
    expect(() => defineRolloutStack()).toThrow(message);
    await settleRegistrations();
    expect(resources).toEqual([]);
  });
});

describe("secrets in the stack config", () => {
  /** Pulumi's wire signature of a secret value (sdk/nodejs/runtime/rpc.ts specialSigKey / specialSecretSig). */
  const SECRET = { "4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270" };
  const url = "https://gate:s3cr3t@prometheus.example.com";

  it("keeps a secret prometheusUrl secret in the gate Command's environment", async () => {
    const { resources } = await runStack({ "mtls-rollout:stage": "istioinaction-strict", "mtls-rollout:prometheusUrl": url }, [
      "mtls-rollout:prometheusUrl",
    ]);
    const gate = named(resources, "command:local:Command", "preflight");
    expect(gate.rawInputs.environment.MTLS_ROLLOUT_PROMETHEUS_URL).toEqual({ ...SECRET, value: url });
    expect(JSON.stringify(gate.rawInputs)).not.toMatch(/"MTLS_ROLLOUT_PROMETHEUS_URL":"https/);
  });

  it("hands the URL to the gate by environment, never on a command line, where every user of the machine sees it", async () => {
    const { resources } = await runStack({ "mtls-rollout:stage": "istioinaction-strict", "mtls-rollout:prometheusUrl": url }, [
      "mtls-rollout:prometheusUrl",
    ]);
    const gate = named(resources, "command:local:Command", "preflight");
    // The Command's script as the local provider runs it, with a CLI that says what it was given.
    const cli = tempFile(
      "cli.js",
      "console.log(JSON.stringify({ argv: process.argv.slice(2), url: process.env.MTLS_ROLLOUT_PROMETHEUS_URL }));\n",
    );
    const environment = Object.fromEntries(
      Object.entries(gate.rawInputs.environment as Record<string, unknown>).map(([k, v]) => [
        k,
        typeof v === "object" && v !== null && "value" in v ? String((v as { value: unknown }).value) : String(v),
      ]),
    );
    const run = spawnSync("/bin/sh", ["-c", gate.inputs.create], {
      env: { ...environment, MTLS_ROLLOUT_CLI: cli, PATH: process.env.PATH },
    });
    const seen = JSON.parse(run.stdout.toString("utf8")) as { argv: string[]; url: string };
    expect(seen.url).toBe(url);
    expect(seen.argv.join(" ")).not.toContain("s3cr3t");
    expect(seen.argv).not.toContain("--prometheus");
    expect(seen.argv.slice(0, 2)).toEqual(["preflight", "--stage"]);
  });

  it("hands the token, the headers and the files to the gate by environment: secrets stay secrets, files absolute, argv clean", async () => {
    const ca = path.join(__dirname, "fixtures", "tls", "ca.pem");
    const config = {
      "mtls-rollout:stage": "istioinaction-strict",
      "mtls-rollout:prometheusUrl": "https://mimir.example.com/prometheus",
      "mtls-rollout:prometheusToken": "tok-3f9a1c",
      // Structured config reaches the program as JSON (pulumi config set --path 'mtls-rollout:prometheusHeaders.X-Scope-OrgID').
      "mtls-rollout:prometheusHeaders": JSON.stringify({ "X-Scope-OrgID": "team-a" }),
      "mtls-rollout:prometheusCaFile": path.relative(process.cwd(), ca),
    };
    const { resources } = await runStack(config, ["mtls-rollout:prometheusToken", "mtls-rollout:prometheusHeaders"]);
    const gate = named(resources, "command:local:Command", "preflight");
    const env = gate.rawInputs.environment;
    expect(env.MTLS_ROLLOUT_PROMETHEUS_TOKEN).toEqual({ ...SECRET, value: "tok-3f9a1c" });
    expect(env.MTLS_ROLLOUT_PROMETHEUS_HEADERS).toEqual({ ...SECRET, value: "X-Scope-OrgID: team-a" });
    expect(env.MTLS_ROLLOUT_PROMETHEUS_CA_FILE).toBe(ca);
    expect(env.MTLS_ROLLOUT_PROMETHEUS_TOKEN_FILE).toBe("");
    // Nowhere as a plain value: only inside the secret wrappers above.
    expect(JSON.stringify(gate.rawInputs)).not.toMatch(/"MTLS_ROLLOUT_PROMETHEUS_(TOKEN|HEADERS)":"[^"]/);
    expect(PREFLIGHT_COMMAND).not.toMatch(/PROMETHEUS/);
  });

  it.each([
    [
      "a token that is not a secret",
      { "mtls-rollout:prometheusUrl": "http://prometheus:9090", "mtls-rollout:prometheusToken": "tok-3f9a1c" },
      "mtls-rollout:prometheusToken: holds a credential, so it must be a secret: pulumi config set --secret mtls-rollout:prometheusToken … (and rotate the credential, which the stack file holds in clear)",
    ],
    [
      "a URL with a password that is not a secret",
      { "mtls-rollout:prometheusUrl": "https://admin:s3cret-pw@prom.example.com" },
      "mtls-rollout:prometheusUrl: holds a credential, so it must be a secret",
    ],
    [
      "an Authorization header that is not a secret",
      {
        "mtls-rollout:prometheusUrl": "http://prometheus:9090",
        "mtls-rollout:prometheusHeaders": JSON.stringify({ Authorization: "Bearer tok-plain-123" }),
      },
      "mtls-rollout:prometheusHeaders: holds a credential, so it must be a secret",
    ],
    [
      "a token file without a URL",
      { "mtls-rollout:prometheusTokenFile": "token" },
      "mtls-rollout:prometheusTokenFile: only counts with mtls-rollout:prometheusUrl",
    ],
    [
      "headers that are no map",
      { "mtls-rollout:prometheusUrl": "http://prometheus:9090", "mtls-rollout:prometheusHeaders": "X-Scope-OrgID: a" },
      "mtls-rollout:prometheusHeaders: must be a map of header names to values",
    ],
    [
      "a token file that is not there",
      { "mtls-rollout:prometheusUrl": "http://prometheus:9090", "mtls-rollout:prometheusTokenFile": "no-such-token" },
      `mtls-rollout:prometheusTokenFile: the Prometheus token file ${path.resolve("no-such-token")} cannot be read (ENOENT)`,
    ],
  ])("refuses %s before any resource exists", async (_, extra, message) => {
    const resources = await installRecordingMocks({ "mtls-rollout:stage": "istioinaction-strict", ...extra }, "dev", []);
    expect(() => defineRolloutStack()).toThrow(message);
    await settleRegistrations();
    expect(resources).toEqual([]);
  });

  it("leaves a plain one plain, where a reviewer can read it in the preview", async () => {
    const { resources } = await runStack({
      "mtls-rollout:stage": "istioinaction-strict",
      "mtls-rollout:prometheusUrl": "http://prometheus:9090",
    });
    expect(named(resources, "command:local:Command", "preflight").rawInputs.environment.MTLS_ROLLOUT_PROMETHEUS_URL).toBe(
      "http://prometheus:9090",
    );
  });
});

describe("the gate with Prometheus, after a verification", () => {
  it("counts from when the last verification ended, as the verification recorded it in the cluster; no stack reads itself back", async () => {
    const { resources, stack } = await runStack({
      "mtls-rollout:stage": "istioinaction-strict",
      "mtls-rollout:prometheusUrl": "http://prometheus:9090",
    });
    const gate = named(resources, "command:local:Command", "preflight");
    expect(gate.inputs.environment.MTLS_ROLLOUT_SINCE).toBe("recorded");
    expect(PREFLIGHT_COMMAND).toContain('${MTLS_ROLLOUT_SINCE:+--since "$MTLS_ROLLOUT_SINCE"}');
    expect(named(resources, "command:local:Command", "verify").inputs.environment.MTLS_ROLLOUT_RECORD_VERIFIED).toBe("1");
    expect(ofType(resources, "pulumi:pulumi:StackReference")).toEqual([]);
    expect(stack.outputs.verifiedAt).toBeDefined();
  });

  it("reads nothing back when the gate reads the sidecars, which count only during their own window", async () => {
    const { resources } = await runStack({ "mtls-rollout:stage": "istioinaction-strict" });
    expect(named(resources, "command:local:Command", "preflight").inputs.environment.MTLS_ROLLOUT_SINCE).toBe("");
  });
});
