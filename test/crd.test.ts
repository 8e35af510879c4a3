import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { peerAuthenticationManifest } from "../src/manifests/kubernetes";
import { buildPlan, PlannedPolicy } from "../src/model/plan";
import { parseRollout } from "../src/model/rollout";
import { loadRollout } from "../src/rollout/load";
import { crdValidator } from "./support/crdValidator";

const validate = crdValidator(path.join(__dirname, "fixtures", "peerauthentication-crd.yaml"), "v1");

const policy = (over: Partial<PlannedPolicy>): PlannedPolicy => ({
  namespace: "shop",
  name: "p",
  selector: null,
  mode: "STRICT",
  portLevelMtls: {},
  scope: "namespace",
  definedIn: "s",
  ...over,
});

describe("rendered PeerAuthentications against Istio's published CRD schema", () => {
  const lab = loadRollout();
  for (const stage of lab.stages) {
    it(`accepts every PeerAuthentication of the lab stage ${stage.name}`, () => {
      const plan = buildPlan(lab, stage.name);
      expect(plan.peerAuthentications.length).toBeGreaterThan(0);
      for (const pa of plan.peerAuthentications) expect(validate(peerAuthenticationManifest(pa)), pa.name).toEqual([]);
    });
  }

  it("accepts a workload policy with every mode at port level, as the rollout file writes it", () => {
    const rollout = parseRollout({
      namespaces: [{ name: "shop" }],
      workloads: [
        { name: "cart", namespace: "shop", image: "cart:1", sidecar: true, service: { ports: [{ port: 80, targetPort: 8080 }] } },
      ],
      stages: [
        {
          name: "ports",
          peerAuthentications: [
            {
              name: "cart",
              namespace: "shop",
              selector: { app: "cart" },
              portLevelMtls: { 8080: "DISABLE", 9090: "STRICT", 15000: { mode: "PERMISSIVE" }, 1: "UNSET" },
            },
          ],
        },
      ],
    });
    const [pa] = buildPlan(rollout, "ports").peerAuthentications;
    const manifest = peerAuthenticationManifest(pa);
    expect(manifest.spec).toEqual({
      selector: { matchLabels: { app: "cart" } },
      mtls: { mode: "UNSET" },
      portLevelMtls: { "1": { mode: "UNSET" }, "8080": { mode: "DISABLE" }, "9090": { mode: "STRICT" }, "15000": { mode: "PERMISSIVE" } },
    });
    expect(validate(manifest)).toEqual([]);
  });

  // The validator must be able to fail, or the tests above prove nothing.
  it("rejects what the API server rejects: port-level mTLS without selector, port 0, wildcards, unknown modes", () => {
    expect(validate(peerAuthenticationManifest(policy({ portLevelMtls: { "8080": "STRICT" } })))).toContain(
      ".spec: portLevelMtls requires selector",
    );
    expect(validate(peerAuthenticationManifest(policy({ selector: { app: "a" }, portLevelMtls: { "0": "STRICT" } })))).toContain(
      ".spec.portLevelMtls: port must be between 1-65535",
    );
    expect(validate(peerAuthenticationManifest(policy({ selector: { app: "a*" } })))).toContain(
      ".spec.selector.matchLabels.app: wildcard not allowed in label value match",
    );
    expect(validate(peerAuthenticationManifest(policy({ mode: "OFF" as never }))).join()).toMatch(
      /\/spec\/mtls\/mode: must be equal to one of the allowed values/,
    );
  });
});
