/**
 * What Istio makes of a live cluster: which PeerAuthentication it applies at each level and every workload's and
 * port's mode, computed once from one reading of the cluster, for every command (discover's stage `current`,
 * status, the gate's `--previous live`, verify). Pure: src/cluster reads the cluster and turns its objects into
 * these inputs.
 *
 * What it follows (istio/istio 1.29, pilot/pkg/model and pilot/pkg/security/authn; test/fixtures/SOURCES.md):
 * - Competing policies are ordered by creationTimestamp, then name, then namespace (`sortConfigByCreationTime`);
 *   the first holds its place: one selector-less policy per namespace (the mesh's in the root namespace), one
 *   selector policy per workload (`ComposePeerAuthentication`). Newer ones are skipped.
 * - Every policy on the cluster takes part, a dormant one of an mtls-rollout stack included: to Istio it is a
 *   policy like any other (mode UNSET, inheriting; selecting a label no pod has), and when it is the oldest of its
 *   namespace it is the one Istio applies there.
 * - A selector policy in the root namespace is ignored; an empty selector is selector-less.
 * - Selectors match the labels of each live pod (`GetProxyWorkloadLabels`), so pods of one workload can differ;
 *   a pod without a sidecar has no mode at all.
 */
import type { DestinationRule } from "./clientTls";
import type { MeshWorkload, PeerAuthentication } from "./rollout";
import type { ResolvedMode } from "./schema";
import { PolicyIndex, scopeOf } from "./semantics";

/** A PeerAuthentication as the cluster holds it. */
export interface LivePolicy {
  policy: PeerAuthentication;
  /** metadata.creationTimestamp, in epoch milliseconds. */
  createdAt: number;
  /** A later stage's policy of an mtls-rollout stack (marked so, UNSET, selecting nothing or namespace-wide). */
  dormant: boolean;
  /** An mtls-rollout stack wrote it (it carries the stage annotation). */
  managed: boolean;
  /** That annotation: the stage whose declaration it is (in force), or the first stage that declares it (dormant). */
  stage?: string;
  /** The stack adopted it: it was on the cluster before the stack. */
  adopted?: boolean;
  /** The stack that wrote it (`organization/project/stack`); absent where none says so (a version before it did). */
  stack?: string;
  /** Another tool that manages it (Helm, Argo CD, Flux, a Pulumi stack), from its labels and annotations. */
  owner?: string;
}

export interface LivePod {
  name: string;
  labels: Record<string, string>;
  /** Its spec runs Istio's proxy (a container, or a native sidecar init container). */
  sidecar: boolean;
}

/** A workload as the cluster runs it: a controller's pods, or pods grouped by their owner (a Job, a bare pod). */
export interface LiveWorkload {
  /** `namespace/name` */
  ref: string;
  namespace: string;
  name: string;
  /** Deployment, StatefulSet, DaemonSet; for pods no such controller owns: Job, CronJob, ReplicaSet, Pod, … */
  kind: string;
  /** The pods Istio sends traffic to: neither finished nor terminating. */
  pods: LivePod[];
  /** What a pod would be, from the controller's template: stands for the pods when none runs. */
  template?: { labels: Record<string, string>; sidecar: boolean };
  /** The ports whose mode is wanted: its containers' ports, or those a rollout file declares for it. */
  ports: number[];
}

/** Pods of one workload to which the same policies apply in the same way. */
export interface PodGroup {
  pods: string[];
  sidecar: boolean;
  /** null without a sidecar. */
  mode: ResolvedMode | null;
  /** Each of the workload's ports; empty without a sidecar. */
  ports: Record<string, ResolvedMode>;
  /** The workload-level policy that applies, if any. */
  workloadPolicy?: PeerAuthentication;
}

export interface LiveWorkloadState {
  workload: LiveWorkload;
  /** Its pods by what applies to them (one group when they agree); from the template when no pod runs. */
  groups: PodGroup[];
  /** No pod runs: the one group is what the template's pods would get. */
  predicted: boolean;
}

