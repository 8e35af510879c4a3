/**
 * Istio's PeerAuthentication semantics, as istiod computes them (see test/fixtures/SOURCES.md for the
 * sources: `ComposePeerAuthentication`, `BestEffortInferServiceMTLSMode`, `checkMtlsEnabled`).
 */
import { Problem, describeValue } from "./errors";
import type { MeshWorkload, PeerAuthentication } from "./rollout";
import type { MtlsMode, ResolvedMode } from "./schema";

export type Scope = "mesh" | "namespace" | "workload" | "ignored";

/** R1/R2: a selector-less policy is namespace-wide, or mesh-wide in the root namespace; selector policies there are ignored. */
export function scopeOf(pa: Pick<PeerAuthentication, "namespace" | "selector">, meshRootNamespace: string): Scope {
  if (pa.selector === null) return pa.namespace === meshRootNamespace ? "mesh" : "namespace";
  return pa.namespace === meshRootNamespace ? "ignored" : "workload";
}

export function selects(selector: Record<string, string>, podLabels: Record<string, string>): boolean {
  return Object.entries(selector).every(([k, v]) => podLabels[k] === v);
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
  private readonly bySelectorNamespace = new Map<string, PeerAuthentication[]>();
  readonly problems: Problem[] = [];

  constructor(
    policies: readonly PeerAuthentication[],
    readonly meshRootNamespace: string,
    /** The stage these policies are in force at, for messages. */
    readonly stage: string,
  ) {
    let mesh: PeerAuthentication | undefined;
    for (const pa of policies) {
      const scope = scopeOf(pa, meshRootNamespace);
      const id = describeValue(`${pa.namespace}/${pa.name}`);
      if (scope === "ignored") {
        continue; // Istio ignores it (R2); the no-selector-in-root-namespace rule says so.
      } else if (scope === "workload") {
        const list = this.bySelectorNamespace.get(pa.namespace) ?? [];
        list.push(pa);
        this.bySelectorNamespace.set(pa.namespace, list);
      } else {
        const existing = scope === "mesh" ? mesh : this.namespaceWide.get(pa.namespace);
        if (existing) {
          // R7: istiod keeps the oldest by creation time, which a plan cannot know.
          this.problems.push({
            path: pa.origin,
            message:
              `breaks one-default-per-scope: ${id} is a second ${scope}-wide PeerAuthentication at stage ${describeValue(stage)}, besides ` +
              `${describeValue(`${existing.namespace}/${existing.name}`)} (${existing.origin}); Istio would keep only the older one, so declare one, named "default"`,
          });
        } else if (scope === "mesh") mesh = pa;
        else this.namespaceWide.set(pa.namespace, pa);
      }
    }
    this.mesh = mesh;
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
    const targetPorts = workload.containerPorts;
    if (!workload.sidecar) return { workload, mode: null, ports: new Map(), appliedPolicies: [] };
    const nsPolicy = this.namespacePolicy(workload.namespace);
    const matching = (this.bySelectorNamespace.get(workload.namespace) ?? []).filter((pa) => selects(pa.selector!, workload.podLabels));
    if (matching.length > 1) {
      const [first, ...others] = matching;
      this.problems.push({
        path: others[0].origin,
        message:
          `breaks one-policy-per-workload: ${describeValue(`${others[0].namespace}/${others[0].name}`)} selects workload ${describeValue(workload.ref)} at stage ${describeValue(this.stage)}, ` +
          `as ${matching.length > 2 ? `${matching.length - 1} other policies do` : "does"} ${describeValue(`${first.namespace}/${first.name}`)} (${first.origin}); Istio would apply only the oldest, so keep one`,
      });
    }
    const workloadPolicy = matching[0];
    const mode = inherit(inherit(inherit("PERMISSIVE", this.mesh?.mode), nsPolicy?.mode), workloadPolicy?.mode);
    const ports = new Map<number, ResolvedMode>();
    for (const port of targetPorts) ports.set(port, inherit(mode, workloadPolicy?.portLevelMtls?.[port]));
    const appliedPolicies = [this.mesh, nsPolicy, workloadPolicy].filter((p): p is PeerAuthentication => p !== undefined);
    return { workload, mode, ports, appliedPolicies };
  }
}
