/**
 * Where a live cluster stands against a rollout: which stage its PeerAuthentications are at (or the nearest one
 * and how they differ), and every workload's live mode, as the model computes it from one reading of the cluster
 * (src/model/live.ts), beside what the stage expects. In sync only when both agree: the policies are exactly a
 * stage's, and Istio gives every workload the modes that stage expects (an older policy Istio applies instead, a
 * pod without its sidecar, a workload not running: each is drift). Pure: src/status/run.ts reads the cluster.
 */
import type { LivePolicy, LiveState } from "../model/live";
import { liveModesAt, type WorkloadStatus } from "../model/liveModes";
import { labelsText, policyChanges, portsText } from "../model/policyChanges";
import { policiesInForce } from "../model/plan";
import type { PeerAuthentication, Rollout, Workload } from "../model/rollout";
import { scopeOf, type EffectiveWorkload } from "../model/semantics";
import { ClientTlsIndex, type DestinationRule } from "../model/clientTls";
import { liveKey } from "../model/live";
import { clientTlsConflicts } from "../model/rules";

export type { LivePolicy } from "../model/live";
export type { WorkloadStatus } from "../model/liveModes";

export interface Difference {
  kind: "missing" | "extra" | "changed";
  namespace: string;
  name: string;
  /** What differs, in words. */
  detail: string;
  /**
   * Who wrote an extra policy, when an mtls-rollout stack did: the stack its annotation names, or "" (a release from
   * before policies named their stack). Another team's policy has none: no destroy of a stack deletes it.
   */
  writtenBy?: string;
  /** A missing policy the stage adopts (`existing: true`): a destroy of the stack leaves adopted policies as they are. */
  adopted?: boolean;
}

export interface Status {
  /** The stage the cluster is exactly at (its policies, and every workload's live modes), or null. */
  stage: string | null;
  /** The stage the cluster should be at (a stack's), when one was named. */
  expectedStage: string | null;
  /** At a stage, and at the expected one when one was named. */
  inSync: boolean;
  /** The stage compared with: the expected one, else the matching one, else the nearest (fewest differences, then most modes as expected, then the later). */
  comparedWith: string;
  /** The stage whose policies the cluster has exactly, if any (its live modes may still differ). */
  policiesAt: string | null;
  differences: Difference[];
  workloads: WorkloadStatus[];
  /** Live policies of the rollout's namespaces that are dormant (counted as absent). */
  dormant: number;
  warnings: string[];
}

const SCOPE_WORDS = {
  mesh: "mesh-wide",
  namespace: "namespace-wide",
  workload: "workload",
  ignored: "ignored by Istio (a selector in the mesh root)",
};

function describe(p: PeerAuthentication, meshRoot: string): string {
  const selector = p.selector ? ` selecting ${labelsText(p.selector)}` : "";
  const ports = p.portLevelMtls ? `, ports ${portsText(p.portLevelMtls)}` : "";
  return `${SCOPE_WORDS[scopeOf(p, meshRoot)]}${selector}, mode ${p.mode}${ports}`;
}

function differencesAt(rollout: Rollout, stage: string, live: readonly LivePolicy[]): Difference[] {
  const wanted = new Map(policiesInForce(rollout, stage).map(({ policy }) => [`${policy.namespace}/${policy.name}`, policy]));
  const present = new Map(live.filter((l) => !l.dormant).map((l) => [`${l.policy.namespace}/${l.policy.name}`, l]));
  const out: Difference[] = [];
  for (const [id, w] of wanted) {
    const l = present.get(id);
    if (!l)
      out.push({
        kind: "missing",
        namespace: w.namespace,
        name: w.name,
        detail: describe(w, rollout.meshRootNamespace),
        ...(w.existing ? { adopted: true } : {}),
      });
    else {
      const what = policyChanges(l.policy, w);
      if (what.length > 0) out.push({ kind: "changed", namespace: w.namespace, name: w.name, detail: what.join("; ") });
    }
  }
  for (const [id, l] of present) {
    if (!wanted.has(id))
      out.push({
        kind: "extra",
        namespace: l.policy.namespace,
        name: l.policy.name,
        detail: describe(l.policy, rollout.meshRootNamespace),
        ...(l.managed ? { writtenBy: l.stack ?? "" } : {}),
      });
  }
  return out.sort((a, b) => a.namespace.localeCompare(b.namespace) || a.name.localeCompare(b.name) || a.kind.localeCompare(b.kind));
}

