import { describe, expect, it } from "vitest";
import { buildPlan } from "../src/model/plan";
import { parseRollout, Rollout } from "../src/model/rollout";
import { checkRollout, checkStage, isBlocking, RuleName, RULES } from "../src/model/rules";
import { policiesInForceAt } from "../src/model/stages";
import { loadRollout } from "../src/rollout/load";
import { tempFile } from "./support/files";
import { cli } from "./support/inProcessCli";

/** A small mesh: api (ports 80 -> 8080, 90 -> 9090) called by web, both with sidecars; legacy without. */
function mesh(stages: unknown[]): Rollout {
  return parseRollout({
    namespaces: [{ name: "app", injection: true }, { name: "legacy" }],
    workloads: [
      {
        name: "api",
        namespace: "app",
        image: "api:1",
        service: {
          ports: [
            { name: "http", port: 80, targetPort: 8080 },
            { name: "grpc", port: 90, targetPort: 9090 },
          ],
        },
      },
      { name: "web", namespace: "app", image: "web:1", calls: ["app/api"], service: { ports: [{ port: 80, targetPort: 8080 }] } },
      { name: "old", namespace: "legacy", image: "old:1", calls: ["app/api"] },
    ],
    stages,
  });
}

function violationsOf(policies: unknown[], extra: Record<string, unknown> = {}) {
  const rollout = mesh([{ name: "s", peerAuthentications: policies, ...extra }]);
  const stage = rollout.stages[0];
  return checkStage({
    stage: "s",
    meshRootNamespace: rollout.meshRootNamespace,
    policies: policiesInForceAt(rollout, 0).map((p) => p.policy),
    workloads: rollout.workloads,
    acknowledgeBrokenCalls: stage.acknowledgeBrokenCalls,
  });
}

const rulesOf = (policies: unknown[], extra: Record<string, unknown> = {}) => violationsOf(policies, extra).map((v) => v.rule);

