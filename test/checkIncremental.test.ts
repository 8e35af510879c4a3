/**
 * `check` evaluates each stage on what it changes (src/model/rules.ts, checkRollout): the namespaces whose policies
 * changed, with the callers into them, the rest keeping their findings. It must find exactly what evaluating every
 * stage whole finds: checked here on rollouts with calls across namespaces, a root that changes, acknowledgements,
 * DestinationRules and partly injected workloads.
 */
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { parseRollout, clientTlsOf, type Rollout } from "../src/model/rollout";
import { checkRollout, evaluateStage } from "../src/model/rules";
import { acknowledgementsInForceAt, findingAcknowledgementsAt, policiesInForceAt } from "../src/model/stages";
import { loadRollout } from "../src/rollout/load";

/** Every stage evaluated whole, as `check` did before: the findings of each stage's own rules. */
function wholeStages(rollout: Rollout): string[] {
  return rollout.stages.flatMap((stage, i) =>
    evaluateStage({
      stage: stage.name,
      meshRootNamespace: rollout.meshRootNamespace,
      policies: policiesInForceAt(rollout, i).map((p) => p.policy),
      workloads: rollout.workloads,
      acknowledgeBrokenCalls: acknowledgementsInForceAt(rollout, i),
      acknowledgeFindings: findingAcknowledgementsAt(rollout, i),
      clientTls: clientTlsOf(rollout),
    }).violations.map((v) => `${v.stage} ${v.rule} ${v.resource} ${v.acknowledged ?? ""} ${v.message}`),
  );
}
const incremental = (rollout: Rollout) =>
  checkRollout(rollout)
    .filter((v) => v.rule !== "stage-order" && v.rule !== "last-stage-leaves-ports-open")
    .map((v) => `${v.stage} ${v.rule} ${v.resource} ${v.acknowledged ?? ""} ${v.message}`);

/** Namespaces a..e, two workloads each, calling across; stages that touch one namespace, the root, or several. */
function tangled(): Rollout {
  const ns = ["a", "b", "c", "d", "e"];
  return parseRollout({
    destinationRules: [{ name: "c-plain", namespace: "c", host: "x", trafficPolicy: { tls: { mode: "DISABLE" } } }],
    namespaces: ns.map((n) => ({ name: n, existing: true })),
    workloads: ns.flatMap((n, i) => [
      {
        name: "x",
        namespace: n,
        deploy: false,
        sidecar: n === "e" ? "partial" : true,
        calls: [`${ns[(i + 1) % ns.length]}/y`],
        service: { ports: [{ name: "http", port: 80, targetPort: 8080 }] },
      },
      {
        name: "y",
        namespace: n,
        deploy: false,
        sidecar: n !== "b",
        // b's y has no sidecar: its calls into a and c are refused once those go STRICT, and stay so.
        calls: [`${ns[(i + 2) % ns.length]}/x`, ...(n === "b" ? ["a/x", "c/y"] : [])],
        service: { ports: [{ name: "tcp", port: 5432 }] },
      },
    ]),
    probes: { namespaces: ["a"] },
    stages: [
      { name: "current", peerAuthentications: [{ name: "default", namespace: "istio-system", mode: "PERMISSIVE", existing: true }] },
      { name: "a-strict", peerAuthentications: [{ name: "default", namespace: "a", mode: "STRICT" }] },
      {
        name: "b-strict",
        peerAuthentications: [{ name: "default", namespace: "b", mode: "STRICT" }],
        acknowledgeBrokenCalls: [{ from: "a/x", to: "b/y", reason: "known" }],
      },
      { name: "c-y-strict", peerAuthentications: [{ name: "y", namespace: "c", selector: { app: "y" }, mode: "STRICT" }] },
      { name: "mesh-strict", peerAuthentications: [{ name: "default", namespace: "istio-system", mode: "STRICT" }] },
      { name: "d-loosens", peerAuthentications: [{ name: "default", namespace: "d", mode: "PERMISSIVE" }] },
      { name: "c-y-retired", retire: [{ namespace: "c", name: "y" }] },
      {
        name: "c-e-strict",
        peerAuthentications: [
          { name: "default", namespace: "c", mode: "STRICT" },
          { name: "default", namespace: "e", mode: "STRICT" },
        ],
      },
    ],
  });
}

describe("check on what each stage changes", () => {
  it.each([
    ["the lab", () => loadRollout(path.join(__dirname, "..", "stages", "lab.yaml"))],
    ["an own mesh", () => loadRollout(path.join(__dirname, "fixtures", "rollouts", "own-mesh.yaml"))],
    ["namespaces calling across, a changing root, acknowledgements, a DestinationRule, a partial workload", tangled],
  ])("finds what evaluating every stage whole finds: %s", (_, rollout) => {
    const r = rollout();
    expect([...incremental(r)].sort()).toEqual([...wholeStages(r)].sort());
  });

  it("is tested on a rollout with findings at many stages, in changed namespaces and unchanged ones", () => {
    const stages = new Set(wholeStages(tangled()).map((f) => f.split(" ")[0]));
    expect([...stages]).toEqual(
      tangled()
        .stages.slice(1)
        .map((st) => st.name),
    );
  });
});