/** The namespaces whose policies matter to a rollout: its own and the mesh root. */
function rolloutNamespaces(rollout: Rollout): Set<string> {
  return new Set([rollout.meshRootNamespace, ...rollout.namespaces.map((n) => n.name), ...rollout.workloads.map((w) => w.namespace)]);
}

/**
 * A workload in step with a stage: its live modes are the stage's, or it is one the stack deploys and the stack has
 * not run yet (before the first `pulumi up` of a discovered mesh the probe kit is not there, which says nothing about
 * the mesh's policies). Once a policy of the stack is on the cluster, a workload it deploys that is missing is drift.
 */
export const inStep = (w: WorkloadStatus) => w.matches || w.notYet === true;

export interface CompareOptions {
  /** The stage the cluster should be at: in sync only there. */
  stage?: string;
}

export function compareWithRollout(rollout: Rollout, live: LiveState, options: CompareOptions = {}): Status {
  const namespaces = rolloutNamespaces(rollout);
  const policies = live.policies.filter((l) => namespaces.has(l.policy.namespace));
  const byStage = rollout.stages.map((s) => ({ stage: s.name, differences: differencesAt(rollout, s.name, policies) }));

  // Whether the stack has run: a policy it wrote (in force or dormant) is on the cluster.
  const stackApplied = policies.some((l) => l.managed);
  const workloadsAt = (stage: string) =>
    liveModesAt(rollout, live, stage).map((w) => (w.missing && w.deploy && !stackApplied ? { ...w, notYet: true as const } : w));
  const judged = byStage.map((s) => ({ ...s, workloads: workloadsAt(s.stage) }));
  const exact = judged.filter((s) => s.differences.length === 0);
  // Stages whose policies are the same (one that only acknowledges): the one expected, if it is among them.
  const atStage = exact.find((s) => s.stage === options.stage && s.workloads.every(inStep)) ?? exact.find((s) => s.workloads.every(inStep));
  const fewest = Math.min(...judged.map((s) => s.differences.length));
  // Among the stages with the fewest differences: the one whose modes the cluster has most of, then the later.
  const nearest = judged
    .filter((s) => s.differences.length === fewest)
    .reduce((best, s) => (s.workloads.filter((w) => w.matches).length >= best.workloads.filter((w) => w.matches).length ? s : best));
  const compared = options.stage !== undefined ? judged.find((s) => s.stage === options.stage)! : (atStage ?? nearest);

  const warnings: string[] = [];
  if (live.meshRootNamespace !== rollout.meshRootNamespace) {
    warnings.push(
      `the mesh's root namespace is ${live.meshRootNamespace} (${live.meshFacts?.source ?? "its mesh config"}), not ${rollout.meshRootNamespace} as the rollout says: a policy the rollout means mesh-wide is namespace-wide there; set meshRootNamespace: ${live.meshRootNamespace}`,
    );
  }
  // Only a mesh config that was read says what auto mTLS is; none read says nothing of it.
  if (live.meshFacts?.source !== undefined && live.meshFacts.enableAutoMtls !== rollout.enableAutoMtls) {
    warnings.push(
      `the mesh config ${live.meshFacts.enableAutoMtls ? "leaves auto mTLS on" : "turns auto mTLS off"} (enableAutoMtls: ${live.meshFacts.enableAutoMtls}), but the rollout says enableAutoMtls: ${rollout.enableAutoMtls}: the expected outcomes follow the rollout; set it as the cluster has it`,
    );
  }
  warnings.push(...(live.meshFacts?.notes ?? []));
  const declared = new Set(rollout.stages.flatMap((s) => s.peerAuthentications.map((p) => `${p.namespace}/${p.name}`)));
  const adopted = new Set(rollout.stages[0].peerAuthentications.filter((p) => p.existing).map((p) => `${p.namespace}/${p.name}`));
  for (const l of policies) {
    const id = `${l.policy.namespace}/${l.policy.name}`;
    if (declared.has(id) && !l.managed && !adopted.has(id)) {
      warnings.push(
        `${id} is on the cluster, not made by mtls-rollout, and the rollout does not mark it existing: true; the first pulumi up would fail with AlreadyExists`,
      );
    }
  }
  for (const i of live.ignored) {
    if (!namespaces.has(i.policy.policy.namespace)) continue;
    warnings.push(`Istio ignores ${i.policy.policy.namespace}/${i.policy.policy.name}${i.whole ? "" : " in part"}: ${i.reason}`);
  }
  warnings.push(...clientTlsWarnings(rollout, live, compared.workloads));
  const missing = compared.workloads.filter((w) => w.missing && !w.notYet).map((w) => `${w.namespace}/${w.name}`);
  if (missing.length > 0)
    warnings.push(`not on the cluster (no ${missing.length === 1 ? "such controller" : "such controllers"}): ${missing.join(", ")}`);
  const undeployed = compared.workloads.filter((w) => w.notYet).map((w) => `${w.namespace}/${w.name}`);
  if (undeployed.length > 0) warnings.push(`not deployed yet (the stack deploys them on its first pulumi up): ${undeployed.join(", ")}`);
  const idle = compared.workloads.filter((w) => !w.missing && w.pods === 0).map((w) => `${w.namespace}/${w.name}`);
  if (idle.length > 0) warnings.push(`no pod runs, so the live mode is what its template's pods would get: ${idle.join(", ")}`);

  const stage = atStage?.stage ?? null;
  return {
    stage,
    expectedStage: options.stage ?? null,
    inSync: stage !== null && (options.stage === undefined || stage === options.stage),
    comparedWith: compared.stage,
    policiesAt: exact[0]?.stage ?? null,
    differences: compared.differences,
    workloads: compared.workloads,
    dormant: policies.filter((l) => l.dormant).length,
    warnings,
  };
}

