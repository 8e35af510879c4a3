import type { WorkloadKind } from "../model/rollout";

/**
 * What `kubectl exec` is pointed at: the workload's controller (`deployment/NAME`, `statefulset/NAME`,
 * `daemonset/NAME`). kubectl picks one of its pods, preferring running and ready ones
 * (kubectl polymorphichelpers AttachablePodForObject, sorted by podutils.ActivePods).
 */
export function podOf(workload: { kind: WorkloadKind; name: string }): string {
  return `${workload.kind.toLowerCase()}/${workload.name}`;
}
