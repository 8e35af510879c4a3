import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { problemsOf } from "./support/problems";
import { InputError } from "../src/model/errors";
import { parseRollout } from "../src/model/rollout";
import { loadRollout, parseRolloutYaml } from "../src/rollout/load";

const minimal = () => ({
  namespaces: [{ name: "shop", injection: true }],
  workloads: [
    { name: "cart", namespace: "shop", image: "example.com/cart:1.0", service: { ports: [{ port: 80, targetPort: 8080 }] } },
    { name: "client", namespace: "shop", image: "curl:8", probe: true, calls: ["shop/cart"] },
  ],
  stages: [{ name: "strict", peerAuthentications: [{ name: "cart", namespace: "shop", selector: { app: "cart" }, mode: "STRICT" }] }],
});

function withChange(change: (d: any) => void) {
  const data = minimal();
  change(data);
  return problemsOf(data);
}

describe("reading a rollout", () => {
  it("accepts a minimal rollout and fills in the documented defaults", () => {
    const rollout = parseRollout(minimal());
    expect(rollout.meshRootNamespace).toBe("istio-system");
    expect(rollout.workloads[0]).toMatchObject({
      ref: "shop/cart",
      labels: { app: "cart" },
      sidecar: true,
      container: "cart",
      serviceAccount: "cart",
      replicas: 1,
      probe: false,
      services: [{ name: "cart", ports: [{ port: 80, targetPort: 8080, protocol: "TCP" }] }],
    });
    expect(rollout.namespaces[0]).toEqual({ name: "shop", injection: true, existing: false });
  });

  it("reads several Services of one workload from services:, each its own name and ports, and refuses service: beside it", () => {
    const file: Record<string, any> = minimal();
    file.workloads[0] = {
      ...file.workloads[0],
      service: undefined,
      ports: [{ name: "grpc", containerPort: 7070 }],
      services: [
        { name: "cart", ports: [{ name: "http", port: 80, targetPort: 8080 }] },
        { name: "cart-grpc", ports: [{ name: "grpc", port: 7070, targetPort: "grpc" }] },
      ],
    };
    const cart = parseRollout(file).workloads[0];
    expect(cart.services.map((s) => `${s.name}:${s.ports.map((p) => `${p.port}->${p.targetPort}`).join(",")}`)).toEqual([
      "cart:80->8080",
      "cart-grpc:7070->7070",
    ]);
    expect(cart.containerPorts).toEqual([8080, 7070]);
    const both: Record<string, any> = minimal();
    both.workloads[0] = { ...both.workloads[0], services: [{ name: "cart-2", ports: [{ port: 81 }] }] };
    expect(() => parseRollout(both)).toThrow("workloads[0].services: and service both declared: list every Service under services");
    const unnamed: Record<string, any> = minimal();
    unnamed.workloads[0] = {
      ...unnamed.workloads[0],
      service: undefined,
      services: [{ ports: [{ port: 80 }] }, { ports: [{ port: 81 }] }],
    };
    expect(() => parseRollout(unnamed)).toThrow("workloads[0].services[0].name: is required when a workload has more than one Service");
  });

  it("treats default and the mesh root namespace as existing, and takes sidecars from the namespace unless the workload says", () => {
    const rollout = parseRollout({
      meshRootNamespace: "mesh-root",
      namespaces: [{ name: "default" }, { name: "istio-system" }, { name: "team", injection: true }, { name: "mesh-root" }],
      workloads: [
        { name: "a", namespace: "default", image: "a:1", sidecar: true },
        { name: "b", namespace: "team", image: "b:1", sidecar: false },
        { name: "c", namespace: "team", image: "c:1" },
      ],
      stages: [{ name: "s" }],
    });
    expect(rollout.namespaces.map((n) => n.existing)).toEqual([true, true, false, true]);
    expect(rollout.workloads.map((w) => w.sidecar)).toEqual([true, false, true]);
  });

  const cases: [string, (d: any) => void, string][] = [
    ["an unknown key", (d) => (d.workloads[0].colour = "red"), "workloads[0].colour: unknown key"],
    [
      "a misspelt mode",
      (d) => (d.stages[0].peerAuthentications[0].mode = "STRCT"),
      'stages[0].peerAuthentications[0].mode: must be one of UNSET, DISABLE, PERMISSIVE, STRICT (got "STRCT")',
    ],
    ["a wrong type", (d) => (d.namespaces[0].injection = "yes"), 'namespaces[0].injection: must be a boolean (got "yes")'],
    [
      "a missing image",
      (d) => delete d.workloads[0].image,
      "workloads[0].image: is required: the stack deploys this workload (set deploy: false for one that runs already)",
    ],
    [
      "port 0",
      (d) => (d.workloads[0].service.ports[0].port = 0),
      "workloads[0].service.ports[0].port: must be a port from 1 to 65535 (got 0)",
    ],
    [
      "port 65536",
      (d) => (d.workloads[0].service.ports[0].targetPort = 65536),
      "workloads[0].service.ports[0].targetPort: must be a port from 1 to 65535 (got 65536)",
    ],
    [
      "a port-level key that is not a number",
      (d) => (d.stages[0].peerAuthentications[0].portLevelMtls = { http: "STRICT" }),
      'stages[0].peerAuthentications[0].portLevelMtls.http: key must be a port number from 1 to 65535, without leading zeros (got "http")',
    ],
    [
      "port-level mTLS without a selector",
      (d) => {
        delete d.stages[0].peerAuthentications[0].selector;
        d.stages[0].peerAuthentications[0].portLevelMtls = { 8080: "DISABLE" };
      },
      "stages[0].peerAuthentications[0].portLevelMtls: requires a selector: Istio rejects port-level mTLS on a namespace- or mesh-wide policy",
    ],
    [
      "an empty portLevelMtls",
      (d) => (d.stages[0].peerAuthentications[0].portLevelMtls = {}),
      "stages[0].peerAuthentications[0].portLevelMtls: must list at least one port (Istio rejects an empty portLevelMtls)",
    ],
    [
      "a selector with a wildcard",
      (d) => (d.stages[0].peerAuthentications[0].selector = { app: "cart*" }),
      "stages[0].peerAuthentications[0].selector.app: must be a label value: letters, digits, '-', '_' or '.', starting and ending with a letter or digit (got \"cart*\")",
    ],
    [
      "a name with shell metacharacters",
      (d) => (d.workloads[0].name = "cart;rm -rf /"),
      "workloads[0].name: must be a DNS-1123 label (lower-case letters, digits and '-', starting and ending with a letter or digit) (got \"cart;rm -rf /\")",
    ],
    [
      "a label value over 63 characters",
      (d) => (d.workloads[0].labels = { app: "x".repeat(64) }),
      `workloads[0].labels.app: must be at most 63 characters (got "${"x".repeat(64)}")`,
    ],
    [
      "a duplicate workload",
      (d) => d.workloads.push({ ...d.workloads[0] }),
      'workloads[2].name: duplicate workload "shop/cart" (first at workloads[0])',
    ],
    [
      "a workload in an undeclared namespace",
      (d) => (d.workloads[1].namespace = "shopp"),
      'workloads[1].namespace: namespace "shopp" is not declared in namespaces',
    ],
    [
      "a call to a workload that does not exist",
      (d) => (d.workloads[1].calls = ["shop/till"]),
      'workloads[1].calls[0]: "shop/till" is not a declared workload',
    ],
    [
      "a call to a workload without a service",
      (d) => (d.workloads[0].calls = ["shop/client"]),
      'workloads[0].calls[0]: "shop/client" has no service to call',
    ],
    ["a duplicate stage name", (d) => d.stages.push({ name: "strict" }), 'stages[1].name: duplicate stage "strict" (first at stages[0])'],
    [
      "a UDP port, which no sidecar intercepts",
      (d) => (d.workloads[0].service.ports[0].protocol = "UDP"),
      'workloads[0].service.ports[0].protocol: must be TCP: Istio\'s sidecars do not intercept UDP or SCTP (got "UDP")',
    ],
    [
      "a workload with no pods",
      (d) => (d.workloads[0].replicas = 0),
      "workloads[0].replicas: at least one pod: a workload without pods has no behaviour to verify (got 0)",
    ],
    [
      "a pod label with the prefix mtls-rollout reserves",
      (d) => (d.workloads[0].labels = { app: "cart", "mtls-rollout.io/dormant": "true" }),
      'workloads[0].labels: "mtls-rollout.io/dormant" uses the mtls-rollout.io/ prefix, which mtls-rollout reserves (dormant policies select by it)',
    ],
    [
      "a plaintext acknowledgement naming a Service port instead of the workload port",
      (d) => (d.stages[0].acknowledgePlaintext = [{ target: "shop/cart:80", reason: "r" }]),
      'stages[0].acknowledgePlaintext[0].target: "80" is no workload port of shop/cart (it listens on 8080)',
    ],
    [
      "an unverifiable acknowledgement naming an undeclared workload",
      (d) => (d.stages[0].acknowledgeUnverifiable = [{ target: "shop/till:8080", reason: "no access log" }]),
      'stages[0].acknowledgeUnverifiable[0].target: "shop/till" is not a declared workload',
    ],
    [
      "an unverifiable acknowledgement without a port",
      (d) => (d.stages[0].acknowledgeUnverifiable = [{ target: "shop/cart", reason: "no access log" }]),
      'stages[0].acknowledgeUnverifiable[0].target: must be namespace/workload:port (got "shop/cart")',
    ],
    [
      "an unverifiable acknowledgement without a reason",
      (d) => (d.stages[0].acknowledgeUnverifiable = [{ target: "shop/cart:8080", reason: "  " }]),
      'stages[0].acknowledgeUnverifiable[0].reason: must give the reason (got "  ")',
    ],
    [
      "an acknowledged broken call that is not declared",
      (d) => (d.stages[0].acknowledgeBrokenCalls = [{ from: "shop/cart", to: "shop/client", reason: "r" }]),
      'stages[0].acknowledgeBrokenCalls[0]: "shop/cart -> shop/client" is not a declared call',
    ],
    ["an empty stages list", (d) => (d.stages = []), "stages: a rollout needs at least one stage (got [])"],
    [
      "a policy in an undeclared namespace",
      (d) => (d.stages[0].peerAuthentications[0].namespace = "other"),
      'stages[0].peerAuthentications[0].namespace: "other" is neither a declared namespace nor the mesh root namespace "istio-system"',
    ],
    [
      "two workloads whose Services would select each other's pods",
      (d) => (d.workloads[1].labels = { app: "cart", role: "client" }),
      'workloads[0].labels: {"app":"cart"} also select the pods of shop/client; give each workload a distinguishing label',
    ],
    [
      "a Service whose selector also picks the pods of an earlier workload the stack does not deploy",
      (d) =>
        d.workloads.unshift({
          name: "cart-legacy",
          namespace: "shop",
          deploy: false,
          kind: "Deployment",
          sidecar: true,
          labels: { app: "cart" },
        }),
      'workloads[1].labels: {"app":"cart"} also select the pods of shop/cart-legacy; give each workload a distinguishing label',
    ],
    [
      "a multi-port service with an unnamed port",
      (d) => d.workloads[0].service.ports.push({ name: "grpc", port: 90 }),
      "workloads[0].service.ports[0].name: is required when a service has more than one port",
    ],
  ];
  for (const [what, change, message] of cases) {
    it(`rejects ${what}, naming the path and the value`, () => {
      expect(withChange(change)).toEqual([message]);
    });
  }

  it("reports every problem of a file at once, prefixed with the file", () => {
    let error: InputError | undefined;
    try {
      parseRolloutYaml("namespaces: [ { name: Shop } ]\nstages: [ { name: s, extra: 1 } ]\n", "mine.yaml");
    } catch (err) {
      error = err as InputError;
    }
    expect(error?.lines()).toEqual([
      "mine.yaml: namespaces[0].name: must be a DNS-1123 label (lower-case letters, digits and '-', starting and ending with a letter or digit) (got \"Shop\")",
      "mine.yaml: stages[0].extra: unknown key",
    ]);
  });

  it.each([
    ["text that is not YAML", "a: [\n", /^not valid YAML at line 2: unexpected end of the stream within a flow collection$/],
    [
      "duplicate keys",
      "stages: []\nstages: []\n",
      /^not valid YAML at line 2: a duplicate key \("stages: \[\]"\); keys that read the same, such as 8080 and "8080", are one key$/,
    ],
    ["a YAML list instead of a mapping", "- 1\n", /^must be a YAML mapping with namespaces, workloads and stages$/],
    [
      "aliases that expand hugely",
      [
        "a: &a [x, x, x, x, x, x, x, x, x, x]",
        ...Array.from(
          { length: 8 },
          (_, i) =>
            `${"bcdefghi"[i]}: &${"bcdefghi"[i]} [*${"abcdefgh"[i]}, *${"abcdefgh"[i]}, *${"abcdefgh"[i]}, *${"abcdefgh"[i]}, *${"abcdefgh"[i]}, *${"abcdefgh"[i]}, *${"abcdefgh"[i]}, *${"abcdefgh"[i]}, *${"abcdefgh"[i]}, *${"abcdefgh"[i]}]`,
        ),
      ].join("\n"),
      /^expands to more than 1,000,000 values through its aliases, the most a file here may hold$/,
    ],
  ])("rejects %s with one message", (_what, text, message) => {
    let error: InputError | undefined;
    try {
      parseRolloutYaml(text, "f.yaml");
    } catch (err) {
      error = err as InputError;
    }
    expect(error?.problems).toHaveLength(1);
    expect(error?.problems[0].message).toMatch(message);
  });

  it("rejects a file that cannot be read, naming it", () => {
    const missing = path.join(os.tmpdir(), "mtls-rollout-no-such-file.yaml");
    expect(() => loadRollout(missing)).toThrow(`${missing}: cannot be read (ENOENT)`);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mtls-rollout-"));
    expect(() => loadRollout(dir)).toThrow(`${dir}: is not a regular file`);
    expect(() => loadRollout("/dev/zero")).toThrow("/dev/zero: is not a regular file");
  });
});
