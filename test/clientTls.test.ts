/**
 * Client-side TLS (issue 20, point 4): which DestinationRule a client's sidecar uses and what it sends, as istiod
 * decides it, and what that does to a stage's expected outcomes and guardrails. Each case cites the istio/istio
 * code it follows (read at commit 86c9f01, 1.32-dev; the same logic at 1.29): test/fixtures/SOURCES.md, "Client-side
 * TLS". The DestinationRules are the file's shape; each is also checked against Istio's DestinationRule CRD
 * (test/fixtures/destinationrule-crd.yaml, networking.istio.io/v1) as the object discover would read.
 */
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { meshConfigsOf } from "../src/cluster/meshConfig";
import { ClientTlsIndex } from "../src/model/clientTls";
import { buildPlan } from "../src/model/plan";
import { destinationRuleOf, parseRollout, type Rollout } from "../src/model/rollout";
import { checkRollout, isBlocking } from "../src/model/rules";
import type { RolloutFile } from "../src/model/schema";
import { crdValidator } from "./support/crdValidator";

type Rule = RolloutFile["destinationRules"][number];
const validate = crdValidator(path.join(__dirname, "fixtures", "destinationrule-crd.yaml"), "v1");
const asObject = (r: Rule) => ({
  apiVersion: "networking.istio.io/v1",
  kind: "DestinationRule",
  metadata: { name: r.name, namespace: r.namespace },
  spec: {
    host: r.host,
    ...(r.exportTo ? { exportTo: r.exportTo } : {}),
    ...(r.workloadSelector ? { workloadSelector: r.workloadSelector } : {}),
    ...(r.trafficPolicy ? { trafficPolicy: r.trafficPolicy } : {}),
    ...(r.subsets ? { subsets: r.subsets.map((s) => ({ ...s, labels: { version: s.name } })) } : {}),
  },
});

function index(rules: Rule[], enableAutoMtls = true) {
  for (const r of rules) expect(validate(asObject(r)), `${r.namespace}/${r.name}`).toEqual([]);
  return new ClientTlsIndex(
    rules.map((r, i) => destinationRuleOf(r, `destinationRules[${i}]`)),
    { meshRootNamespace: "istio-system", enableAutoMtls },
  );
}
const client = (namespace: string, podLabels: Record<string, string> = {}) => ({ namespace, podLabels });
const reviews = { name: "reviews", namespace: "shop" };
const mode = (tls: ClientTlsIndex, c: ReturnType<typeof client>, port = 9080, subset?: string) =>
  tls.settingFor(c, reviews, port, subset)?.mode ?? "auto";

