/**
 * Retire, don't vanish (issue 21, point 4): a stage's `retire:` keeps a policy declared in its dormant form from that
 * stage on, so that removing it is an in-place update the stage's verification sees done (Pulumi would delete a
 * resource the program stops declaring only after the program, and so after the verification, has run); `check
 * --previous-file` refuses a policy dropped from a stage where the previous version had it in force.
 */
import * as pulumi from "@pulumi/pulumi";
import { describe, expect, it, vi } from "vitest";
import * as YAML from "yaml";
import { buildPlan } from "../src/model/plan";
import { parseRollout } from "../src/model/rollout";
import { checkRollout, isBlocking, removedWithoutRetire } from "../src/model/rules";
import { tempFile } from "./support/files";
import { cli } from "./support/inProcessCli";
import { named, runStack } from "./support/stack";
import { boundConfig } from "./support/ownMeshStack";
import { clusterWithPolicies, policyObject } from "./support/clusterFolder";

const PA = "kubernetes:security.istio.io/v1:PeerAuthentication";
const file = (stages: unknown[]) => ({
  namespaces: [{ name: "shop", existing: true }],
  workloads: [
    { name: "api", namespace: "shop", deploy: false, sidecar: true, service: { ports: [{ name: "http", port: 80, targetPort: 8080 }] } },
  ],
  probes: { namespaces: [], outsideMesh: false },
  stages,
});
const stages = [
  {
    name: "current",
    peerAuthentications: [{ name: "legacy", namespace: "shop", selector: { app: "api" }, mode: "PERMISSIVE", existing: true }],
  },
  { name: "shop-strict", peerAuthentications: [{ name: "default", namespace: "shop", mode: "STRICT" }] },
  { name: "no-exception", retire: [{ namespace: "shop", name: "legacy" }] },
];

describe("retire", () => {
  it("takes the policy out of force from its stage on, and keeps it declared dormant", () => {
    const rollout = parseRollout(file(stages));
    expect(buildPlan(rollout, "shop-strict").workloads.find((w) => w.name === "api")!.mode).toBe("PERMISSIVE");
    const plan = buildPlan(rollout, "no-exception");
    expect(plan.peerAuthentications.map((p) => p.name)).toEqual(["default"]);
    expect(plan.workloads.find((w) => w.name === "api")!.mode).toBe("STRICT");
    expect(plan.dormant).toEqual([{ namespace: "shop", name: "legacy", wide: false, firstStage: "current", adopted: true }]);
    expect(checkRollout(rollout).filter(isBlocking)).toEqual([]);
  });

  it("refuses to retire what is not in force at the stage before, or what the stage declares too", () => {
    expect(() => parseRollout(file([...stages.slice(0, 2), { name: "x", retire: [{ namespace: "shop", name: "nope" }] }]))).toThrow(
      /stages\[2\]\.retire\[0\]: "shop\/nope" is no policy in force at the stage before/,
    );
    expect(() =>
      parseRollout(
        file([
          ...stages.slice(0, 2),
          {
            name: "x",
            retire: [{ namespace: "shop", name: "default" }],
            peerAuthentications: [{ name: "default", namespace: "shop", mode: "PERMISSIVE" }],
          },
        ]),
      ),
    ).toThrow(/stages\[2\]\.retire\[0\]: "shop\/default" is declared by this stage too/);
  });

  it("makes the removal an in-place update of the same resource: the dormant form, still imported by its id for an adopted one", async () => {
    const config = boundConfig(tempFile("retire.yaml", YAML.stringify(file(stages))));
    // The cluster as the first stage found it: the exception the stack adopts is there.
    const cluster = {
      dir: clusterWithPolicies((pas) => [
        ...pas,
        policyObject("shop", "legacy", { selector: { matchLabels: { app: "api" } }, mtls: { mode: "PERMISSIVE" } }),
      ]),
    };
    const before = await runStack({ ...config, "mtls-rollout:stage": "shop-strict" }, [], cluster);
    const after = await runStack({ ...config, "mtls-rollout:stage": "no-exception" }, [], cluster);
    const was = named(before.resources, PA, "shop/legacy");
    const now = named(after.resources, PA, "shop/legacy");
    expect(now.urn).toBe(was.urn);
    expect(now.provider).toBe(was.provider);
    expect(now.importId).toBe("shop/legacy");
    expect(now.retainOnDelete).toBe(true);
    expect(now.inputs.spec).toEqual({ selector: { matchLabels: { "mtls-rollout.io/dormant": "true" } }, mtls: { mode: "UNSET" } });
    expect(now.inputs.metadata.annotations).toMatchObject({ "mtls-rollout.io/in-force": "false", "mtls-rollout.io/adopted": "true" });
  });
});

