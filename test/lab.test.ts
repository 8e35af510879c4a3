import * as fs from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { dormantPeerAuthenticationManifest } from "../src/manifests/kubernetes";
import { buildPlan, policiesInForce } from "../src/model/plan";
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

describe("dormant policies", () => {
  it("keep the same PeerAuthentication objects at every stage, so moving between stages (and rolling back) only updates them", () => {
    const objects = (stage: string) => {
      const p = plan(stage);
      return [...p.peerAuthentications, ...p.dormant].map((x) => `${x.namespace}/${x.name}`).sort();
    };
    for (const stage of lab.stages) expect(objects(stage.name)).toEqual(objects("mesh-strict"));
    expect(plan("permissive").dormant.map((d) => [`${d.namespace}/${d.name}`, d.wide, d.firstStage])).toEqual([
      ["istioinaction/purchase-history-strict", false, "purchase-history-strict"],
      ["istioinaction/default", true, "istioinaction-strict"],
    ]);
  });

  it("change nothing Istio computes: the stage with its dormant policies has the same modes and outcomes as without them", () => {
    for (const { name } of lab.stages) {
      const p = plan(name);
      const dormant = p.dormant.map((d) => {
        const spec = dormantPeerAuthenticationManifest(d).spec as {
          selector?: { matchLabels: Record<string, string> };
          mtls: { mode: "UNSET" };
        };
        return {
          namespace: d.namespace,
          name: d.name,
          selector: spec.selector?.matchLabels ?? null,
          mode: spec.mtls.mode,
          origin: "dormant",
        };
      });
      const withDormant = {
        ...lab,
        stages: [
          {
            ...lab.stages.find((s) => s.name === name)!,
            peerAuthentications: [...policiesInForce(lab, name).map((x) => x.policy), ...dormant],
          },
        ],
      };
      const replanned = buildPlan(withDormant, name);
      expect(replanned.workloads, name).toEqual(p.workloads);
      expect(replanned.expectations, name).toEqual(p.expectations);
      expect(replanned.calls, name).toEqual(p.calls);
    }
  });
});

describe("the README's expected verification per stage", () => {
  it("is the model's expectation matrix of the lab", () => {
    const plans = lab.stages.map((s) => plan(s.name));
    const rows = plans[0].expectations.map((e, i) => [`${e.from} → ${e.host}:${e.port}`, ...plans.map((p) => p.expectations[i].expect)]);
    const table = [
      `| edge | ${lab.stages.map((s) => s.name).join(" | ")} |`,
      `| --- | ${lab.stages.map(() => "---").join(" | ")} |`,
      ...rows.map((r) => `| ${r.join(" | ")} |`),
    ].join("\n");
    const readme = fs.readFileSync(path.join(__dirname, "..", "README.md"), "utf8");
    expect(/<!-- expected-matrix:start -->\n([\s\S]*?)\n<!-- expected-matrix:end -->/.exec(readme)![1]).toBe(table);
  });
});