describe("which DestinationRule a client uses (push_context.go destinationRule, sidecar.go DestinationRule)", () => {
  it("takes the client's namespace first, even a wildcard over an exact host in the Service's namespace", () => {
    const tls = index([
      { name: "all-plain", namespace: "web", host: "*.local", trafficPolicy: { tls: { mode: "DISABLE" } } },
      { name: "reviews", namespace: "shop", host: "reviews", trafficPolicy: { tls: { mode: "ISTIO_MUTUAL" } } },
    ]);
    expect(mode(tls, client("web"))).toBe("DISABLE");
    expect(mode(tls, client("other"))).toBe("ISTIO_MUTUAL");
    expect(mode(tls, client("shop"))).toBe("ISTIO_MUTUAL");
  });

  it("honours exportTo from the Service's and the root namespace, and never a rule in a fourth namespace", () => {
    const tls = index([
      {
        name: "private",
        namespace: "shop",
        host: "reviews.shop.svc.cluster.local",
        exportTo: ["."],
        trafficPolicy: { tls: { mode: "DISABLE" } },
      },
      { name: "elsewhere", namespace: "tools", host: "reviews.shop.svc.cluster.local", trafficPolicy: { tls: { mode: "SIMPLE" } } },
      {
        name: "mesh-default",
        namespace: "istio-system",
        host: "*.local",
        exportTo: ["web"],
        trafficPolicy: { tls: { mode: "ISTIO_MUTUAL" } },
      },
    ]);
    expect(mode(tls, client("shop"))).toBe("DISABLE");
    expect(mode(tls, client("web"))).toBe("ISTIO_MUTUAL");
    expect(mode(tls, client("other"))).toBe("auto");
  });

  it("expands a short host in the rule's namespace, and takes a dotted one as written (ResolveShortnameToFQDN)", () => {
    expect(
      mode(index([{ name: "r", namespace: "shop", host: "reviews", trafficPolicy: { tls: { mode: "DISABLE" } } }]), client("web")),
    ).toBe("DISABLE");
    expect(
      mode(index([{ name: "r", namespace: "shop", host: "reviews.shop", trafficPolicy: { tls: { mode: "DISABLE" } } }]), client("web")),
    ).toBe("auto");
  });

  it("applies a workloadSelector rule to the pods it selects in its namespace only; without a catch-all there it hides the Service's rule", () => {
    const tls = index([
      {
        name: "canary-client",
        namespace: "web",
        host: "reviews.shop.svc.cluster.local",
        workloadSelector: { matchLabels: { app: "canary" } },
        trafficPolicy: { tls: { mode: "DISABLE" } },
      },
      { name: "reviews", namespace: "shop", host: "reviews", trafficPolicy: { tls: { mode: "ISTIO_MUTUAL" } } },
    ]);
    expect(mode(tls, client("web", { app: "canary" }))).toBe("DISABLE");
    expect(mode(tls, client("web", { app: "frontend" }))).toBe("auto");
    expect(mode(tls, client("other", { app: "canary" }))).toBe("ISTIO_MUTUAL");
  });

  it("merges two rules for one host: the older's trafficPolicy wins whole (destination_rule.go mergeDestinationRule)", () => {
    const tls = index([
      { name: "older", namespace: "shop", host: "reviews", trafficPolicy: { tls: { mode: "DISABLE" } } },
      { name: "newer", namespace: "shop", host: "reviews", trafficPolicy: { tls: { mode: "ISTIO_MUTUAL" } }, subsets: [{ name: "v2" }] },
    ]);
    expect(tls.settingFor(client("web"), reviews, 9080)).toMatchObject({ mode: "DISABLE", rule: { name: "older" } });
    expect(tls.subsetsFor(client("web"), reviews)).toEqual(["v2"]);
  });
});

describe("which TLS a rule sets for a port and a subset (util.go GetPortLevelTrafficPolicy, MergeSubsetTrafficPolicy)", () => {
  const tls = index([
    {
      name: "reviews",
      namespace: "shop",
      host: "reviews",
      trafficPolicy: {
        tls: { mode: "ISTIO_MUTUAL" },
        portLevelSettings: [{ port: { number: 9080 } }, { port: { number: 9090 }, tls: { mode: "DISABLE" } }],
      },
      subsets: [
        { name: "v1", trafficPolicy: { tls: { mode: "SIMPLE" } } },
        { name: "v2", trafficPolicy: { portLevelSettings: [{ port: { number: 9091 }, tls: { mode: "DISABLE" } }] } },
      ],
    },
  ]);
  it("replaces the top level whole with a port entry: one without tls leaves the port to auto mTLS", () => {
    expect([mode(tls, client("web"), 9080), mode(tls, client("web"), 9090), mode(tls, client("web"), 9091)]).toEqual([
      "auto",
      "DISABLE",
      "ISTIO_MUTUAL",
    ]);
  });
  it("gives a subset its own port entry first, then its tls, then the rule's", () => {
    expect(mode(tls, client("web"), 9091, "v1")).toBe("SIMPLE");
    expect(mode(tls, client("web"), 9091, "v2")).toBe("DISABLE");
    expect(mode(tls, client("web"), 9092, "v2")).toBe("ISTIO_MUTUAL");
  });
});

/** web/frontend calls shop/reviews (port 9080 -> 8080); legacy/batch has no sidecar. */
function shop(extra: Partial<RolloutFile>, stages: unknown[]): Rollout {
  return parseRollout({
    namespaces: [{ name: "web", injection: true }, { name: "shop", injection: true }, { name: "legacy" }],
    workloads: [
      { name: "frontend", namespace: "web", image: "f:1", calls: ["shop/reviews"], probe: true },
      { name: "reviews", namespace: "shop", image: "r:1", service: { ports: [{ name: "http", port: 9080, targetPort: 8080 }] } },
      { name: "batch", namespace: "legacy", image: "b:1", service: { ports: [{ name: "http", port: 80, targetPort: 8080 }] } },
    ],
    probes: { namespaces: [], outsideMesh: false },
    ...extra,
    stages,
  });
}
const shopStrict = { name: "shop-strict", peerAuthentications: [{ name: "default", namespace: "shop", mode: "STRICT" }] };
const edge = (r: Rollout, stage: string, to = "shop/reviews") => buildPlan(r, stage).calls.find((e) => e.to === to)!;

