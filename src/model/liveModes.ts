/**
 * Every workload of a rollout, as the cluster runs it (the model's live semantics, src/model/live.ts) beside what a
 * stage expects of it: the one comparison status and verify make. Pure.
 */
import { liveKey, type LiveState, type PodGroup } from "./live";
import { buildPlan } from "./plan";
import type { Rollout } from "./rollout";
import type { ResolvedMode } from "./schema";

export interface WorkloadStatus {
  namespace: string;
  name: string;
  sidecar: boolean;
  /** As Istio computes it from the live policies, for most of its pods; null without a sidecar. */
  mode: ResolvedMode | null;
  ports: Record<string, ResolvedMode>;
  /** Its live pods; 0 when none runs (the modes are then what its template's pods would get). */
  pods: number;
  /** Not on the cluster at all. */
  missing: boolean;
  /** The stack deploys it (`deploy: true`). */
  deploy: boolean;
  /** Not there because the stack has not run yet (none of its policies is on the cluster): not drift. */
  notYet?: true;
  /** Its pods, when they do not all get the same modes (some without a sidecar, or selected by another policy). */
  groups?: { pods: number; sidecar: boolean; mode: ResolvedMode | null; ports: Record<string, ResolvedMode> }[];
  expected: { mode: ResolvedMode | null; ports: Record<string, ResolvedMode> };
  matches: boolean;
}

/** Two maps of strings with the same own keys and values: compared as data, never as joined text (a value may hold a comma). */
export function sameMap(
  a: Record<string | number, string> | null | undefined,
  b: Record<string | number, string> | null | undefined,
): boolean {
  const x = Object.entries(a ?? {});
  const y = b ?? {};
  return x.length === Object.keys(y).length && x.every(([k, v]) => Object.prototype.hasOwnProperty.call(y, k) && y[k] === v);
}

const groupMatches = (g: Pick<PodGroup, "mode" | "ports">, want: WorkloadStatus["expected"]) =>
  g.mode === want.mode && (g.mode === null || sameMap(g.ports, want.ports));

/** Each workload's live modes against those `stage` expects; a workload matches only when every group of its pods does. */
export function liveModesAt(rollout: Rollout, live: LiveState, stage: string): WorkloadStatus[] {
  const expected = new Map(buildPlan(rollout, stage).workloads.map((w) => [`${w.namespace}/${w.name}`, w]));
  return rollout.workloads.map((w): WorkloadStatus => {
    const want = expected.get(w.ref)!;
    const wanted = { mode: want.mode, ports: want.ports };
    const state = live.workloads.get(liveKey(w.kind, w.ref));
    if (!state || state.groups.length === 0) {
      return {
        namespace: w.namespace,
        name: w.name,
        sidecar: w.sidecar,
        mode: null,
        ports: {},
        pods: 0,
        missing: true,
        deploy: w.deploy,
        expected: wanted,
        matches: false,
      };
    }
    const [main] = state.groups;
    return {
      namespace: w.namespace,
      name: w.name,
      sidecar: main.sidecar,
      mode: main.mode,
      ports: main.ports,
      pods: state.predicted ? 0 : state.workload.pods.length,
      missing: false,
      deploy: w.deploy,
      ...(state.groups.length > 1
        ? { groups: state.groups.map((g) => ({ pods: g.pods.length, sidecar: g.sidecar, mode: g.mode, ports: g.ports })) }
        : {}),
      expected: wanted,
      // A workload declared partial: its pods without a sidecar are outside the mesh, as declared.
      matches: state.groups.every((g) => groupMatches(g, wanted) || (w.partial && !g.sidecar)),
    };
  });
}

/** A workload's live pods as verify reads them: the names of those with a sidecar, and how many run without one. */
export interface LivePodsOf {
  withSidecar: string[];
  withoutSidecar: number;
}

/** Every rollout workload's live pods (none for a workload no pod of which runs), by `namespace/name`. */
export function livePodsByWorkload(rollout: Rollout, live: LiveState): Map<string, LivePodsOf> {
  const out = new Map<string, LivePodsOf>();
  for (const w of rollout.workloads) {
    const pods = live.workloads.get(liveKey(w.kind, w.ref))?.workload.pods ?? [];
    if (pods.length === 0) continue;
    out.set(w.ref, {
      withSidecar: pods.filter((p) => p.sidecar).map((p) => p.name),
      withoutSidecar: pods.filter((p) => !p.sidecar).length,
    });
  }
  return out;
}
