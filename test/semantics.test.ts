import { describe, expect, it } from "vitest";
import { InputError } from "../src/model/errors";
import { buildPlan } from "../src/model/plan";
import { parseRollout } from "../src/model/rollout";
import { istioTaskRollout, readRecordedSections } from "./support/meshFixtures";

const MESH_STRICT = { name: "default", namespace: "istio-system", mode: "STRICT" };
const FOO_STRICT = { name: "default", namespace: "foo", mode: "STRICT" };
const BAR_HTTPBIN_STRICT = { name: "httpbin", namespace: "bar", selector: { app: "httpbin" }, mode: "STRICT" };

/** The policies in force at each recorded step of istio.io's tasks. */
const STEPS: Record<string, unknown[]> = {
  baseline: [],
  "mesh-strict": [MESH_STRICT],
  "namespace-foo-strict": [FOO_STRICT],
  "workload-bar-httpbin-strict": [FOO_STRICT, BAR_HTTPBIN_STRICT],
  "workload-bar-httpbin-strict-port-8080-disable": [FOO_STRICT, { ...BAR_HTTPBIN_STRICT, portLevelMtls: { "8080": "DISABLE" } }],
  "namespace-foo-strict-overwritten-by-workload-disable": [
    FOO_STRICT,
    { name: "overwrite-example", namespace: "foo", selector: { app: "httpbin" }, mode: "DISABLE" },
  ],
};

function outcomes(policies: unknown[]) {
  const plan = buildPlan(istioTaskRollout([{ name: "step", peerAuthentications: policies }]), "step");
  return new Map(plan.expectations.map((e) => [`${e.from} -> ${e.to}`, e.expect]));
}

describe("the model against istio.io's recorded task outputs", () => {
  for (const file of ["istio-authn-policy-outputs.txt", "istio-mtls-migration-outputs.txt"]) {
    for (const [step, calls] of readRecordedSections(file)) {
      it(`predicts every recorded call of ${file.replace("-outputs.txt", "")} at step ${step}`, () => {
        expect(calls.length).toBeGreaterThan(0);
        if (!(step in STEPS)) throw new Error(`no policies written down for step ${step} of ${file}`);
        const predicted = outcomes(STEPS[step]);
        for (const call of calls) {
          const edge = `${call.from} -> ${call.to}`;
          // 000 with curl's exit 56 is Envoy closing a plaintext connection that matched no filter chain.
          if (call.httpCode === "000" && call.curlExit === 56) {
            expect(predicted.get(edge), edge).toBe("refused");
            continue;
          }
          expect(call.httpCode, edge).toBe("200");
          // A recorded call that got through is mTLS exactly when both ends have a sidecar: the tasks use
          // no DestinationRule, and no recorded sidecar call meets a DISABLE port (semantics 4).
          const bothMeshed = !call.from.startsWith("legacy/") && !call.to.startsWith("legacy/");
          expect(predicted.get(edge), edge).toBe(bothMeshed ? "mtls" : "plaintext");
        }
      });
    }
  }

  it("predicts mTLS where httpbin echoed an X-Forwarded-Client-Cert header and plaintext where it did not", () => {
    // authn-policy task: sleep.foo -> httpbin.foo/headers carries XFCC; to httpbin.legacy the grep prints nothing.
    const predicted = outcomes([]);
    expect(predicted.get("foo/sleep -> foo/httpbin")).toBe("mtls");
    expect(predicted.get("foo/sleep -> legacy/httpbin")).toBe("plaintext");
    expect(predicted.get("legacy/sleep -> foo/httpbin")).toBe("plaintext");
  });
});

function singleWorkloadMesh(policies: unknown[], extra: { clientSidecar?: boolean } = {}) {
  return parseRollout({
    namespaces: [
      { name: "app", injection: true },
      { name: "client", injection: extra.clientSidecar ?? true },
    ],
    workloads: [
      {
        name: "api",
        namespace: "app",
        labels: { app: "api", tier: "backend" },
        image: "api:1",
        service: {
          ports: [
            { name: "http", port: 80, targetPort: 8080 },
            { name: "grpc", port: 90, targetPort: 9090 },
          ],
        },
      },
      { name: "probe", namespace: "client", image: "curl:1", probe: true },
    ],
    stages: [{ name: "s", peerAuthentications: policies }],
  });
}

function effective(policies: unknown[]) {
  const plan = buildPlan(singleWorkloadMesh(policies), "s");
  return plan.workloads.find((w) => w.name === "api")!;
}

function edges(policies: unknown[], clientSidecar = true) {
  const plan = buildPlan(singleWorkloadMesh(policies, { clientSidecar }), "s");
  return Object.fromEntries(plan.expectations.map((e) => [e.targetPort, e.expect]));
}

