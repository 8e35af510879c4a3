/**
 * Coverage: the ports of workloads with a sidecar that a stage leaves STRICT, and for each other one the policy that
 * keeps it open, found as Istio resolves a port's mode (a workload policy's port-level entry, then its mode, then the
 * namespace's, then the mesh's; no policy at all is Istio's default PERMISSIVE).
 */
import { describe, expect, it } from "vitest";
import { buildPlan } from "../src/model/plan";
import { parseRollout } from "../src/model/rollout";
import { renderPlanText } from "../src/cli/renderPlan";

const rollout = parseRollout({
  namespaces: [
    { name: "shop", injection: true },
    { name: "legacy", injection: false },
  ],
  workloads: [
    { name: "api", namespace: "shop", image: "api:1", ports: [9090], service: { ports: [{ port: 80, targetPort: 8080 }] } },
    { name: "cart", namespace: "shop", image: "cart:1", service: { ports: [{ port: 80, targetPort: 8080 }] } },
    { name: "batch", namespace: "legacy", image: "batch:1", service: { ports: [{ port: 80, targetPort: 8080 }] } },
  ],
  probes: { namespaces: ["shop"] },
  stages: [
    { name: "fresh" },
    {
      name: "shop-strict",
      peerAuthentications: [
        { name: "default", namespace: "shop", mode: "STRICT" },
        { name: "api", namespace: "shop", selector: { app: "api" }, mode: "STRICT", portLevelMtls: { "9090": "PERMISSIVE" } },
        { name: "cart", namespace: "shop", selector: { app: "cart" }, mode: "PERMISSIVE" },
      ],
    },
  ],
});

describe("coverage", () => {
  it("counts the ports of workloads with a sidecar that are STRICT, the probe kit's aside", () => {
    expect(buildPlan(rollout, "fresh").coverage).toMatchObject({ strict: 0, total: 3 });
    expect(buildPlan(rollout, "shop-strict").coverage).toMatchObject({ strict: 1, total: 3 });
  });

  it("names what keeps each other port open: a port-level entry, a workload policy, or no policy at all", () => {
    expect(buildPlan(rollout, "fresh").coverage.open.map((p) => `${p.workload}:${p.port} ${p.mode} ${p.keptBy}`)).toEqual([
      "shop/api:8080 PERMISSIVE null",
      "shop/api:9090 PERMISSIVE null",
      "shop/cart:8080 PERMISSIVE null",
    ]);
    expect(buildPlan(rollout, "shop-strict").coverage.open.map((p) => `${p.workload}:${p.port} ${p.keptBy}`)).toEqual([
      "shop/api:9090 shop/api",
      "shop/cart:8080 shop/cart",
    ]);
  });

  it("is printed by plan, the policy that keeps a port open beside it", () => {
    const text = renderPlanText(buildPlan(rollout, "shop-strict"), { style: { width: 100, color: false } });
    expect(text).toContain("Coverage: 1 of 3 ports of workloads with a sidecar are STRICT (33.3%)");
    expect(text).toMatch(/shop\/cart +│ 8080 │ PERMISSIVE │ shop\/cart/);
    expect(renderPlanText(buildPlan(rollout, "fresh"), { style: { width: 100, color: false } })).toMatch(
      /shop\/api +│ 8080 │ PERMISSIVE │ no policy: Istio's default/,
    );
  });
});
