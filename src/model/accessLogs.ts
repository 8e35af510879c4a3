/**
 * Which workloads need Envoy's access log for the verifier to see a refusal. On a port that is not HTTP, a STRICT
 * sidecar's refusal and an application closing the connection look alike to curl; the sidecar tells them apart in
 * its inbound listener's `no_filter_chain_match` counter, which only the pods the stack deploys report (their
 * proxyStatsMatcher annotation), or in its access log (`NR filter_chain_not_found`), which Istio writes only where
 * a Telemetry or the mesh config asks for it. Pure: the stack declares a Telemetry for each target.
 */
import type { Plan } from "./plan";
import { familyOf, protocolOf } from "./protocol";
import { servicePortOf } from "./expectations";
import type { Rollout, Workload } from "./rollout";

export interface AccessLogTarget {
  workload: Workload;
  /** The workload (container) ports whose refusals only its access log can show. */
  ports: number[];
}

/** The workloads the stack does not deploy that run a sidecar and must refuse a probe on a port that is not HTTP. */
export function accessLogTargets(plan: Plan, rollout: Rollout): AccessLogTarget[] {
  const byRef = new Map(rollout.workloads.map((w) => [w.ref, w]));
  const ports = new Map<string, Set<number>>();
  for (const edge of plan.expectations) {
    if (edge.expect !== "refused") continue;
    const server = byRef.get(edge.to);
    if (!server || server.deploy || !server.sidecar) continue;
    const servicePort = servicePortOf(server, edge);
    if (servicePort && familyOf(protocolOf(servicePort)) === "http") continue;
    const set = ports.get(server.ref) ?? new Set<number>();
    set.add(edge.targetPort);
    ports.set(server.ref, set);
  }
  return [...ports].map(([ref, set]) => ({ workload: byRef.get(ref)!, ports: [...set].sort((a, b) => a - b) }));
}