/** A live policy Istio does not apply (or applies to fewer workloads than it selects), and why. */
export interface IgnoredPolicy {
  policy: LivePolicy;
  /** Istio applies it to nothing. */
  whole: boolean;
  reason: string;
}

/** What the cluster's mesh config says, where it was read, and what could not be told. */
export interface MeshFacts {
  /** `namespace/name` of the ConfigMap the root namespace came from; undefined when none was read. */
  source?: string;
  /** False when the mesh config turns auto mTLS off (clients then send what their DestinationRules say). */
  enableAutoMtls: boolean;
  /** Whether a DestinationRule without exportTo is private to its namespace (the mesh config's default says `.`). */
  destinationRulesPrivateByDefault?: boolean;
  notes: string[];
}

export interface LiveState {
  /** The root namespace Istio uses: the mesh config's, else the one assumed. */
  meshRootNamespace: string;
  meshFacts?: MeshFacts;
  /** The cluster's DestinationRules, in Istio's order, when they were read. */
  destinationRules?: DestinationRule[];
  /** Every live policy, in Istio's order. */
  policies: LivePolicy[];
  /** The mesh-wide policy Istio applies. */
  mesh?: LivePolicy;
  /** The namespace-wide policy Istio applies in each namespace that has one. */
  namespaceWide: Map<string, LivePolicy>;
  /** Workload policies Istio applies to at least one pod, with the workloads they apply to. */
  workloadPolicies: Map<LivePolicy, string[]>;
  ignored: IgnoredPolicy[];
  /** By liveKey(kind, ref): a Deployment and a StatefulSet may share a name. */
  workloads: Map<string, LiveWorkloadState>;
  /** The policies as Istio indexes them: the auto-mTLS mode of a namespace's services, and modes of other workloads. */
  index: PolicyIndex;
}

const ref = (p: PeerAuthentication) => `${p.namespace}/${p.name}`;

/** A live workload's key: its kind and `namespace/name`. */
export const liveKey = (kind: string, workloadRef: string) => `${kind} ${workloadRef}`;

/** Istio's order among policies: the older first, then by name, then by namespace (`sortConfigByCreationTime`). */
export function istioOrder(a: LivePolicy, b: LivePolicy): number {
  if (a.createdAt !== b.createdAt) return a.createdAt < b.createdAt ? -1 : 1;
  const name = compareStrings(a.policy.name, b.policy.name);
  return name !== 0 ? name : compareStrings(a.policy.namespace, b.policy.namespace);
}

/** Go's string comparison (cmp.Compare on strings): by code unit, not by locale. */
function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

const groupKey = (g: Omit<PodGroup, "pods">) =>
  JSON.stringify([g.sidecar, g.mode, Object.entries(g.ports), g.workloadPolicy ? ref(g.workloadPolicy) : null]);

/**
 * Which policy Istio applies at each level of the live cluster, and what that makes of every workload's pods.
 * `workloads` are the ones whose modes are wanted; policies apply the same whether or not a workload is asked about.
 */