const ruleText = (r: DestinationRule) => JSON.stringify({ ...r, origin: undefined });

/**
 * Client-side TLS as the cluster has it: the live DestinationRules against the live modes (a rule that sends
 * plaintext to a port STRICT now, or Istio mTLS to a workload without a sidecar), and whether the rollout's
 * DestinationRules are still the cluster's.
 */
function clientTlsWarnings(rollout: Rollout, live: LiveState, workloads: readonly WorkloadStatus[]): string[] {
  if (!live.destinationRules) return [];
  const out: string[] = [];
  const declared = new Set(rollout.destinationRules.map(ruleText));
  const onCluster = new Set(live.destinationRules.map(ruleText));
  const changed = [
    ...live.destinationRules.filter((r) => !declared.has(ruleText(r))).map((r) => `${r.namespace}/${r.name} (on the cluster)`),
    ...rollout.destinationRules.filter((r) => !onCluster.has(ruleText(r))).map((r) => `${r.namespace}/${r.name} (in the rollout)`),
  ];
  if (changed.length > 0) {
    out.push(
      `the cluster's DestinationRules are not the rollout's: ${changed.slice(0, 5).join(", ")}${changed.length > 5 ? ", …" : ""}; the expected outcomes follow the rollout's: run discover again`,
    );
  }
  if (
    live.meshFacts?.source !== undefined &&
    (live.meshFacts.destinationRulesPrivateByDefault === true) !== rollout.destinationRulesPrivateByDefault
  ) {
    out.push(
      `the mesh config's defaultDestinationRuleExportTo makes a DestinationRule without exportTo ${live.meshFacts.destinationRulesPrivateByDefault ? "private" : "public"}, but the rollout says destinationRulesPrivateByDefault: ${rollout.destinationRulesPrivateByDefault}: run discover again`,
    );
  }
  const tls = new ClientTlsIndex(live.destinationRules, {
    meshRootNamespace: live.meshRootNamespace,
    enableAutoMtls: live.meshFacts?.enableAutoMtls ?? true,
    ...(live.meshFacts?.destinationRulesPrivateByDefault ? { defaultExportTo: ["."] } : {}),
  });
  const byRef = new Map(rollout.workloads.map((w) => [w.ref, w]));
  const effective: EffectiveWorkload<Workload>[] = workloads
    .filter((ws) => !ws.missing)
    .map((ws) => {
      const w = byRef.get(`${ws.namespace}/${ws.name}`)!;
      const group = live.workloads.get(liveKey(w.kind, w.ref))?.groups[0];
      return {
        workload: w,
        mode: ws.mode,
        ports: new Map(Object.entries(ws.ports).map(([p, m]) => [Number(p), m])),
        appliedPolicies: [live.mesh?.policy, live.namespaceWide.get(w.namespace)?.policy, group?.workloadPolicy].filter(
          (p): p is PeerAuthentication => p !== undefined,
        ),
      };
    });
  for (const v of clientTlsConflicts("live", tls, effective)) out.push(`client-side TLS breaks calls now: ${v.message}`);
  return out;
}