describe("the guardrail rules", () => {
  it("name a level for every rule: all mandatory but those that point at a choice to review", () => {
    expect(
      Object.entries(RULES)
        .filter(([, level]) => level === "advisory")
        .map(([rule]) => rule),
    ).toEqual(["adopts-an-owned-policy", "stage-order", "strict-protects-a-sidecar", "last-stage-leaves-ports-open"]);
  });

  it("strict-protects-a-sidecar: a STRICT policy whose workloads run no sidecar protects nothing, said, not blocking", () => {
    expect(rulesOf([{ name: "api", namespace: "app", selector: { app: "api" }, mode: "STRICT" }])).not.toContain(
      "strict-protects-a-sidecar",
    );
    const found = violationsOf([{ name: "old", namespace: "legacy", selector: { app: "old" }, mode: "STRICT" }]).filter(
      (v) => v.rule === "strict-protects-a-sidecar",
    );
    expect(found).toEqual([
      {
        rule: "strict-protects-a-sidecar",
        level: "advisory",
        stage: "s",
        resource: "legacy/old",
        message:
          "legacy/old is STRICT, but what it selects (legacy/old) runs no sidecar, so it protects nothing: plaintext still reaches it; inject the sidecar, or drop the policy",
      },
    ]);
  });

  it("last-stage-leaves-ports-open: where the rollout ends with ports of sidecar workloads open, check says which and why", () => {
    const open = checkRollout(
      mesh([{ name: "a" }, { name: "b", peerAuthentications: [{ name: "default", namespace: "app", mode: "STRICT" }] }]),
    );
    expect(open.filter((v) => v.rule === "last-stage-leaves-ports-open")).toEqual([]);
    const left = checkRollout(
      mesh([
        { name: "a" },
        {
          name: "b",
          peerAuthentications: [
            { name: "default", namespace: "app", mode: "STRICT" },
            { name: "api", namespace: "app", selector: { app: "api" }, mode: "STRICT", portLevelMtls: { 9090: "PERMISSIVE" } },
          ],
        },
      ]),
    ).filter((v) => v.rule === "last-stage-leaves-ports-open");
    expect(left).toEqual([
      {
        rule: "last-stage-leaves-ports-open",
        level: "advisory",
        stage: "b",
        resource: "app/api",
        message:
          "the last stage leaves 1 port of workloads with a sidecar open: app/api:9090 (PERMISSIVE, app/api); add a stage that makes them STRICT, or accept each you mean in acknowledgeFindings (rule last-stage-leaves-ports-open, resource namespace/workload:port) with the reason",
      },
    ]);
  });

  it("last-stage-leaves-ports-open: a port kept open on purpose, accepted by name with the reason, is not counted", () => {
    const stages = (acknowledgeFindings: unknown[]) => [
      { name: "a" },
      {
        name: "b",
        peerAuthentications: [
          { name: "default", namespace: "app", mode: "STRICT" },
          { name: "api", namespace: "app", selector: { app: "api" }, mode: "STRICT", portLevelMtls: { 9090: "PERMISSIVE" } },
        ],
        acknowledgeFindings,
      },
    ];
    const meant = [{ rule: "last-stage-leaves-ports-open", resource: "app/api:9090", reason: "the gRPC health checker has no sidecar" }];
    expect(checkRollout(mesh(stages(meant))).filter((v) => v.rule === "last-stage-leaves-ports-open")).toEqual([]);
    const otherPort = [{ ...meant[0], resource: "app/api:8080" }];
    expect(checkRollout(mesh(stages(otherPort))).filter((v) => v.rule === "last-stage-leaves-ports-open")).toHaveLength(1);
  });

  const cases: { rule: RuleName; passing: unknown[]; failing: unknown[]; message: RegExp }[] = [
    {
      rule: "no-mtls-disable",
      passing: [{ name: "default", namespace: "app", mode: "PERMISSIVE" }],
      failing: [{ name: "api", namespace: "app", selector: { app: "api" }, portLevelMtls: { 9090: "DISABLE" } }],
      message: /^app\/api sets port-level DISABLE on 9090, which switches mTLS off; use PERMISSIVE, or add allowDisable/,
    },
    {
      rule: "one-default-per-scope",
      passing: [{ name: "default", namespace: "app", mode: "STRICT" }],
      failing: [
        { name: "default", namespace: "app", mode: "STRICT" },
        { name: "strict-too", namespace: "app", mode: "STRICT" },
      ],
      message: /^app\/strict-too is a second namespace-wide PeerAuthentication besides app\/default; Istio ignores the newer one/,
    },
    {
      rule: "one-default-per-scope",
      passing: [{ name: "default", namespace: "istio-system", mode: "STRICT" }],
      failing: [{ name: "mesh-wide", namespace: "istio-system", mode: "STRICT" }],
      message: /^istio-system\/mesh-wide is mesh-wide but not named "default"; rename it to default/,
    },
    {
      rule: "no-selector-in-root-namespace",
      passing: [{ name: "api", namespace: "app", selector: { app: "api" }, mode: "STRICT" }],
      failing: [{ name: "api", namespace: "istio-system", selector: { app: "api" }, mode: "STRICT" }],
      message: /^istio-system\/api has a selector in the mesh root namespace "istio-system", where Istio ignores selector policies/,
    },
    {
      rule: "port-level-uses-target-ports",
      passing: [{ name: "api", namespace: "app", selector: { app: "api" }, portLevelMtls: { 8080: "STRICT" } }],
      failing: [{ name: "api", namespace: "app", selector: { app: "api" }, portLevelMtls: { 80: "STRICT" } }],
      message:
        /^app\/api sets port 80, which is no workload port of what it selects: 80 is the Service port of app\/api; its workload port is 8080/,
    },
    {
      rule: "selector-matches-a-workload",
      passing: [{ name: "api", namespace: "app", selector: { app: "api" }, mode: "STRICT" }],
      failing: [{ name: "api", namespace: "app", selector: { app: "apl" }, mode: "STRICT" }],
      message: /^app\/api selects app=apl, which matches no declared workload in app; fix the selector/,
    },
    {
      rule: "one-policy-per-workload",
      passing: [{ name: "api", namespace: "app", selector: { app: "api" }, mode: "STRICT" }],
      failing: [
        { name: "api", namespace: "app", selector: { app: "api" }, mode: "STRICT" },
        { name: "api-meshed", namespace: "app", selector: { "security.istio.io/tlsMode": "istio" }, mode: "PERMISSIVE" },
      ],
      message: /^app\/api-meshed selects app\/api, as app\/api does; Istio applies only the older one, so merge them into one policy$/,
    },
    {
      rule: "declared-calls-keep-working",
      // web (with a sidecar) keeps mTLS to a STRICT api; only old, without one, would be refused.
      passing: [{ name: "default", namespace: "legacy", mode: "STRICT" }],
      failing: [{ name: "api", namespace: "app", selector: { app: "api" }, mode: "STRICT" }],
      message:
        /^legacy\/old calls app\/api, which this stage refuses \(client has no sidecar and the target port is STRICT\); keep the call working, or acknowledge it/,
    },
    {
      rule: "namespace-disable-breaks-strict-workloads",
      passing: [
        { name: "default", namespace: "app", mode: "PERMISSIVE" },
        { name: "api", namespace: "app", selector: { app: "api" }, mode: "STRICT" },
      ],
      failing: [
        { name: "default", namespace: "app", mode: "DISABLE", allowDisable: "legacy scanners" },
        { name: "api", namespace: "app", selector: { app: "api" }, mode: "UNSET", portLevelMtls: { 8080: "STRICT" } },
      ],
      message: /^app\/api is STRICT on 8080, but its namespace is DISABLE at namespace or mesh level, which turns auto mTLS off/,
    },
  ];

  for (const { rule, passing, failing, message } of cases) {
    it(`${rule}: passes a good stage and flags a bad one with a message that says how to fix it`, () => {
      expect(rulesOf(passing)).not.toContain(rule);
      const found = violationsOf(failing).filter((v) => v.rule === rule);
      expect(found).toHaveLength(1);
      expect(found[0]).toMatchObject({ level: RULES[rule], stage: "s" });
      expect(found[0].message).toMatch(message);
      expect(isBlocking(found[0])).toBe(true);
    });
  }

  it("port-level-needs-selector flags port-level mTLS on a namespace-wide policy (which the rollout file already refuses), and passes it with a selector", () => {
    expect(rulesOf([{ name: "api", namespace: "app", selector: { app: "api" }, portLevelMtls: { 8080: "PERMISSIVE" } }])).not.toContain(
      "port-level-needs-selector",
    );
    const found = checkStage({
      stage: "s",
      meshRootNamespace: "istio-system",
      policies: [
        { name: "default", namespace: "app", selector: null, mode: "STRICT", portLevelMtls: { 8080: "PERMISSIVE" }, origin: "app/default" },
      ],
      workloads: mesh([{ name: "s" }]).workloads,
      acknowledgeBrokenCalls: [],
    });
    expect(found.map((v) => v.rule)).toContain("port-level-needs-selector");
    expect(() =>
      mesh([{ name: "s", peerAuthentications: [{ name: "default", namespace: "app", portLevelMtls: { 8080: "PERMISSIVE" } }] }]),
    ).toThrow(/portLevelMtls: requires a selector/);
  });

  it("accepts DISABLE with allowDisable, reporting the reason instead of failing", () => {
    const [v] = violationsOf([
      { name: "api", namespace: "app", selector: { app: "api" }, mode: "DISABLE", allowDisable: "a scanner speaks plaintext" },
    ]).filter((x) => x.rule === "no-mtls-disable");
    expect(v.acknowledged).toBe("a scanner speaks plaintext");
    expect(isBlocking(v)).toBe(false);
  });

  it("accepts a broken declared call acknowledged by the stage, with its reason", () => {
    const found = violationsOf([{ name: "api", namespace: "app", selector: { app: "api" }, mode: "STRICT" }], {
      acknowledgeBrokenCalls: [{ from: "legacy/old", to: "app/api", reason: "old is retired next week" }],
    }).filter((v) => v.rule === "declared-calls-keep-working");
    expect(found).toMatchObject([{ resource: "legacy/old -> app/api", acknowledged: "old is retired next week" }]);
    expect(found.filter(isBlocking)).toEqual([]);
  });

  it("keeps a broken call acknowledged in the stages after the one that acknowledges it", () => {
    const rollout = mesh([
      {
        name: "api-strict",
        acknowledgeBrokenCalls: [{ from: "legacy/old", to: "app/api", reason: "old is retired" }],
        peerAuthentications: [{ name: "api", namespace: "app", selector: { app: "api" }, mode: "STRICT" }],
      },
      { name: "app-strict", peerAuthentications: [{ name: "default", namespace: "app", mode: "STRICT" }] },
    ]);
    const calls = checkRollout(rollout).filter((v) => v.rule === "declared-calls-keep-working");
    expect(calls.map((v) => [v.stage, v.acknowledged])).toEqual([
      ["api-strict", "old is retired"],
      ["app-strict", "old is retired"],
    ]);
  });

  it("stage-order: reports (advisory) a stage that loosens what an earlier one tightened", () => {
    const rollout = mesh([
      {
        name: "strict",
        peerAuthentications: [{ name: "api", namespace: "app", selector: { app: "api" }, portLevelMtls: { 9090: "STRICT" } }],
      },
      {
        name: "loose",
        peerAuthentications: [{ name: "api", namespace: "app", selector: { app: "api" }, portLevelMtls: { 9090: "PERMISSIVE" } }],
      },
    ]);
    const found = checkRollout(rollout).filter((v) => v.rule === "stage-order");
    expect(found).toEqual([
      {
        rule: "stage-order",
        level: "advisory",
        stage: "loose",
        resource: "app/api:9090",
        message:
          'app/api:9090 goes from STRICT at stage "strict" to PERMISSIVE: this stage loosens what an earlier one tightened; reorder the stages if that is not meant',
      },
    ]);
    expect(found.filter(isBlocking)).toEqual([]);
  });

  it("passes the lab rollout at every stage", () => {
    expect(checkRollout(loadRollout())).toEqual([]);
    for (const stage of loadRollout().stages) expect(buildPlan(loadRollout(), stage.name).violations).toEqual([]);
  });
});

