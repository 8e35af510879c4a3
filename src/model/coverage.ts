/**
 * How far a stage has come: the ports of workloads with a sidecar that are STRICT, and, for each that is not, the
 * policy that keeps it open (the most specific one that sets its mode, as Istio resolves it: a workload policy's
 * port-level entry, its mode, the namespace's, the mesh's), or none when Istio's default PERMISSIVE does. Pure.
 */
import type { PeerAuthentication, Workload } from "./rollout";
import type { ResolvedMode } from "./schema";
import type { EffectiveWorkload } from "./semantics";

/** What keeps a port open that its sidecar does not intercept: the application takes plaintext whatever the policies say. */
export const NOT_INTERCEPTED = "not intercepted by its sidecar (traffic.sidecar.istio.io annotations)";
/** What keeps a port of a partly injected workload open: its pods without a sidecar. */
export const PODS_WITHOUT_SIDECAR = "its pods without a sidecar, sidecar: partial";

export interface OpenPort {
  /** `namespace/name` */
  workload: string;
  port: number;
  mode: ResolvedMode;
  /**
   * `namespace/name` of the policy that sets it; NOT_INTERCEPTED where its sidecar does not intercept it (no policy
   * applies there); null: no policy does, and Istio's default is PERMISSIVE.
   */
  keptBy: string | null;
}

export interface Coverage {
  /** Ports of workloads with a sidecar (the probe kit's aside) that are STRICT. */
  strict: number;
  total: number;
  open: OpenPort[];
}

/** The policy that decides `port`'s mode among those applied to a workload (mesh first, as the model lists them). */
export function decidingPolicy(applied: readonly PeerAuthentication[], port: number): PeerAuthentication | undefined {
  for (const pa of [...applied].reverse()) {
    const portMode = pa.portLevelMtls?.[port];
    if (portMode !== undefined && portMode !== "UNSET") return pa;
    if (pa.mode !== "UNSET") return pa;
  }
  return undefined;
}

export function coverageOf(effective: readonly EffectiveWorkload<Workload>[]): Coverage {
  const open: OpenPort[] = [];
  let strict = 0;
  let total = 0;
  for (const e of effective) {
    if (e.mode === null || e.workload.probe) continue;
    for (const [port, mode] of e.ports) {
      total++;
      if (e.workload.notIntercepted?.includes(port)) {
        open.push({ workload: e.workload.ref, port, mode, keptBy: NOT_INTERCEPTED });
        continue;
      }
      // Its pods without a sidecar take plaintext from anyone, whatever the mode of those with one.
      if (e.workload.partial) {
        open.push({ workload: e.workload.ref, port, mode, keptBy: PODS_WITHOUT_SIDECAR });
        continue;
      }
      if (mode === "STRICT") {
        strict++;
        continue;
      }
      const by = decidingPolicy(e.appliedPolicies, port);
      open.push({ workload: e.workload.ref, port, mode, keptBy: by ? `${by.namespace}/${by.name}` : null });
    }
  }
  return { strict, total, open };
}
