/**
 * Istio's PeerAuthentication semantics, as istiod computes them (see test/fixtures/SOURCES.md for the
 * sources: `ComposePeerAuthentication`, `BestEffortInferServiceMTLSMode`, `checkMtlsEnabled`).
 */
import { Problem, describeValue } from "./errors";
import type { MeshWorkload, PeerAuthentication } from "./rollout";
import { ClientTlsIndex, noClientTls } from "./clientTls";
import type { MtlsMode, ResolvedMode } from "./schema";

export type Scope = "mesh" | "namespace" | "workload" | "ignored";

/** R1/R2: a selector-less policy is namespace-wide, or mesh-wide in the root namespace; selector policies there are ignored. */
export function scopeOf(pa: Pick<PeerAuthentication, "namespace" | "selector">, meshRootNamespace: string): Scope {
  if (pa.selector === null) return pa.namespace === meshRootNamespace ? "mesh" : "namespace";
  return pa.namespace === meshRootNamespace ? "ignored" : "workload";
}

export function selects(selector: Record<string, string>, podLabels: Record<string, string>): boolean {
  // A label value is a string: a key the pod does not have (or an inherited member of Object) never equals it.
  for (const k in selector) if (podLabels[k] !== selector[k]) return false;
  return true;
}

/** Policies with one selector, in one namespace: they select the same pods, so they are matched once. */
export interface SelectorGroup {
  namespace: string;
  selector: Record<string, string>;
  /** In the order given (declaration order: the older first). */
  policies: PeerAuthentication[];
}