describe("npx mtls-rollout check", () => {
  it("exits 0 for the lab and says no rule is violated", async () => {
    const { code, stdout } = await cli(["check"]);
    expect(code).toBe(0);
    expect(stdout).toBe("Guardrails for every stage: no rule violated\n");
  });

  it("exits 1 when a mandatory rule fails, listing { rule, level, stage, resource, message } as JSON", async () => {
    const file = tempFile("r.yaml", [
      "namespaces: [ { name: app, injection: true } ]",
      "workloads: [ { name: api, namespace: app, image: 'api:1', service: { ports: [ { port: 80, targetPort: 8080 } ] } } ]",
      "stages:",
      "  - name: one",
      "    peerAuthentications: [ { name: default, namespace: app, mode: DISABLE } ]",
    ]);
    const { code, stdout } = await cli(["check", "--rollout", file, "--json"]);
    expect(code).toBe(1);
    expect(JSON.parse(stdout)).toEqual({
      violations: [
        {
          rule: "no-mtls-disable",
          level: "mandatory",
          stage: "one",
          resource: "app/default",
          message:
            'app/default sets mode DISABLE, which switches mTLS off; use PERMISSIVE, or add allowDisable: "<reason>" to the policy to accept it',
        },
        {
          rule: "last-stage-leaves-ports-open",
          level: "advisory",
          stage: "one",
          resource: "app/api",
          message:
            "the last stage leaves 1 port of workloads with a sidecar open: app/api:8080 (DISABLE, app/default); add a stage that makes them STRICT, or accept each you mean in acknowledgeFindings (rule last-stage-leaves-ports-open, resource namespace/workload:port) with the reason",
        },
      ],
      blocking: 1,
      warnings: [
        {
          path: "workloads",
          message: "no workload is a probe (probe: true, or a probes: section): verification has nothing to observe and stays inconclusive",
        },
      ],
    });
    const text = await cli(["check", "--rollout", file]);
    expect(text.code).toBe(1);
    expect(text.stdout).toMatch(/^Guardrails for every stage: 1 blocking of 2\n/);
    expect(text.stdout).toMatch(/│ mandatory │ no-mtls-disable +│ one +│ app\/default │ app\/default sets mode DISABLE/);
  });

  it("exits 0 when the only findings are acknowledged or advisory, and prints the acknowledgement", async () => {
    const file = tempFile("r.yaml", [
      "namespaces: [ { name: app, injection: true } ]",
      "workloads: [ { name: api, namespace: app, image: 'api:1', service: { ports: [ { port: 80, targetPort: 8080 } ] } } ]",
      "stages:",
      "  - name: one",
      "    peerAuthentications: [ { name: default, namespace: app, mode: DISABLE, allowDisable: 'metrics scraper without sidecar' } ]",
    ]);
    const { code, stdout } = await cli(["check", "--rollout", file]);
    expect(code).toBe(0);
    expect(stdout).toMatch(/acknowledged │ no-mtls-disable .*\(acknowledged: metrics scraper without sidecar\)/);
  });

  it("exits 2 for bad input", async () => {
    expect((await cli(["check", "--rollout", "/nonexistent.yaml"])).code).toBe(2);
  });
});