describe("effective modes follow istiod's ComposePeerAuthentication", () => {
  it("treats a mesh with no policy at all as PERMISSIVE", () => {
    expect(effective([])).toMatchObject({ mode: "PERMISSIVE", ports: { "8080": "PERMISSIVE", "9090": "PERMISSIVE" } });
  });

  it("lets the namespace policy override the mesh policy, and the workload policy override both", () => {
    expect(effective([{ name: "default", namespace: "istio-system", mode: "STRICT" }]).mode).toBe("STRICT");
    expect(
      effective([
        { name: "default", namespace: "istio-system", mode: "STRICT" },
        { name: "default", namespace: "app", mode: "PERMISSIVE" },
      ]).mode,
    ).toBe("PERMISSIVE");
    expect(
      effective([
        { name: "default", namespace: "istio-system", mode: "PERMISSIVE" },
        { name: "default", namespace: "app", mode: "STRICT" },
        { name: "api", namespace: "app", selector: { app: "api" }, mode: "DISABLE" },
      ]).mode,
    ).toBe("DISABLE");
  });

  it("lets UNSET inherit at every level, and a mesh-level UNSET mean PERMISSIVE", () => {
    expect(effective([{ name: "default", namespace: "istio-system", mode: "UNSET" }]).mode).toBe("PERMISSIVE");
    expect(
      effective([
        { name: "default", namespace: "istio-system", mode: "STRICT" },
        { name: "default", namespace: "app" },
        { name: "api", namespace: "app", selector: { app: "api" }, mode: "UNSET" },
      ]).mode,
    ).toBe("STRICT");
  });

  it("applies port-level modes to workload (target) ports only, with UNSET ports taking the workload mode", () => {
    const policies = [
      { name: "default", namespace: "app", mode: "STRICT" },
      { name: "api", namespace: "app", selector: { app: "api" }, portLevelMtls: { 8080: "DISABLE", 9090: "UNSET", 80: "PERMISSIVE" } },
    ];
    const plan = buildPlan(singleWorkloadMesh(policies), "s");
    const api = plan.workloads.find((w) => w.name === "api")!;
    expect(api).toMatchObject({ mode: "STRICT", ports: { "8080": "DISABLE", "9090": "STRICT" } });
    // 80 is the Service port, not a target port: Istio applies nothing for it, and the plan says so.
    expect(api.ports).not.toHaveProperty("80");
    expect(plan.violations.filter((v) => v.rule !== "no-mtls-disable").map((v) => [v.rule, v.resource, v.message])).toEqual([
      [
        "port-level-uses-target-ports",
        "app/api",
        "app/api sets port 80, which is no workload port of what it selects: 80 is the Service port of app/api; its workload port is 8080, so key the entry by 8080",
      ],
    ]);
  });

  it("ignores selector policies in the mesh root namespace, and the plan flags them", () => {
    const plan = buildPlan(singleWorkloadMesh([{ name: "api", namespace: "istio-system", selector: { app: "api" }, mode: "STRICT" }]), "s");
    expect(plan.workloads.find((w) => w.name === "api")!.mode).toBe("PERMISSIVE");
    expect(plan.peerAuthentications[0].scope).toBe("ignored");
    expect(plan.violations.map((v) => v.rule)).toEqual(["no-selector-in-root-namespace"]);
  });

  it("treats an empty selector as namespace-wide, as Istio does, and says so", () => {
    const plan = buildPlan(singleWorkloadMesh([{ name: "all", namespace: "app", selector: {}, mode: "STRICT" }]), "s");
    expect(plan.peerAuthentications[0]).toMatchObject({ scope: "namespace", selector: null });
    expect(plan.workloads.find((w) => w.name === "api")!.mode).toBe("STRICT");
    expect(plan.warnings[0].path).toBe("stages[0].peerAuthentications[0].selector");
  });

  it("matches selectors against the labels the running pod carries, including the injector's", () => {
    expect(effective([{ name: "p", namespace: "app", selector: { "security.istio.io/tlsMode": "istio" }, mode: "STRICT" }]).mode).toBe(
      "STRICT",
    );
    expect(effective([{ name: "p", namespace: "app", selector: { "sidecar.istio.io/inject": "true" }, mode: "STRICT" }]).mode).toBe(
      "STRICT",
    );
    expect(effective([{ name: "p", namespace: "app", selector: { "service.istio.io/canonical-name": "api" }, mode: "STRICT" }]).mode).toBe(
      "STRICT",
    );
  });

  it("matches a selector only when all its labels are on the pod", () => {
    expect(effective([{ name: "p", namespace: "app", selector: { app: "api", tier: "backend" }, mode: "STRICT" }]).mode).toBe("STRICT");
    expect(effective([{ name: "p", namespace: "app", selector: { app: "api", tier: "frontend" }, mode: "STRICT" }]).mode).toBe(
      "PERMISSIVE",
    );
  });

  it("reports duplicate policies at one level as an error, with their paths in the file, instead of guessing which Istio keeps", () => {
    const duplicate = (policies: unknown[]) => {
      try {
        buildPlan(singleWorkloadMesh(policies), "s");
      } catch (err) {
        return (err as InputError).problems.map((p) => `${p.path}: ${p.message}`);
      }
      return [];
    };
    expect(
      duplicate([
        { name: "default", namespace: "app", mode: "STRICT" },
        { name: "other", namespace: "app", mode: "DISABLE" },
      ]),
    ).toEqual([
      'stages[0].peerAuthentications[1]: breaks one-default-per-scope: "app/other" is a second namespace-wide PeerAuthentication at stage "s", besides "app/default" (stages[0].peerAuthentications[0]); Istio would keep only the older one, so declare one, named "default"',
    ]);
    expect(
      duplicate([
        { name: "a", namespace: "istio-system" },
        { name: "b", namespace: "istio-system" },
      ])[0],
    ).toMatch(/^stages\[0\]\.peerAuthentications\[1\]: breaks one-default-per-scope: "istio-system\/b" is a second mesh-wide/);
    expect(
      duplicate([
        { name: "one", namespace: "app", selector: { app: "api" }, mode: "STRICT" },
        { name: "two", namespace: "app", selector: { tier: "backend" }, mode: "DISABLE" },
      ]),
    ).toEqual([
      'stages[0].peerAuthentications[1]: breaks one-policy-per-workload: "app/two" selects workload "app/api" at stage "s", as does "app/one" (stages[0].peerAuthentications[0]); Istio would apply only the oldest, so keep one',
    ]);
  });
});

