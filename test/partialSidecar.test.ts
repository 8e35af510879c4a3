/**
 * A workload only some of whose pods run a sidecar (injection switched on without a restart): declared
 * `sidecar: partial`, it has one meaning everywhere. Its pods with a sidecar get the modes the policies give, its
 * others are outside the mesh; no stage may make it STRICT (check says how to restart it); status and verify read
 * the cluster as declared, and verify judges each probe by the pod that took it.
 */
import { describe, expect, it } from "vitest";
import * as commands from "../src/cli/commands";
import type { CommandContext } from "../src/cli/command";
import { readLiveState } from "../src/cluster/readLive";
import { liveModesAt, livePodsByWorkload } from "../src/model/liveModes";
import { buildPlan } from "../src/model/plan";
import { parseRollout } from "../src/model/rollout";
import { checkRollout } from "../src/model/rules";
import { loadRollout, parseRolloutYaml } from "../src/rollout/load";
import { discover } from "../src/discover/run";
import { answerFromLists } from "./support/kubectlFromLists";
import { answerKubectl, clusterState, type ClusterState, type Counters } from "./support/fakeCluster";
import { tempFile } from "./support/files";
import { cli } from "./support/inProcessCli";
import { clusterOf, policiesAt } from "./support/labCluster";

const FILE_LINES = [
  "namespaces: [ { name: shop, injection: true, existing: true } ]",
  "workloads:",
  "  - { name: api, namespace: shop, deploy: false, sidecar: partial, service: { ports: [ { name: http, port: 80, targetPort: 8080 } ] } }",
  "  - { name: cart, namespace: shop, deploy: false, sidecar: true, service: { ports: [ { name: http, port: 80, targetPort: 8080 } ] } }",
  "probes: { namespaces: [ shop ] }",
  "stages:",
  "  - name: open",
  "    peerAuthentications: [ { name: default, namespace: shop, mode: PERMISSIVE } ]",
];
const FILE = tempFile("shop.yaml", FILE_LINES);
const rollout = loadRollout(FILE);

describe("sidecar: partial in the rollout file", () => {
  const base = {
    namespaces: [{ name: "shop", injection: true }],
    workloads: [{ name: "api", namespace: "shop", deploy: false, sidecar: "partial" as const }],
    stages: [{ name: "open" }],
  };

  it("gives the pods with a sidecar the policies' modes", () => {
    expect(rollout.workloads.find((w) => w.name === "api")).toMatchObject({ sidecar: true, partial: true });
    expect(buildPlan(rollout, "open").workloads.find((w) => w.name === "api")).toMatchObject({ mode: "PERMISSIVE" });
    expect(parseRollout(base).workloads[0]).toMatchObject({ sidecar: true, partial: true });
  });

  it("is refused on a workload the stack deploys, and any other value is named", () => {
    expect(() => parseRollout({ ...base, workloads: [{ name: "api", namespace: "shop", image: "api:1", sidecar: "partial" }] })).toThrow(
      "workloads[0].sidecar: partial is for a workload running already (deploy: false): the stack deploys every pod alike",
    );
    expect(() => parseRollout({ ...base, workloads: [{ ...base.workloads[0], sidecar: "some" }] })).toThrow(
      'workloads[0].sidecar: must be true, false or partial (got "some")',
    );
  });
});

describe("partial-sidecar-not-strict", () => {
  const strictFile = tempFile("strict.yaml", [
    ...FILE_LINES,
    "  - name: shop-strict",
    "    peerAuthentications: [ { name: default, namespace: shop, mode: STRICT } ]",
  ]);

  it("refuses a stage that makes it STRICT, with the restart that fixes it; check and plan exit 1", async () => {
    const violations = checkRollout(loadRollout(strictFile)).filter((v) => v.rule === "partial-sidecar-not-strict");
    expect(violations).toEqual([
      {
        rule: "partial-sidecar-not-strict",
        level: "mandatory",
        stage: "shop-strict",
        resource: "shop/api",
        message:
          "shop/api would be STRICT on 8080, but only some of its pods run a sidecar (sidecar: partial): plaintext clients would be refused by some pods and served by others. Restart it so that every pod gets the sidecar (kubectl rollout restart -n shop deployment/api), then declare sidecar: true (discover reads it again)",
      },
    ]);
    const check = await cli(["check", "--rollout", strictFile]);
    expect(check.code).toBe(1);
    expect(check.stdout).toContain("partial-sidecar-not-strict");
  });

  it("refuses it for a workload that declares no port: its workload-wide mode is STRICT all the same", () => {
    const noPorts = loadRollout(
      tempFile("no-ports.yaml", [
        "namespaces: [ { name: shop, injection: true, existing: true } ]",
        "workloads: [ { name: api, namespace: shop, deploy: false, sidecar: partial } ]",
        "stages: [ { name: strict, peerAuthentications: [ { name: default, namespace: shop, mode: STRICT } ] } ]",
      ]),
    );
    expect(
      checkRollout(noPorts)
        .filter((v) => v.rule === "partial-sidecar-not-strict")
        .map((v) => v.message),
    ).toEqual([expect.stringMatching(/^shop\/api would be STRICT \(its workload-wide mode\), but only some of its pods run a sidecar/)]);
  });

  it("lets a stage keep it PERMISSIVE with a policy of its own while the rest of the namespace goes STRICT", () => {
    const held = loadRollout(
      tempFile("held.yaml", [
        ...FILE_LINES,
        "  - name: shop-strict",
        "    peerAuthentications:",
        "      - { name: default, namespace: shop, mode: STRICT }",
        "      - { name: api-until-restart, namespace: shop, selector: { app: api }, mode: PERMISSIVE }",
      ]),
    );
    // Nothing blocks; the rollout ends with api's port open, which check points out.
    expect(checkRollout(held).map((v) => `${v.level} ${v.rule} ${v.resource}`)).toEqual(["advisory last-stage-leaves-ports-open shop/api"]);
  });
});