describe("acknowledgeFindings: the cluster as found, accepted with a reason", () => {
  const twoOnApi = [
    { name: "api-a", namespace: "app", selector: { app: "api" }, mode: "PERMISSIVE", existing: true },
    { name: "api-b", namespace: "app", selector: { app: "api" }, mode: "STRICT", existing: true },
  ];
  const ack = { rule: "one-policy-per-workload", resource: "app/api-b", reason: "on the cluster before this rollout" };

  it("applies the older of two adopted policies, as listed, instead of refusing to plan", () => {
    const rollout = mesh([{ name: "current", peerAuthentications: twoOnApi, acknowledgeFindings: [ack] }]);
    const plan = buildPlan(rollout, "current");
    expect(plan.workloads.find((w) => w.name === "api")!.mode).toBe("PERMISSIVE");
    expect(plan.violations.find((v) => v.rule === "one-policy-per-workload")).toMatchObject({
      resource: "app/api-b",
      acknowledged: ack.reason,
    });
    expect(checkRollout(rollout).filter(isBlocking)).toEqual([]);
  });

  it("carries the acceptance to later stages, where the adopted policies stay in force", () => {
    const rollout = mesh([
      { name: "current", peerAuthentications: twoOnApi, acknowledgeFindings: [ack] },
      { name: "app-strict", peerAuthentications: [{ name: "default", namespace: "app", mode: "STRICT" }] },
    ]);
    expect(checkRollout(rollout).filter(isBlocking)).toEqual([]);
    expect(buildPlan(rollout, "app-strict").acknowledgeFindings).toEqual([ack]);
  });

  it("blocks without it, and refuses an acknowledgement that names nothing the rollout has", () => {
    const rollout = mesh([{ name: "current", peerAuthentications: twoOnApi }]);
    expect(
      checkRollout(rollout)
        .filter(isBlocking)
        .map((v) => `${v.rule} ${v.resource}`),
    ).toEqual(["one-policy-per-workload app/api-b"]);
    expect(() =>
      mesh([{ name: "current", peerAuthentications: twoOnApi, acknowledgeFindings: [{ ...ack, resource: "app/nothing" }] }]),
    ).toThrow(/stages\[0\]\.acknowledgeFindings\[0\]\.resource: "app\/nothing" is neither a declared workload nor a policy of any stage/);
  });

  it("still refuses two competing policies the stack would create, whose order nobody can know", () => {
    const rollout = mesh([{ name: "s", peerAuthentications: twoOnApi.map(({ existing: _, ...p }) => p) }]);
    expect(() => buildPlan(rollout, "s")).toThrow(/one-policy-per-workload/);
  });
});