describe("what a stage expects, and what its guardrails refuse", () => {
  it("expects a call refused where a rule sends plaintext to a STRICT port, and refuses the stage naming both objects", () => {
    const r = shop(
      { destinationRules: [{ name: "reviews-plain", namespace: "shop", host: "reviews", trafficPolicy: { tls: { mode: "DISABLE" } } }] },
      [{ name: "start" }, shopStrict],
    );
    expect(edge(r, "start")).toMatchObject({
      expect: "plaintext",
      reason: "DestinationRule shop/reviews-plain sends plaintext (tls DISABLE); target port is PERMISSIVE",
    });
    expect(edge(r, "shop-strict")).toMatchObject({
      expect: "refused",
      reason: "DestinationRule shop/reviews-plain sends plaintext (tls DISABLE), and the target port is STRICT",
    });
    const conflicts = checkRollout(r).filter((v) => v.rule === "client-tls-conflicts");
    expect(conflicts).toEqual([
      expect.objectContaining({
        stage: "shop-strict",
        resource: "shop/reviews:8080",
        message: expect.stringMatching(
          /^DestinationRule shop\/reviews-plain sends plaintext \(tls DISABLE\) to reviews\.shop:9080 for clients in \w+, but shop\/reviews:8080 is STRICT \(PeerAuthentication shop\/default\)/,
        ),
      }),
    ]);
    expect(isBlocking(conflicts[0])).toBe(true);
  });

  it("refuses Istio mTLS sent to a workload without a sidecar at every stage, where the application gets a handshake", () => {
    const r = shop(
      { destinationRules: [{ name: "batch-mtls", namespace: "legacy", host: "batch", trafficPolicy: { tls: { mode: "ISTIO_MUTUAL" } } }] },
      [{ name: "start" }],
    );
    const plan = buildPlan(r, "start");
    expect(plan.violations.filter((v) => v.rule === "client-tls-conflicts").map((v) => v.resource)).toEqual(["legacy/batch:8080"]);
  });

  it("follows the mesh config's enableAutoMtls: false, plaintext without a rule, refused at STRICT", () => {
    const r = shop({ enableAutoMtls: false }, [{ name: "start" }, shopStrict]);
    expect(edge(r, "start").expect).toBe("plaintext");
    expect(edge(r, "shop-strict").expect).toBe("refused");
    expect(checkRollout(r).filter((v) => v.rule === "client-tls-conflicts" && v.stage === "shop-strict")).toHaveLength(1);
    // A rule that sends ISTIO_MUTUAL is what makes STRICT work there.
    const fixed = shop(
      {
        enableAutoMtls: false,
        destinationRules: [{ name: "reviews", namespace: "shop", host: "reviews", trafficPolicy: { tls: { mode: "ISTIO_MUTUAL" } } }],
      },
      [{ name: "start" }, shopStrict],
    );
    expect(edge(fixed, "shop-strict").expect).toBe("mtls");
    expect(checkRollout(fixed).filter(isBlocking)).toEqual([]);
  });

  it("sends plaintext by auto mTLS to pods whose tlsMode label is disabled (the injector keeps a pod's own value)", () => {
    const r = parseRollout({
      namespaces: [
        { name: "web", injection: true },
        { name: "shop", injection: true },
      ],
      workloads: [
        { name: "frontend", namespace: "web", image: "f:1", calls: ["shop/reviews"] },
        {
          name: "reviews",
          namespace: "shop",
          image: "r:1",
          labels: { app: "reviews", "security.istio.io/tlsMode": "disabled" },
          service: { ports: [{ port: 9080, targetPort: 8080 }] },
        },
      ],
      probes: { namespaces: [], outsideMesh: false },
      stages: [{ name: "start" }],
    });
    expect(edge(r, "start")).toMatchObject({
      expect: "plaintext",
      reason: "its pods' security.istio.io/tlsMode label is disabled, so auto mTLS sends them plaintext",
    });
  });

  it("accepts a conflict the cluster has today when stage current acknowledges it, and only for that port", () => {
    const rules = {
      destinationRules: [
        { name: "reviews-plain", namespace: "shop", host: "reviews", trafficPolicy: { tls: { mode: "DISABLE" as const } } },
      ],
    };
    const current = {
      name: "current",
      peerAuthentications: [
        {
          name: "reviews-strict",
          namespace: "shop",
          selector: { app: "reviews" },
          mode: "UNSET",
          portLevelMtls: { 8080: "STRICT" },
          existing: true,
        },
      ],
      acknowledgeFindings: [{ rule: "client-tls-conflicts", resource: "shop/reviews:8080", reason: "on the cluster before this rollout" }],
      acknowledgeBrokenCalls: [{ from: "web/frontend", to: "shop/reviews", reason: "broken on the cluster today" }],
    };
    expect(checkRollout(shop(rules, [current])).filter(isBlocking)).toEqual([]);
    // A later stage that makes another port STRICT under the same rule is refused: the acceptance named a port.
    const withAdmin = parseRollout({
      namespaces: [
        { name: "web", injection: true },
        { name: "shop", injection: true },
      ],
      workloads: [
        { name: "frontend", namespace: "web", image: "f:1", calls: ["shop/reviews"] },
        {
          name: "reviews",
          namespace: "shop",
          image: "r:1",
          service: {
            ports: [
              { name: "http", port: 9080, targetPort: 8080 },
              { name: "admin", port: 9090, targetPort: 9090 },
            ],
          },
        },
      ],
      probes: { namespaces: [], outsideMesh: false },
      ...rules,
      stages: [current, shopStrict],
    });
    const blocking = checkRollout(withAdmin).filter(isBlocking);
    expect(blocking.map((v) => `${v.stage} ${v.rule} ${v.resource}`)).toEqual(["shop-strict client-tls-conflicts shop/reviews:9090"]);
  });
});