/** The cluster: two pods of each workload that runs already, one of api's without a sidecar; the rest as the stage says. */
function shopCluster(stage: string, tweak: (s: ClusterState) => void = () => {}): ClusterState {
  const { peerauthentications: _, ...lists } = clusterOf(rollout, null, { withoutSidecar: { "shop/api": 1 }, replicas: 2 });
  const state: ClusterState = {
    ...clusterState(rollout, buildPlan(rollout, stage)),
    lists,
    peerAuthentications: policiesAt(rollout, stage),
  };
  tweak(state);
  return state;
}

async function verify(state: ClusterState, timeout = 20) {
  let stdout = "";
  let stderr = "";
  let code = -1;
  const counters: Counters = {};
  const calls: string[][] = [];
  const context: CommandContext = {
    io: { stdout: (t) => (stdout += t), stderr: (t) => (stderr += t), interactive: false, env: {} },
    setExit: (c) => (code = c),
    kubectl: () => async (args) => {
      calls.push(args);
      return answerKubectl(args, state, counters);
    },
  };
  await commands.verify(
    { stage: "open", rollout: FILE, timeout, rounds: 1, concurrency: 2, settle: 0, matrix: "classes", json: true },
    context,
  );
  const result = JSON.parse(stdout) as {
    outcome: string;
    edges: { from: string; to: string; observed: string; verdict: string; evidence: string }[];
  };
  return { code, stderr, calls, edge: (from: string, to: string) => result.edges.find((e) => e.from === from && e.to === to)! };
}

describe("a partly injected workload on the cluster", () => {
  it("is in sync as declared: its pod without a sidecar is outside the mesh, the other gets the stage's mode", async () => {
    const state = shopCluster("open");
    const live = await readLiveState(rollout, async (args) => answerKubectl(args, state, {}), 5_000);
    if ("error" in live) throw new Error(live.error);
    const api = liveModesAt(rollout, live, "open").find((w) => w.name === "api")!;
    expect(api.matches).toBe(true);
    expect(api.groups).toHaveLength(2);
    expect(api.groups).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ pods: 1, sidecar: true, mode: "PERMISSIVE" }),
        expect.objectContaining({ pods: 1, sidecar: false, mode: null }),
      ]),
    );
    expect(livePodsByWorkload(rollout, live).get("shop/api")).toEqual({ withSidecar: [expect.stringMatching(/^api-/)], withoutSidecar: 1 });
    // Declared with a sidecar on every pod, the same cluster drifts.
    const declaredWhole = loadRollout(
      tempFile(
        "whole.yaml",
        FILE_LINES.map((l) => l.replace("sidecar: partial", "sidecar: true")),
      ),
    );
    const whole = await readLiveState(declaredWhole, async (args) => answerKubectl(args, state, {}), 5_000);
    if ("error" in whole) throw new Error(whole.error);
    expect(liveModesAt(declaredWhole, whole, "open").find((w) => w.name === "api")!.matches).toBe(false);
  });

  it("verify reads the sidecars of its pods that have one, and judges a probe the pod without one took by that pod", async () => {
    // api's pod with a sidecar counts what it takes (cart calls it), so nothing counted for a probe means the other pod.
    const counting = (s: ClusterState) => {
      s.answeredWithoutSidecar = ["shop/api"];
      s.traffic = [{ from: "shop/cart", to: "shop/api", policy: "mutual_tls" }];
    };
    const inside = await verify(shopCluster("open", counting));
    expect(inside.code, inside.stderr).toBe(0);
    // From the probe with a sidecar: the model expects mTLS of the pods with one; the pod without one took it.
    expect(inside.edge("shop/mtls-probe", "shop/api")).toMatchObject({
      observed: "plaintext",
      verdict: "holds",
      evidence:
        "HTTP 200; none of the 1 pods of shop/api with a sidecar counted it: one of its 1 pods without a sidecar took it, in plaintext",
    });
    // Its counters are read from its pod with a sidecar by name, never through the Deployment (which may pick the other).
    const reads = inside.calls.filter((a) => a[0] === "exec" && a.includes("istio-proxy") && a[2] === "shop" && a[3].includes("api"));
    expect(reads.length).toBeGreaterThan(0);
    expect(reads.every((a) => /^pod\/api-/.test(a[3]))).toBe(true);
  });

  it("verify draws no such conclusion where the pods with a sidecar count nothing at all (their metrics off)", async () => {
    const silent = await verify(
      shopCluster("open", (s) => {
        s.answeredWithoutSidecar = ["shop/api"];
        s.silentServers = ["shop/api"];
      }),
      5,
    );
    expect(silent.code).toBe(3);
    expect(silent.edge("shop/mtls-probe", "shop/api")).toMatchObject({ verdict: "inconclusive" });
    expect(silent.edge("shop/mtls-probe", "shop/api").evidence).toMatch(
      /no evidence obtainable: shop\/api counted no request from shop\/mtls-probe/,
    );
  });

  it("verify reads mTLS from the pod with a sidecar when it takes the probe", async () => {
    const run = await verify(shopCluster("open"));
    expect(run.code, run.stderr).toBe(0);
    expect(run.edge("shop/mtls-probe", "shop/api")).toMatchObject({ observed: "mtls", verdict: "holds" });
  });
});