/** A policy's namespace and selector as one string: policies with equal ones select the same pods. */
const selectorIds = new WeakMap<PeerAuthentication, string>();
function selectorId(pa: PeerAuthentication): string {
  let id = selectorIds.get(pa);
  if (id === undefined) {
    const pairs = Object.entries(pa.selector ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    // Remembered per policy object: a rollout's policies are the same objects at every stage they are in force.
    selectorIds.set(pa, (id = `${pa.namespace}\u0000${JSON.stringify(pairs)}`));
  }
  return id;
}

/** One namespace's selectors: those filed under a label pair, and those with no pair (an empty selector). */
interface NamespaceSelectors {
  byPair: Map<string, Map<string, SelectorGroup[]>>;
  unconditional: SelectorGroup[];
}

/**
 * Workload policies indexed for lookup by a pod's labels in near-linear time: each distinct selector is filed
 * once, under the label pair fewest selectors of its namespace share, so a pod's lookup only tries the
 * selectors filed under one of its own labels (a selector matches only a pod that has every one of its pairs).
 * A lookup is remembered per label set, since a stage asks about each workload more than once.
 */
class SelectorIndex {
  private readonly namespaces = new Map<string, NamespaceSelectors>();
  private readonly groupByPolicy = new Map<PeerAuthentication, SelectorGroup>();
  private readonly position = new Map<PeerAuthentication, number>();
  private readonly remembered = new WeakMap<Record<string, string>, { namespace: string; groups: SelectorGroup[] }>();

  constructor(policies: readonly PeerAuthentication[]) {
    const groups = new Map<string, SelectorGroup>();
    policies.forEach((pa, i) => {
      this.position.set(pa, i);
      const id = selectorId(pa);
      let group = groups.get(id);
      if (!group) groups.set(id, (group = { namespace: pa.namespace, selector: pa.selector ?? {}, policies: [] }));
      group.policies.push(pa);
      this.groupByPolicy.set(pa, group);
    });
    // How many selectors of the namespace share each pair.
    const shared = new Map<string, number>();
    const pairKey = (g: SelectorGroup, k: string, v: string) => `${g.namespace}\u0000${k}\u0000${v}`;
    for (const g of groups.values()) {
      for (const [k, v] of Object.entries(g.selector)) shared.set(pairKey(g, k, v), (shared.get(pairKey(g, k, v)) ?? 0) + 1);
    }
    for (const g of groups.values()) {
      let ns = this.namespaces.get(g.namespace);
      if (!ns) this.namespaces.set(g.namespace, (ns = { byPair: new Map(), unconditional: [] }));
      let filed: [string, string] | undefined;
      let fewest = Infinity;
      for (const [k, v] of Object.entries(g.selector)) {
        const n = shared.get(pairKey(g, k, v))!;
        if (n < fewest) [fewest, filed] = [n, [k, v]];
      }
      if (!filed) {
        ns.unconditional.push(g);
        continue;
      }
      let byValue = ns.byPair.get(filed[0]);
      if (!byValue) ns.byPair.set(filed[0], (byValue = new Map()));
      const list = byValue.get(filed[1]);
      if (list) list.push(g);
      else byValue.set(filed[1], [g]);
    }
  }

  groupOf(pa: PeerAuthentication): SelectorGroup | undefined {
    return this.groupByPolicy.get(pa);
  }

  /** The groups whose selector the labels satisfy, in the namespace. */
  groupsSelecting(namespace: string, podLabels: Record<string, string>): SelectorGroup[] {
    const known = this.remembered.get(podLabels);
    if (known && known.namespace === namespace) return known.groups;
    const ns = this.namespaces.get(namespace);
    const groups: SelectorGroup[] = [];
    if (ns) {
      // An empty selector (never from a rollout file, which reads it as namespace-wide) is filed under no pair.
      groups.push(...ns.unconditional);
      for (const k in podLabels) {
        const filed = ns.byPair.get(k)?.get(podLabels[k]);
        if (filed) for (const g of filed) if (selects(g.selector, podLabels)) groups.push(g);
      }
    }
    this.remembered.set(podLabels, { namespace, groups });
    return groups;
  }

  /** The policies selecting the labels, the first declared first. */
  selecting(namespace: string, podLabels: Record<string, string>): PeerAuthentication[] {
    const groups = this.groupsSelecting(namespace, podLabels);
    if (groups.length === 0) return [];
    if (groups.length === 1) return groups[0].policies;
    return groups.flatMap((g) => g.policies).sort((a, b) => this.position.get(a)! - this.position.get(b)!);
  }

  /** Declaration order, to tell the older of two policies. */
  positionOf(pa: PeerAuthentication): number {
    return this.position.get(pa)!;
  }
}

/**
 * Policies in the order Istio applies competing ones (the older first, `sortConfigByCreationTime`) as far as a
 * rollout knows it: adopted policies (on the cluster before the stack, listed as Istio orders them) before those
 * the stack creates, each as declared.
 */
export function inIstioOrder<P extends Pick<PeerAuthentication, "existing">>(policies: readonly P[]): P[] {
  return policies.some((p) => !p.existing) && policies.some((p) => p.existing)
    ? [...policies.filter((p) => p.existing), ...policies.filter((p) => !p.existing)]
    : [...policies];
}

/** R4/R5: UNSET inherits the parent's mode. */
function inherit(parent: ResolvedMode, mode: MtlsMode | undefined): ResolvedMode {
  return mode === undefined || mode === "UNSET" ? parent : mode;
}

export interface EffectiveWorkload<W extends MeshWorkload = MeshWorkload> {
  workload: W;
  /** null for a workload without sidecar: no Istio policy applies to it. */
  mode: ResolvedMode | null;
  /** Effective mode of every declared target port; empty without a sidecar. */
  ports: Map<number, ResolvedMode>;
  /** The policies that decided the mode, mesh first. */
  appliedPolicies: PeerAuthentication[];
}

/**
 * The policies of one stage, indexed the way istiod looks them up: the root namespace's and the
 * workload's own namespace's, never a scan of every policy.
 */
export class PolicyIndex {
  readonly mesh: PeerAuthentication | undefined;
  private readonly namespaceWide = new Map<string, PeerAuthentication>();
  /** The workload policies Istio applies (not those it ignores in the root namespace). */
  readonly workloadPolicies: SelectorIndex;
  readonly problems: Problem[] = [];
  /** What clients' sidecars send: the cluster's DestinationRules and the mesh config's auto mTLS (none, on: the default). */
  clientTls: ClientTlsIndex;

  constructor(
    policies: readonly PeerAuthentication[],
    readonly meshRootNamespace: string,
    /** The stage these policies are in force at, for messages. */
    readonly stage: string,
  ) {
    let mesh: PeerAuthentication | undefined;
    const selectorPolicies: PeerAuthentication[] = [];
    for (const pa of inIstioOrder(policies)) {
      const scope = scopeOf(pa, meshRootNamespace);
      if (scope === "ignored") {
        continue; // Istio ignores it (R2); the no-selector-in-root-namespace rule says so.
      } else if (scope === "workload") {
        selectorPolicies.push(pa);
      } else {
        const existing = scope === "mesh" ? mesh : this.namespaceWide.get(pa.namespace);
        if (existing) {
          // R7: istiod keeps the oldest by creation time, which a plan cannot know of two the stack creates (an
          // adopted one is older than any of those; the rules report the newer one, which a stage may accept).
          if (existing.existing) continue;
          this.problems.push({
            path: pa.origin,
            message:
              `breaks one-default-per-scope: ${describeValue(`${pa.namespace}/${pa.name}`)} is a second ${scope}-wide PeerAuthentication at stage ${describeValue(stage)}, besides ` +
              `${describeValue(`${existing.namespace}/${existing.name}`)} (${existing.origin}); Istio would keep only the older one, so declare one, named "default"`,
          });
        } else if (scope === "mesh") mesh = pa;
        else this.namespaceWide.set(pa.namespace, pa);
      }
    }
    this.mesh = mesh;
    this.workloadPolicies = new SelectorIndex(selectorPolicies);
    this.clientTls = noClientTls(meshRootNamespace);
  }

  namespacePolicy(namespace: string): PeerAuthentication | undefined {
    return namespace === this.meshRootNamespace ? undefined : this.namespaceWide.get(namespace);
  }

  /** The mode a namespace's services advertise to auto mTLS clients: workload and port policies do not count. */
  serviceMode(namespace: string): ResolvedMode {
    const meshMode = inherit("PERMISSIVE", this.mesh?.mode);
    return inherit(meshMode, this.namespacePolicy(namespace)?.mode);
  }

  effective<W extends MeshWorkload>(workload: W): EffectiveWorkload<W> {
    if (!workload.sidecar) return { workload, mode: null, ports: new Map(), appliedPolicies: [] };
    const matching = this.workloadPolicies.selecting(workload.namespace, workload.podLabels);
    // Of two the stack creates, which is older cannot be known; an adopted one is older than those.
    if (matching.length > 1 && !matching[0].existing) {
      const [first, ...others] = matching;
      this.problems.push({
        path: others[0].origin,
        message:
          `breaks one-policy-per-workload: ${describeValue(`${others[0].namespace}/${others[0].name}`)} selects workload ${describeValue(workload.ref)} at stage ${describeValue(this.stage)}, ` +
          `as ${matching.length > 2 ? `${matching.length - 1} other policies do` : "does"} ${describeValue(`${first.namespace}/${first.name}`)} (${first.origin}); Istio would apply only the oldest, so keep one`,
      });
    }
    return this.resolve(workload, matching[0]);
  }

  /**
   * The modes of a workload with a sidecar under `workloadPolicy` (the oldest selecting it, if any): mesh, then
   * namespace, then workload, then port, each UNSET inheriting the level above.
   */
  resolve<W extends MeshWorkload>(workload: W, workloadPolicy: PeerAuthentication | undefined): EffectiveWorkload<W> {
    const targetPorts = workload.containerPorts;
    const nsPolicy = this.namespacePolicy(workload.namespace);
    const mode = inherit(inherit(inherit("PERMISSIVE", this.mesh?.mode), nsPolicy?.mode), workloadPolicy?.mode);
    const ports = new Map<number, ResolvedMode>();
    for (const port of targetPorts) ports.set(port, inherit(mode, workloadPolicy?.portLevelMtls?.[port]));
    const appliedPolicies = [this.mesh, nsPolicy, workloadPolicy].filter((p): p is PeerAuthentication => p !== undefined);
    return { workload, mode, ports, appliedPolicies };
  }
}
