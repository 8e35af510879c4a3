/**
 * Where a live cluster stands against a rollout: which stage its PeerAuthentications are at (or the
 * nearest one and how they differ), and the mode Istio computes for every workload port from the live
 * policies, beside what the stage expects. Pure: src/status/run.ts reads the cluster.
 */
import { buildPlan, policiesInForce } from "../model/plan";
import type { PeerAuthentication, Rollout } from "../model/rollout";
import type { ResolvedMode } from "../model/schema";
import { PolicyIndex, scopeOf, selects } from "../model/semantics";

/** A PeerAuthentication as the cluster holds it. */
export interface LivePolicy {
  policy: PeerAuthentication;
  /** metadata.creationTimestamp (RFC 3339): where two compete, Istio applies the oldest. */
  createdAt: string;
  /** A later stage's policy of an mtls-rollout stack, without effect: counted as absent. */
  dormant: boolean;
  /** The stack wrote it (it carries the stage annotation). */
  managed: boolean;
}

export interface Difference {
  kind: "missing" | "extra" | "changed";
  namespace: string;
  name: string;
  /** What differs, in words. */
  detail: string;
}

export interface WorkloadStatus {
  namespace: string;
  name: string;
  sidecar: boolean;
  /** As Istio computes it from the live policies; null without a sidecar. */
  mode: ResolvedMode | null;
  ports: Record<string, ResolvedMode>;
  expected: { mode: ResolvedMode | null; ports: Record<string, ResolvedMode> };
  matches: boolean;
}

export interface Status {
  /** The stage the live policies are exactly at, or null. */
  stage: string | null;
  inSync: boolean;
  /** The stage compared with: the matching one, or the nearest (fewest differences, the later on a tie). */
  comparedWith: string;
  differences: Difference[];
  workloads: WorkloadStatus[];
  /** Live policies of the rollout's namespaces that are dormant (counted as absent). */
  dormant: number;
  warnings: string[];
}

const labelsText = (labels: Record<string, string> | null) =>
  labels === null
    ? "none"
    : Object.entries(labels)
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([k, v]) => `${k}=${v}`)
        .join(",");
const portsText = (ports: Record<number, string> | undefined) =>
  Object.entries(ports ?? {})
    .sort(([a], [b]) => Number(a) - Number(b))
    .map(([p, m]) => `${p}:${m}`)
    .join(" ") || "none";

/** The fields that decide what a policy does, each in words; names of the ones that differ. */
function changes(live: PeerAuthentication, wanted: PeerAuthentication): string[] {
  const out: string[] = [];
  if (live.mode !== wanted.mode) out.push(`mode ${live.mode} (rollout: ${wanted.mode})`);
  if (labelsText(live.selector) !== labelsText(wanted.selector))
    out.push(`selector ${labelsText(live.selector)} (rollout: ${labelsText(wanted.selector)})`);
  if (portsText(live.portLevelMtls) !== portsText(wanted.portLevelMtls))
    out.push(`portLevelMtls ${portsText(live.portLevelMtls)} (rollout: ${portsText(wanted.portLevelMtls)})`);
  return out;
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
    if (!l) out.push({ kind: "missing", namespace: w.namespace, name: w.name, detail: describe(w, rollout.meshRootNamespace) });
    else {
      const what = changes(l.policy, w);
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
      });
  }
  return out.sort((a, b) => a.namespace.localeCompare(b.namespace) || a.name.localeCompare(b.name) || a.kind.localeCompare(b.kind));
}

/** Istio's order among competing policies: the oldest by creationTimestamp, then by name (pilot/pkg/model/config.go). */
const istioOrder = (a: LivePolicy, b: LivePolicy) =>
  a.createdAt.localeCompare(b.createdAt) ||
  a.policy.name.localeCompare(b.policy.name) ||
  a.policy.namespace.localeCompare(b.policy.namespace);

/** The live policies that matter to a rollout: those in its namespaces and the mesh root. */
export function relevant(rollout: Rollout, live: readonly LivePolicy[]): LivePolicy[] {
  const namespaces = new Set([rollout.meshRootNamespace, ...rollout.namespaces.map((n) => n.name)]);
  return live.filter((l) => namespaces.has(l.policy.namespace));
}