describe("discover holding a partly injected workload back", () => {
  const discovered = async (lines: string[]) => {
    const truth = loadRollout(tempFile("truth.yaml", lines));
    const lists = clusterOf(truth, "as-it-runs", { withoutSidecar: { "web/api": 1 }, replicas: 2 });
    const r = await discover({
      runner: async (args) => ({ ...answerFromLists(args, (l) => lists[l]), timedOut: false }),
      meshRootNamespace: "istio-system",
      callTimeoutMs: 10_000,
    });
    if (!("yaml" in r)) throw new Error(JSON.stringify(r));
    return { yaml: r.yaml, rollout: parseRolloutYaml(r.yaml, "discovered.yaml") };
  };
  const base = [
    "namespaces: [ { name: web, injection: true, existing: true } ]",
    "workloads:",
    "  - { name: api, namespace: web, deploy: false, sidecar: partial, service: { ports: [ { name: http, port: 8080 } ] } }",
    "  - { name: cart, namespace: web, deploy: false, sidecar: true, service: { ports: [ { name: http, port: 8080 } ] } }",
  ];

  it("names the hold so that it takes no live policy's name", async () => {
    const { rollout } = await discovered([
      ...base,
      "stages:",
      "  - name: as-it-runs",
      "    peerAuthentications: [ { name: api-until-restart, namespace: web, selector: { app: cart }, mode: PERMISSIVE } ]",
    ]);
    const web = rollout.stages.find((s) => s.name === "web-strict")!;
    expect(web.peerAuthentications.map((p) => `${p.name} ${JSON.stringify(p.selector)} ${p.mode}`)).toEqual([
      "default null STRICT",
      'api-until-restart-2 {"app":"api"} PERMISSIVE',
    ]);
  });

  it("holds nothing whose labels also select another workload, and says why the stage is not proposed", async () => {
    const { rollout, yaml } = await discovered([
      // api's labels are a subset of its canary's: it runs no Service of its own, or the file could not hold it.
      "namespaces: [ { name: web, injection: true, existing: true } ]",
      "workloads:",
      "  - { name: api, namespace: web, deploy: false, sidecar: partial, ports: [ 8080 ] }",
      "  - { name: cart, namespace: web, deploy: false, sidecar: true, service: { ports: [ { name: http, port: 8080 } ] } }",
      "  - { name: api-canary, namespace: web, deploy: false, sidecar: true, labels: { app: api, track: canary }, service: { ports: [ { name: http, port: 8080 } ] } }",
      "stages: [ { name: as-it-runs } ]",
    ]);
    expect(rollout.stages.map((s) => s.name)).not.toContain("web-strict");
    expect(yaml).toContain("cannot be held PERMISSIVE alone while its namespace goes STRICT: its labels also select web/api-canary");
    expect(yaml).toMatch(/proposed stage web-strict: not proposed, it would break partial-sidecar-not-strict/);
  });
});
