import type { WorkloadStatus } from "../model/liveModes";

/**
 * A workload's mode with the ports whose mode differs from it, `STRICT (9090:PERMISSIVE)`; `outside the mesh` without
 * a sidecar. Ports in the workload's mode go unsaid: the table stays within a terminal's width.
 */
export function modeText(mode: string | null, ports: Record<string, string>): string {
  if (mode === null) return "outside the mesh";
  const exceptions = Object.entries(ports)
    .filter(([, m]) => m !== mode)
    .map(([p, m]) => `${p}:${m}`);
  return exceptions.length === 0 ? mode : `${mode} (${exceptions.join(" ")})`;
}

/** What the cluster runs of a workload: its modes, per group of pods when they differ, or that it is not there. */
export function liveModeText(w: WorkloadStatus): string {
  if (w.missing) return "not on the cluster";
  const idle = w.pods === 0 ? " (no pod runs)" : "";
  if (!w.groups) return `${modeText(w.mode, w.ports)}${idle}`;
  return w.groups.map((g) => `${g.pods} pod${g.pods === 1 ? "" : "s"}: ${modeText(g.mode, g.ports)}`).join("; ");
}

/** The workload's JSON in status and verify: its live modes, its pods, and what is expected of it. */
export function liveModeJson(w: WorkloadStatus) {
  return {
    namespace: w.namespace,
    name: w.name,
    mode: w.mode,
    ports: w.ports,
    pods: w.pods,
    ...(w.missing ? { missing: true } : {}),
    ...(w.notYet ? { notYet: true } : {}),
    ...(w.groups ? { groups: w.groups } : {}),
    expected: w.expected,
  };
}