describe("a retired adopted policy that is gone from the cluster", () => {
  it("is declared again in its dormant form, created rather than imported (which would fail), and said so; one in force that is gone is refused", async () => {
    const config = boundConfig(tempFile("retire.yaml", YAML.stringify(file(stages))));
    const said = vi.spyOn(pulumi.log, "info");
    try {
      const { resources } = await runStack({ ...config, "mtls-rollout:stage": "no-exception" });
      const legacy = named(resources, PA, "shop/legacy");
      expect(legacy.importId).toBe("");
      expect(legacy.retainOnDelete).toBe(true);
      expect(said.mock.calls.map((c) => String(c[0])).filter((m) => m.startsWith("shop/legacy"))).toEqual([
        "shop/legacy: retired and gone from the cluster: declared again in its dormant form, which changes no mode",
      ]);
    } finally {
      said.mockRestore();
    }
    await expect(runStack({ ...config, "mtls-rollout:stage": "shop-strict" })).rejects.toThrow(
      /^shop\/legacy: stage current marks it existing: true \(adopted\), but it is not on the cluster, so there is nothing to import/,
    );
  });
});

describe("check --previous-file", () => {
  const previous = parseRollout(file(stages.slice(0, 2)));
  const dropped = parseRollout(file([{ name: "current" }, stages[1]]));

  it("refuses a policy dropped from a stage where the previous version had it in force", () => {
    expect(removedWithoutRetire(previous, dropped).map((v) => `${v.stage} ${v.resource}`)).toEqual(["current shop/legacy"]);
  });

  it("accepts it retired, and says nothing of a rollout that only grows", () => {
    expect(removedWithoutRetire(previous, parseRollout(file(stages)))).toEqual([]);
    expect(removedWithoutRetire(previous, previous)).toEqual([]);
  });

  it("is check's --previous-file, exit 1 with the finding", async () => {
    const old = tempFile("old.yaml", YAML.stringify(file(stages.slice(0, 2))));
    const now = tempFile("now.yaml", YAML.stringify(file([{ name: "current" }, stages[1]])));
    const out = await cli(["check", "--rollout", now, "--previous-file", old, "--json"]);
    expect(out.code).toBe(1);
    expect(JSON.parse(out.stdout).violations).toContainEqual(
      expect.objectContaining({ rule: "removed-without-retire", level: "mandatory", stage: "current", resource: "shop/legacy" }),
    );
  });
});

describe("an adopted policy declared again", () => {
  it("says UNSET for a port entry its earlier declaration had, so that server-side apply does not leave the creator's entry", () => {
    const rollout = parseRollout(
      file([
        {
          name: "current",
          peerAuthentications: [
            {
              name: "legacy",
              namespace: "shop",
              selector: { app: "api" },
              mode: "UNSET",
              portLevelMtls: { 8080: "DISABLE" },
              allowDisable: "as found",
              existing: true,
            },
          ],
        },
        { name: "strict", peerAuthentications: [{ name: "legacy", namespace: "shop", selector: { app: "api" }, mode: "STRICT" }] },
      ]),
    );
    const planned = buildPlan(rollout, "strict").peerAuthentications.find((p) => p.name === "legacy")!;
    expect(planned).toMatchObject({ mode: "STRICT", portLevelMtls: { "8080": "UNSET" }, existing: true });
    expect(buildPlan(rollout, "strict").workloads.find((w) => w.name === "api")!.ports).toEqual({ "8080": "STRICT" });
  });
});

describe("check --previous-stage", () => {
  it("lets a later stage's policy go, which the running stack has dormant only", () => {
    const old = parseRollout(file(stages));
    const now = parseRollout(file([stages[0], { name: "shop-strict" }]));
    // shop/default is in force from shop-strict on: dropped while the stack runs current, it was only dormant.
    expect(removedWithoutRetire(old, now, "current")).toEqual([]);
    expect(removedWithoutRetire(old, now, "shop-strict").map((v) => v.resource)).toEqual(["shop/default"]);
  });
});