describe("Istio mTLS to a DISABLE port", () => {
  it("is refused by the guardrail as the model expects it refused", () => {
    const r = shop(
      {
        destinationRules: [{ name: "reviews-mtls", namespace: "shop", host: "reviews", trafficPolicy: { tls: { mode: "ISTIO_MUTUAL" } } }],
      },
      [
        { name: "start" },
        {
          name: "reviews-disable",
          peerAuthentications: [
            { name: "reviews", namespace: "shop", selector: { app: "reviews" }, mode: "DISABLE", allowDisable: "a test" },
          ],
        },
      ],
    );
    expect(edge(r, "reviews-disable").expect).toBe("refused");
    expect(
      checkRollout(r)
        .filter((v) => v.rule === "client-tls-conflicts")
        .map((v) => `${v.stage} ${v.resource}`),
    ).toEqual(["reviews-disable shop/reviews:8080"]);
  });
});

describe("the mesh config's defaultDestinationRuleExportTo", () => {
  it("makes a rule without exportTo private to its namespace when it says `.` (push_context.go initDefaultExportMaps)", () => {
    const rules = [{ name: "reviews", namespace: "shop", host: "reviews", trafficPolicy: { tls: { mode: "DISABLE" as const } } }].map(
      (r, i) => destinationRuleOf(r, `destinationRules[${i}]`),
    );
    const open = new ClientTlsIndex(rules, { meshRootNamespace: "istio-system", enableAutoMtls: true });
    const closed = new ClientTlsIndex(rules, { meshRootNamespace: "istio-system", enableAutoMtls: true, defaultExportTo: ["."] });
    expect(mode(open, client("web"))).toBe("DISABLE");
    expect(mode(closed, client("web"))).toBe("auto");
    expect(mode(closed, client("shop"))).toBe("DISABLE");
  });

  it("is read from the mesh config and written into the discovered file", async () => {
    expect(
      meshConfigsOf([
        {
          metadata: { name: "istio", namespace: "istio-system" },
          data: { mesh: "rootNamespace: istio-system\ndefaultDestinationRuleExportTo: ['.']\n" },
        },
      ]),
    ).toEqual([{ source: "istio-system/istio", rootNamespace: "istio-system", defaultDestinationRuleExportTo: ["."] }]);
    const r = parseRollout({ destinationRulesPrivateByDefault: true, stages: [{ name: "s" }] });
    expect(r.destinationRulesPrivateByDefault).toBe(true);
  });
});
