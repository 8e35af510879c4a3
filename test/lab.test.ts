import { describe, expect, it } from "vitest";
import { buildPlan } from "../src/model/plan";
import { loadRollout } from "../src/rollout/load";

const lab = loadRollout();
const plan = (stage: string) => buildPlan(lab, stage);
const matrix = (stage: string) => Object.fromEntries(plan(stage).expectations.map((e) => [`${e.from} -> ${e.host}:${e.port}`, e.expect]));

const IN_MESH = "istioinaction/sleep";
const OUTSIDE = "default/sleep";
const SERVICES = [
  "web-api.istioinaction:8080",
  "recommendation.istioinaction:8080",
  "purchase-history.istioinaction:8080",
  "httpbin.default:8000",
];

describe("the lab rollout", () => {
  it("has the workshop's stages in order", () => {
    expect(lab.stages.map((s) => s.name)).toEqual(["permissive", "purchase-history-strict", "istioinaction-strict", "mesh-strict"]);
  });

  it("puts every istioinaction workload and httpbin in the mesh, and the default sleep outside it", () => {
    const sidecars = Object.fromEntries(plan("permissive").workloads.map((w) => [`${w.namespace}/${w.name}`, w.sidecar]));
    expect(sidecars).toEqual({
      "istioinaction/web-api": true,
      "istioinaction/recommendation": true,
      "istioinaction/purchase-history-v1": true,
      "istioinaction/sleep": true,
      "default/httpbin": true,
      "default/sleep": false,
    });
  });

  it("at permissive: the in-mesh sleep reaches httpbin with mTLS and the out-of-mesh sleep reaches it in plaintext", () => {
    const m = matrix("permissive");
    expect(m[`${IN_MESH} -> httpbin.default:8000`]).toBe("mtls");
    expect(m[`${OUTSIDE} -> httpbin.default:8000`]).toBe("plaintext");
    for (const s of SERVICES) {
      expect(m[`${IN_MESH} -> ${s}`]).toBe("mtls");
      expect(m[`${OUTSIDE} -> ${s}`]).toBe("plaintext");
    }
  });

  it("at purchase-history-strict: only purchase-history refuses the out-of-mesh sleep; its in-mesh caller keeps mTLS", () => {
    const p = plan("purchase-history-strict");
    const m = matrix("purchase-history-strict");
    expect(m[`${OUTSIDE} -> purchase-history.istioinaction:8080`]).toBe("refused");
    expect(m[`${OUTSIDE} -> web-api.istioinaction:8080`]).toBe("plaintext");
    expect(m[`${OUTSIDE} -> httpbin.default:8000`]).toBe("plaintext");
    expect(p.workloads.find((w) => w.name === "purchase-history-v1")).toMatchObject({ mode: "STRICT", ports: { "8080": "STRICT" } });
    expect(p.calls.map((c) => `${c.from} -> ${c.to}: ${c.expect}`)).toEqual([
      "istioinaction/web-api -> istioinaction/recommendation: mtls",
      "istioinaction/recommendation -> istioinaction/purchase-history-v1: mtls",
    ]);
  });

  it("at istioinaction-strict: the out-of-mesh sleep is refused by every istioinaction service and still reaches httpbin", () => {
    const m = matrix("istioinaction-strict");
    for (const s of SERVICES.slice(0, 3)) {
      expect(m[`${OUTSIDE} -> ${s}`]).toBe("refused");
      expect(m[`${IN_MESH} -> ${s}`]).toBe("mtls");
    }
    expect(m[`${OUTSIDE} -> httpbin.default:8000`]).toBe("plaintext");
    expect(
      plan("istioinaction-strict")
        .workloads.filter((w) => w.namespace === "istioinaction")
        .map((w) => w.mode),
    ).toEqual(["STRICT", "STRICT", "STRICT", "STRICT"]);
  });

  it("at mesh-strict: the out-of-mesh sleep is refused everywhere, the in-mesh sleep still uses mTLS everywhere", () => {
    const m = matrix("mesh-strict");
    for (const s of SERVICES) {
      expect(m[`${OUTSIDE} -> ${s}`]).toBe("refused");
      expect(m[`${IN_MESH} -> ${s}`]).toBe("mtls");
    }
    expect(plan("mesh-strict").peerAuthentications.find((p) => p.namespace === "istio-system")).toMatchObject({
      mode: "STRICT",
      definedIn: "mesh-strict",
    });
  });

  it("never breaks a declared call at any stage", () => {
    for (const stage of lab.stages) {
      for (const call of plan(stage.name).calls) expect(call.expect, `${stage.name}: ${call.from} -> ${call.to}`).toBe("mtls");
    }
  });

  it("has exactly one edge per probe and service port, and none from a probe to itself", () => {
    const edges = plan("permissive").expectations;
    expect(edges).toHaveLength(8);
    expect(new Set(edges.map((e) => `${e.from}|${e.to}|${e.port}`)).size).toBe(8);
    expect(edges.every((e) => e.from !== e.to)).toBe(true);
  });
});