export function resolveLive(policies: readonly LivePolicy[], workloads: readonly LiveWorkload[], meshRootNamespace: string): LiveState {
  const ordered = [...policies].sort(istioOrder);
  const byPolicy = new Map(ordered.map((l) => [l.policy, l]));
  const index = new PolicyIndex(
    ordered.map((l) => l.policy),
    meshRootNamespace,
    "live",
  );
  const ignored: IgnoredPolicy[] = [];

  // Selector-less policies: the first of each namespace (the root's is the mesh's) holds its place.
  const namespaceWide = new Map<string, LivePolicy>();
  let mesh: LivePolicy | undefined;
  for (const l of ordered) {
    const scope = scopeOf(l.policy, meshRootNamespace);
    if (scope === "ignored") {
      ignored.push({
        policy: l,
        whole: true,
        reason: `a selector policy in the mesh root namespace ${meshRootNamespace}, which Istio ignores`,
      });
      continue;
    }
    if (scope === "workload") continue;
    const first = scope === "mesh" ? mesh : namespaceWide.get(l.policy.namespace);
    if (first) {
      const which = first.dormant ? ", a dormant one of an mtls-rollout stack (mode UNSET: it inherits)" : "";
      ignored.push({
        policy: l,
        whole: true,
        reason: `a second ${scope}-wide policy, newer than ${ref(first.policy)}${which}, which Istio applies instead`,
      });
    } else if (scope === "mesh") mesh = l;
    else namespaceWide.set(l.policy.namespace, l);
  }

  // Workload policies, pod by pod: the oldest selecting a pod applies to it; the others are skipped for it.
  const appliedTo = new Map<LivePolicy, Set<string>>();
  const shadowed = new Map<LivePolicy, { by: Set<string>; workloads: Set<string> }>();
  const states = new Map<string, LiveWorkloadState>();
  for (const w of workloads) {
    const pods = w.pods.length > 0 ? w.pods : w.template ? [{ name: "(template)", ...w.template }] : [];
    const groups = new Map<string, PodGroup>();
    for (const pod of pods) {
      let group: Omit<PodGroup, "pods">;
      if (!pod.sidecar) group = { sidecar: false, mode: null, ports: {} };
      else {
        const matching = index.workloadPolicies.selecting(w.namespace, pod.labels);
        const [first, ...others] = matching;
        if (first) {
          const live = byPolicy.get(first)!;
          appliedTo.set(live, (appliedTo.get(live) ?? new Set()).add(w.ref));
          for (const other of others) {
            const entry = shadowed.get(byPolicy.get(other)!) ?? { by: new Set<string>(), workloads: new Set<string>() };
            entry.by.add(ref(first));
            entry.workloads.add(w.ref);
            shadowed.set(byPolicy.get(other)!, entry);
          }
        }
        const asWorkload: MeshWorkload = {
          ref: w.ref,
          namespace: w.namespace,
          name: w.name,
          podLabels: pod.labels,
          sidecar: true,
          containerPorts: w.ports,
          calls: [],
          services: [],
        };
        const e = index.resolve(asWorkload, first);
        group = {
          sidecar: true,
          mode: e.mode,
          ports: Object.fromEntries([...e.ports].map(([port, mode]) => [String(port), mode])),
          ...(first ? { workloadPolicy: first } : {}),
        };
      }
      const key = groupKey(group);
      const existing = groups.get(key);
      if (existing) existing.pods.push(pod.name);
      else groups.set(key, { ...group, pods: [pod.name] });
    }
    // The largest group first: what most of its pods get.
    const sorted = [...groups.values()].sort((a, b) => b.pods.length - a.pods.length);
    states.set(liveKey(w.kind, w.ref), { workload: w, groups: sorted, predicted: w.pods.length === 0 });
  }

  for (const [l, entry] of shadowed) {
    const whole = !appliedTo.has(l);
    const by = [...entry.by].sort().join(", ");
    ignored.push({
      policy: l,
      whole,
      reason: whole
        ? `every workload it selects is selected by the older ${by}, which Istio applies instead`
        : `Istio applies the older ${by} instead to ${[...entry.workloads].sort().join(", ")}`,
    });
  }
  ignored.sort((a, b) => istioOrder(a.policy, b.policy));
  const workloadPolicies = new Map([...appliedTo].sort(([a], [b]) => istioOrder(a, b)).map(([l, refs]) => [l, [...refs].sort()]));
  return { meshRootNamespace, policies: ordered, mesh, namespaceWide, workloadPolicies, ignored, workloads: states, index };
}

/** The mode Istio gives a workload's port on every pod, or undefined when its pods differ (or none runs and no template says). */
export function portModeOnEveryPod(state: LiveWorkloadState | undefined, port: number): ResolvedMode | null | undefined {
  if (!state || state.groups.length === 0) return undefined;
  const modes = new Set(state.groups.map((g) => (g.sidecar ? g.ports[String(port)] : null)));
  return modes.size === 1 ? [...modes][0] : undefined;
}