describe("expected outcomes follow auto mTLS", () => {
  it("gives a client with a sidecar mTLS to a sidecar server in PERMISSIVE or STRICT", () => {
    expect(edges([])).toEqual({ 8080: "mtls", 9090: "mtls" });
    expect(edges([{ name: "default", namespace: "app", mode: "STRICT" }])).toEqual({ 8080: "mtls", 9090: "mtls" });
  });

  it("refuses a client without sidecar at a STRICT port and lets it through in plaintext elsewhere", () => {
    expect(edges([{ name: "api", namespace: "app", selector: { app: "api" }, portLevelMtls: { 9090: "STRICT" } }], false)).toEqual({
      8080: "plaintext",
      9090: "refused",
    });
  });

  it("sends plaintext to a port whose own policy is DISABLE, even from a sidecar", () => {
    expect(
      edges([{ name: "api", namespace: "app", selector: { app: "api" }, mode: "STRICT", portLevelMtls: { 8080: "DISABLE" } }]),
    ).toEqual({
      8080: "plaintext",
      9090: "mtls",
    });
  });

  it("turns auto mTLS off under a namespace-wide DISABLE, so a workload-level STRICT refuses in-mesh callers", () => {
    expect(
      edges([
        { name: "default", namespace: "app", mode: "DISABLE" },
        { name: "api", namespace: "app", selector: { app: "api" }, mode: "STRICT", portLevelMtls: { 9090: "PERMISSIVE" } },
      ]),
    ).toEqual({ 8080: "refused", 9090: "plaintext" });
  });

  it("turns auto mTLS off under a mesh-wide DISABLE unless the namespace policy says otherwise", () => {
    const meshDisable = { name: "default", namespace: "istio-system", mode: "DISABLE" };
    expect(edges([meshDisable])).toEqual({ 8080: "plaintext", 9090: "plaintext" });
    expect(edges([meshDisable, { name: "default", namespace: "app", mode: "PERMISSIVE" }])).toEqual({ 8080: "mtls", 9090: "mtls" });
    expect(edges([meshDisable, { name: "default", namespace: "app" }])).toEqual({ 8080: "plaintext", 9090: "plaintext" });
  });

  it("sends plaintext from a sidecar to a server without one, whatever the policies say", () => {
    const rollout = istioTaskRollout([{ name: "s", peerAuthentications: [MESH_STRICT] }]);
    const plan = buildPlan(rollout, "s");
    const edge = plan.expectations.find((e) => e.from === "foo/sleep" && e.to === "legacy/httpbin")!;
    expect(edge).toMatchObject({
      expect: "plaintext",
      host: "httpbin.legacy",
      port: 8000,
      targetPort: 8080,
      reason: "server has no sidecar",
    });
  });
});