/** Live policies Istio ignores because an older one holds the same place (istio-order sorted input). */
function competition(rollout: Rollout, ordered: readonly LivePolicy[]): string[] {
  const out: string[] = [];
  const wide = new Map<string, LivePolicy>();
  for (const l of ordered) {
    if (l.policy.selector !== null) continue;
    const first = wide.get(l.policy.namespace);
    if (!first) wide.set(l.policy.namespace, l);
    else {
      const scope = l.policy.namespace === rollout.meshRootNamespace ? "mesh" : "namespace";
      const which = first.dormant ? ", a dormant one (mode UNSET: it inherits)" : "";
      out.push(
        `Istio ignores ${l.policy.namespace}/${l.policy.name}: a second ${scope}-wide policy, newer than ${first.policy.namespace}/${first.policy.name}${which}, which it applies`,
      );
    }
  }
  for (const w of rollout.workloads.filter((x) => x.sidecar)) {
    const [first, ...others] = ordered.filter(
      (l) => l.policy.namespace === w.namespace && l.policy.selector !== null && selects(l.policy.selector, w.podLabels),
    );
    for (const l of others) {
      out.push(
        `Istio ignores ${l.policy.namespace}/${l.policy.name} for ${w.ref}: the older ${first.policy.namespace}/${first.policy.name} selects it too`,
      );
    }
  }
  return out;
}

export function compareWithRollout(rollout: Rollout, allLive: readonly LivePolicy[]): Status {
  const live = relevant(rollout, allLive);
  const byStage = rollout.stages.map((s) => ({ stage: s.name, differences: differencesAt(rollout, s.name, live) }));
  const fewest = Math.min(...byStage.map((s) => s.differences.length));

  // The modes Istio computes from what is on the cluster: policies in its order, so the first at each level
  // wins. Dormant ones too: a dormant namespace-wide policy is still the namespace's policy to Istio.
  const effectiveLive = [...live].sort(istioOrder);
  const index = new PolicyIndex(
    effectiveLive.map((l) => l.policy),
    rollout.meshRootNamespace,
    "live",
  );
  const liveModes = rollout.workloads.map((w) => {
    const e = index.effective(w);
    return { w, mode: e.mode, ports: Object.fromEntries([...e.ports].map(([p, m]) => [String(p), m])) };
  });
  const workloadsAt = (stage: string) => {
    const expected = new Map(buildPlan(rollout, stage).workloads.map((w) => [`${w.namespace}/${w.name}`, w]));
    return liveModes.map(({ w, mode, ports }): WorkloadStatus => {
      const want = expected.get(w.ref)!;
      return {
        namespace: w.namespace,
        name: w.name,
        sidecar: w.sidecar,
        mode,
        ports,
        expected: { mode: want.mode, ports: want.ports },
        matches: mode === want.mode && JSON.stringify(ports) === JSON.stringify(want.ports),
      };
    });
  };
  // Among the stages with the fewest differences: the one whose modes the cluster has most of, then the later.
  const nearest = byStage
    .filter((s) => s.differences.length === fewest)
    .map((s) => ({ ...s, workloads: workloadsAt(s.stage) }))
    .reduce((best, s) => (s.workloads.filter((w) => w.matches).length >= best.workloads.filter((w) => w.matches).length ? s : best));
  const inSync = nearest.differences.length === 0;
  const workloads = nearest.workloads;

  const warnings: string[] = [];
  const declared = new Set(rollout.stages.flatMap((s) => s.peerAuthentications.map((p) => `${p.namespace}/${p.name}`)));
  for (const l of live) {
    const id = `${l.policy.namespace}/${l.policy.name}`;
    if (
      declared.has(id) &&
      !l.managed &&
      !rollout.stages[0].peerAuthentications.some((p) => `${p.namespace}/${p.name}` === id && p.existing)
    ) {
      warnings.push(
        `${id} is on the cluster, not made by mtls-rollout, and the rollout does not mark it existing: true; the first pulumi up would fail with AlreadyExists`,
      );
    }
  }
  warnings.push(...competition(rollout, effectiveLive));
  return {
    stage: inSync ? nearest.stage : null,
    inSync,
    comparedWith: nearest.stage,
    differences: nearest.differences,
    workloads,
    dormant: live.filter((l) => l.dormant).length,
    warnings,
  };
}
