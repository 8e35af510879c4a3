/**
 * Ports a sidecar does not intercept (issue 20, point 2): istio-iptables returns them before the proxy
 * (tools/istio-iptables/pkg/capture, `handleInboundPortsInclude`: `includeInboundPorts` defaults to `*`; a list other
 * than `*` redirects only those ports and ignores the exclusions; an empty one redirects none), and istiod does not
 * know (pilot builds the inbound listener from the Services, clients' sidecars still send Istio mTLS to the pod). So
 * plaintext reaches the application there at STRICT, and a client's sidecar's handshake fails there.
 */
import { describe, expect, it } from "vitest";
import { notInterceptedPorts } from "../src/discover/inventory";
import { NOT_INTERCEPTED } from "../src/model/coverage";
import { buildPlan } from "../src/model/plan";
import { parseRollout } from "../src/model/rollout";

describe("which ports a sidecar does not intercept, from the pod's traffic.sidecar.istio.io annotations", () => {
  it.each([
    [{}, []],
    [{ "traffic.sidecar.istio.io/excludeInboundPorts": "5432, 9090" }, [5432, 9090]],
    [{ "traffic.sidecar.istio.io/includeInboundPorts": "*", "traffic.sidecar.istio.io/excludeInboundPorts": "8080" }, [8080]],
    [{ "traffic.sidecar.istio.io/includeInboundPorts": "8080", "traffic.sidecar.istio.io/excludeInboundPorts": "8080" }, [5432, 9090]],
    [{ "traffic.sidecar.istio.io/includeInboundPorts": "" }, [5432, 8080, 9090]],
  ])("%j leaves %j to the application", (annotations, expected) => {
    expect(notInterceptedPorts(annotations as Record<string, string>, [8080, 5432, 9090])).toEqual(expected);
  });
});

describe("what a stage expects at a port its sidecar does not intercept", () => {
  const rollout = parseRollout({
    namespaces: [
      { name: "shop", existing: true },
      { name: "legacy", existing: true },
    ],
    workloads: [
      { name: "web", namespace: "shop", deploy: false, sidecar: true, calls: ["shop/db"] },
      { name: "batch", namespace: "legacy", deploy: false, sidecar: false, calls: ["shop/db"] },
      {
        name: "db",
        namespace: "shop",
        deploy: false,
        sidecar: true,
        notIntercepted: [5432],
        services: [
          { name: "db", ports: [{ name: "tcp-postgres", port: 5432 }] },
          { name: "db-admin", ports: [{ name: "http-admin", port: 8080 }] },
        ],
      },
    ],
    probes: { namespaces: [], outsideMesh: false },
    stages: [
      { name: "shop-strict", peerAuthentications: [{ name: "default", namespace: "shop", mode: "STRICT" }] },
      {
        name: "db-port-disable",
        peerAuthentications: [
          {
            name: "db",
            namespace: "shop",
            selector: { app: "db" },
            mode: "UNSET",
            portLevelMtls: { 5432: "DISABLE" },
            allowDisable: "5432 bypasses the sidecar",
          },
        ],
      },
    ],
  });
  const call = (stage: string, from: string, port: number) =>
    buildPlan(rollout, stage).calls.find((e) => e.from === from && e.port === port)!;

  it("lets plaintext through at STRICT, and fails a client sidecar's Istio mTLS", () => {
    expect(call("shop-strict", "legacy/batch", 5432)).toMatchObject({ expect: "plaintext" });
    expect(call("shop-strict", "legacy/batch", 8080)).toMatchObject({ expect: "refused" });
    expect(call("shop-strict", "shop/web", 5432)).toMatchObject({
      expect: "refused",
      reason:
        "the client's sidecar sends Istio mTLS, but the target port is not intercepted by its sidecar: the application gets a TLS handshake",
    });
  });

  it("works for clients with a sidecar once the port is DISABLE, which makes auto mTLS send plaintext there", () => {
    expect(call("db-port-disable", "shop/web", 5432)).toMatchObject({ expect: "plaintext" });
  });

  it("counts the port as open in the coverage, whatever its policy mode, and says why", () => {
    expect(buildPlan(rollout, "shop-strict").coverage.open).toEqual([
      { workload: "shop/db", port: 5432, mode: "STRICT", keptBy: NOT_INTERCEPTED },
    ]);
  });

  it("refuses it on a workload the stack deploys, which bypasses no port", () => {
    expect(() =>
      parseRollout({ workloads: [{ name: "api", namespace: "default", image: "api:1", notIntercepted: [80] }], stages: [{ name: "s" }] }),
    ).toThrow(/workloads\[0\]\.notIntercepted: is read from a running workload's pods/);
  });
});