describe("what an acceptance covers", () => {
  it("namespace-disable-breaks-strict-workloads: the port accepted, not one a later stage makes STRICT", () => {
    const rollout = mesh([
      {
        name: "current",
        peerAuthentications: [
          { name: "default", namespace: "app", mode: "DISABLE", allowDisable: "legacy scanners", existing: true },
          { name: "api", namespace: "app", selector: { app: "api" }, mode: "UNSET", portLevelMtls: { 8080: "STRICT" }, existing: true },
        ],
        acknowledgeFindings: [{ rule: "namespace-disable-breaks-strict-workloads", resource: "app/api:8080", reason: "as found" }],
        acknowledgeBrokenCalls: [{ from: "app/web", to: "app/api", reason: "as found" }],
      },
      {
        name: "grpc-strict",
        peerAuthentications: [
          { name: "api", namespace: "app", selector: { app: "api" }, mode: "UNSET", portLevelMtls: { 8080: "STRICT", 9090: "STRICT" } },
        ],
      },
    ]);
    expect(
      checkRollout(rollout)
        .filter(isBlocking)
        .map((v) => `${v.stage} ${v.rule} ${v.resource}`),
    ).toContain("grpc-strict namespace-disable-breaks-strict-workloads app/api:9090");
  });

  it("a policy's finding: until a stage declares that policy again", () => {
    const rollout = mesh([
      {
        name: "current",
        peerAuthentications: [{ name: "typo", namespace: "app", selector: { app: "apj" }, mode: "STRICT", existing: true }],
        acknowledgeFindings: [{ rule: "selector-matches-a-workload", resource: "app/typo", reason: "as found" }],
      },
      { name: "later", peerAuthentications: [{ name: "typo", namespace: "app", selector: { app: "aip" }, mode: "STRICT" }] },
    ]);
    expect(
      checkRollout(rollout)
        .filter(isBlocking)
        .map((v) => `${v.stage} ${v.rule} ${v.resource}`),
    ).toEqual(["later selector-matches-a-workload app/typo"]);
  });
});
