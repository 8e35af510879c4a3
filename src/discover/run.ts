/**
 * `mtls-rollout discover`: read the cluster (and, when given, Prometheus), propose a rollout, render it.
 * A thin shell: src/cluster reads, src/discover/inventory.ts and propose.ts decide, render.ts writes.
 */
import type { KubectlRunner } from "../cluster/runner";
import { boundedRunner } from "../cluster/runner";
import { getList } from "../cluster/kubectlGet";
import { namespaceObjectSchema } from "../cluster/objects";
import { readSnapshot } from "../cluster/snapshot";
import { takeInventory } from "./inventory";
import { proposeRollout } from "./propose";
import { renderDiscovered } from "./render";
import { observedTraffic, TrafficEdge } from "./traffic";
import { contextText } from "../model/text";

export interface DiscoverRequest {
  runner: KubectlRunner;
  meshRootNamespace: string;
  namespaces?: string[];
  context?: string;
  prometheus?: { url: string; windowSeconds: number; fetch?: typeof fetch };
  callTimeoutMs: number;
  /** The yaml-language-server modeline for the file's first line, pointing editors at the rollout schema. */
  modeline?: string;
}

export type DiscoverResult =
  | { yaml: string; summary: string }
  /** `cluster`: unreachable, not permitted or answering nonsense; `input`: a named namespace does not exist. */
  | { error: string; kind: "cluster" | "input" };

export async function discover(request: DiscoverRequest): Promise<DiscoverResult> {
  const runner = boundedRunner(request.runner);
  const snapshot = await readSnapshot(runner, {
    namespaces: request.namespaces,
    meshRootNamespace: request.meshRootNamespace,
    timeoutMs: request.callTimeoutMs,
  });
  if (!("error" in snapshot)) {
    const root = request.meshRootNamespace;
    const known = request.namespaces
      ? await getList(runner, ["get", "namespace", root, "-o", "json"], namespaceObjectSchema, request.callTimeoutMs)
      : { items: snapshot.namespaces };
    if ("error" in known && !known.notFound) return { error: known.error, kind: "cluster" };
    if ("error" in known || !known.items.some((n) => n.metadata.name === root)) {
      return { error: `--mesh-root: the cluster has no namespace ${root}: name Istio's root namespace (where istiod runs)`, kind: "input" };
    }
  }
  if ("error" in snapshot) {
    return "notFound" in snapshot && snapshot.notFound && request.namespaces
      ? { error: `--namespace: ${snapshot.error}`, kind: "input" }
      : { error: snapshot.error, kind: "cluster" };
  }
  let traffic: { edges: TrafficEdge[]; windowSeconds: number } | undefined;
  if (request.prometheus) {
    const observed = await observedTraffic(request.prometheus.url, request.prometheus.windowSeconds, {
      timeoutMs: request.callTimeoutMs,
      fetch: request.prometheus.fetch,
    });
    if ("error" in observed) return { error: observed.error, kind: "cluster" };
    traffic = { edges: observed.edges, windowSeconds: request.prometheus.windowSeconds };
  }
  const inventory = takeInventory(snapshot, { meshRootNamespace: request.meshRootNamespace, namespaces: request.namespaces });
  const discovered = proposeRollout(inventory, { meshRootNamespace: request.meshRootNamespace, traffic });
  const source = [
    contextText(request.context),
    request.namespaces ? `namespaces ${request.namespaces.join(", ")}` : "all namespaces but Kubernetes' own and the mesh root",
    request.prometheus ? `traffic from Prometheus over ${request.prometheus.windowSeconds}s` : "no traffic data (no --prometheus)",
  ].join("; ");
  const { file } = discovered;
  return {
    yaml: renderDiscovered(discovered, { source, modeline: request.modeline }),
    summary:
      `discovered ${file.namespaces.length} namespaces, ${file.workloads.length} workloads, ` +
      `${file.stages[0].peerAuthentications.length} PeerAuthentications; ${file.stages.length} stages; ${discovered.leftOut.length} things left out (see the file's header)`,
  };
}
