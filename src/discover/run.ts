/**
 * `mtls-rollout discover`: read the cluster (and, when given, Prometheus), propose a rollout, render it, and check
 * that the file loads as the rollout it says it is. A thin shell: src/cluster reads, src/discover/inventory.ts and
 * propose.ts decide, render.ts writes.
 */
import type { KubectlRunner } from "../cluster/runner";
import { boundedRunner } from "../cluster/runner";
import { getList } from "../cluster/kubectlGet";
import { withoutCredentials } from "../cluster/credentials";
import type { PrometheusAccess } from "../cluster/prometheus";
import { liveStateOfRollout, meshFacts } from "../cluster/readLive";
import { clusterUid } from "../cluster/clusterUid";
import { destinationRuleObjectSchema, namespaceObjectSchema, peerAuthenticationObjectSchema } from "../cluster/objects";
import { DESTINATION_RULES, PEER_AUTHENTICATIONS, readSnapshot } from "../cluster/snapshot";
import { InputError } from "../model/errors";
import { parseRolloutYaml } from "../rollout/load";
import { destinationRuleOf, type Rollout } from "../model/rollout";
import { compareWithRollout } from "../status/compare";
import { refreshRollout } from "./refresh";
import { takeInventory } from "./inventory";
import { proposeRollout, TooLargeForRollout } from "./propose";
import { renderDiscovered } from "./render";
import { observedTraffic, TrafficEdge } from "./traffic";
import { contextText } from "../model/text";

/** Where istiod's mesh config is looked for when no root namespace is named: istiod's usual namespace. */
export const ISTIOD_NAMESPACE = "istio-system";

export interface DiscoverRequest {
  runner: KubectlRunner;
  /** Istio's root namespace as the user names it; else the mesh config's (read in istio-system), else istio-system. */
  meshRootNamespace?: string;
  namespaces?: string[];
  context?: string;
  /** Its URL may carry credentials (user:password@), as its token and headers do: they are sent as headers and never printed. */
  prometheus?: { access: PrometheusAccess | string; windowSeconds: number; fetch?: typeof fetch };
  callTimeoutMs: number;
  /** The yaml-language-server modeline for the file's first line, pointing editors at the rollout schema. */
  modeline?: string;
  /** Ends discover at once (Ctrl-C): nothing is returned to write. */
  signal?: AbortSignal;
  /** Told what discover is doing, a line a phase: reading a large cluster and proposing for it take a while. */
  onProgress?: (line: string) => void;
  /** The rollout of the stack that manages this cluster (`--rollout`): refreshed from the cluster, never replaced. */
  rollout?: { text: string; rollout: Rollout; path: string };
}

export type DiscoverResult =
  | { yaml: string; summary: string }
  | { interrupted: true }
  /**
   * `cluster`: the cluster or Prometheus could not be read whole, or the mesh is more than a rollout holds (exit 3);
   * `setup`: no context, unreachable, not permitted, no CRD (exit 2); `input`: a named namespace does not exist.
   */
  | { error: string; kind: "cluster" | "input" | "setup" };

export async function discover(request: DiscoverRequest): Promise<DiscoverResult> {
  const runner = boundedRunner(request.runner);
  const { signal } = request;
  const named = request.meshRootNamespace;
  const progress = request.onProgress ?? (() => {});
  const started = Date.now();
  const seconds = () => `${((Date.now() - started) / 1000).toFixed(1)}s`;
  progress(
    `discover: reading ${request.namespaces ? `namespaces ${request.namespaces.join(", ")}` : "every namespace"} on ${contextText(request.context)}: controllers, Services, pods, PeerAuthentications`,
  );
  const snapshot = await readSnapshot(runner, {
    namespaces: request.namespaces,
    // A user who names namespaces may have no permission beyond them.
    perNamespace: request.namespaces !== undefined,
    meshRootNamespace: named ?? ISTIOD_NAMESPACE,
    timeoutMs: request.callTimeoutMs,
  });
  if (signal?.aborted) return { interrupted: true };
  if ("error" in snapshot) return { error: snapshot.error, kind: snapshot.setup ? "setup" : "cluster" };
  // The root Istio uses: the one named, else the mesh config's (each revision's agreeing), else istiod's namespace.
  const mesh = meshFacts(snapshot, named ?? ISTIOD_NAMESPACE);
  const root = named ?? mesh.rootNamespace;
  if (request.namespaces && root !== (named ?? ISTIOD_NAMESPACE)) {
    // The mesh-wide policies live in the root the mesh config names, which the named namespaces' reads did not cover.
    const rootPolicies = await getList(
      runner,
      ["get", PEER_AUTHENTICATIONS, "--namespace", root, "--show-managed-fields", "-o", "json"],
      peerAuthenticationObjectSchema,
      request.callTimeoutMs,
    );
    if ("error" in rootPolicies) return { error: rootPolicies.error, kind: rootPolicies.setup ? "setup" : "cluster" };
    snapshot.peerAuthentications.push(...rootPolicies.items);
    const rootRules = await getList(
      runner,
      ["get", DESTINATION_RULES, "--namespace", root, "-o", "json"],
      destinationRuleObjectSchema,
      request.callTimeoutMs,
    );
    if ("error" in rootRules && !rootRules.noSuchResource) return { error: rootRules.error, kind: rootRules.setup ? "setup" : "cluster" };
    if (!("error" in rootRules)) snapshot.destinationRules.push(...rootRules.items);
  }
  if (named !== undefined && mesh.facts.source && mesh.rootNamespace !== named) {
    progress(`discover: --mesh-root ${named}, though the mesh config (${mesh.facts.source}) names ${mesh.rootNamespace}`);
  }
  // A rollout's namespace the stack has not created yet (its probe kit's) is not an error when refreshing it.
  if (request.namespaces && !request.rollout && snapshot.missingNamespaces.length > 0) {
    return { error: `--namespace: the cluster has no namespace ${snapshot.missingNamespaces.join(", ")}`, kind: "input" };
  }
  const known = request.namespaces
    ? await getList(runner, ["get", "namespace", root, "-o", "json"], namespaceObjectSchema, request.callTimeoutMs)
    : { items: snapshot.namespaces };
  if (signal?.aborted) return { interrupted: true };
  if ("error" in known && !known.notFound) return { error: known.error, kind: known.setup ? "setup" : "cluster" };
  if ("error" in known || !known.items.some((n) => n.metadata.name === root)) {
    return { error: `--mesh-root: the cluster has no namespace ${root}: name Istio's root namespace (where istiod runs)`, kind: "input" };
  }
  // Which cluster this is, for the stack to be bound to (mtls-rollout:clusterUid).
  const uid = await clusterUid(runner, request.callTimeoutMs);
  if (signal?.aborted) return { interrupted: true };
  if ("error" in uid && uid.setup) return { error: uid.error, kind: "setup" };
  const boundTo = "uid" in uid ? uid.uid : undefined;
  if (boundTo)
    progress(`discover: the cluster's kube-system namespace has UID ${boundTo} (pulumi config set mtls-rollout:clusterUid ${boundTo})`);
  progress(
    `discover: read ${snapshot.namespaces.length} namespaces, ${snapshot.controllers.length} controllers, ${snapshot.services.length} Services, ${snapshot.pods.length} pods, ${snapshot.peerAuthentications.length} PeerAuthentications (${seconds()})`,
  );
  let traffic: { edges: TrafficEdge[]; windowSeconds: number } | undefined;
  if (request.prometheus) {
    progress(
      `discover: asking Prometheus ${withoutCredentials(typeof request.prometheus.access === "string" ? request.prometheus.access : request.prometheus.access.url)} who called whom in the last ${request.prometheus.windowSeconds}s`,
    );
    const observed = await observedTraffic(request.prometheus.access, request.prometheus.windowSeconds, {
      timeoutMs: request.callTimeoutMs,
      fetch: request.prometheus.fetch,
      signal,
    });
    if (signal?.aborted) return { interrupted: true };
    if ("error" in observed) return { error: observed.error, kind: "cluster" };
    traffic = { edges: observed.edges, windowSeconds: request.prometheus.windowSeconds };
  }
  if (request.rollout) {
    const { rollout, text } = request.rollout;
    const inventory = takeInventory(snapshot, {
      meshRootNamespace: root,
      namespaces: request.namespaces,
      enableAutoMtls: mesh.facts.enableAutoMtls,
      destinationRulesPrivateByDefault: mesh.facts.destinationRulesPrivateByDefault === true,
    });
    // Judged with the cluster's facts, which the refreshed file will hold.
    const withFacts: Rollout = {
      ...rollout,
      enableAutoMtls: inventory.enableAutoMtls,
      destinationRulesPrivateByDefault: inventory.destinationRulesPrivateByDefault,
      destinationRules: inventory.destinationRules.map((r, i) => destinationRuleOf(r, `destinationRules[${i}]`)),
    };
    const status = compareWithRollout(withFacts, liveStateOfRollout(withFacts, snapshot));
    const refreshed = refreshRollout(text, rollout, inventory, status, `${contextText(request.context)}, mesh root ${root}`);
    try {
      parseRolloutYaml(refreshed.yaml, "refreshed rollout");
    } catch (err) {
      if (!(err instanceof InputError)) throw err;
      return { error: `the refreshed rollout does not load (${err.lines()[0]})`, kind: "cluster" };
    }
    return refreshed;
  }
  const inventory = takeInventory(snapshot, {
    meshRootNamespace: root,
    namespaces: request.namespaces,
    enableAutoMtls: mesh.facts.enableAutoMtls,
    destinationRulesPrivateByDefault: mesh.facts.destinationRulesPrivateByDefault === true,
  });
  inventory.leftOut.push(...mesh.facts.notes);
  progress(
    `discover: proposing stages for ${inventory.namespaces.length} namespaces and ${inventory.workloads.length} workloads (${seconds()})`,
  );
  let discovered;
  try {
    discovered = await proposeRollout(inventory, { meshRootNamespace: root, traffic, signal });
  } catch (err) {
    if (err instanceof TooLargeForRollout) return { error: err.message, kind: "cluster" };
    throw err;
  }
  if (!discovered || signal?.aborted) return { interrupted: true };
  const source = [
    `${contextText(request.context)}${boundTo ? ` (cluster UID ${boundTo}: pulumi config set mtls-rollout:clusterUid ${boundTo})` : " (its UID could not be read)"}`,
    request.namespaces ? `namespaces ${request.namespaces.join(", ")}` : "all namespaces but Kubernetes' own and the mesh root",
    `mesh root ${root}${named !== undefined ? " (--mesh-root)" : mesh.facts.source ? ` (the mesh config in ${mesh.facts.source})` : ""}`,
    request.prometheus ? `traffic from Prometheus over ${request.prometheus.windowSeconds}s` : "no traffic data (no --prometheus)",
  ].join("; ");
  const yaml = renderDiscovered(discovered, { source, modeline: request.modeline });
  // Rendering and the check below take a second each for 10,000 workloads: a signal in between is heard between them.
  await new Promise<void>((resolve) => setImmediate(resolve));
  if (signal?.aborted) return { interrupted: true };
  // The file must load as what it says: what its own loader refuses is never written.
  try {
    parseRolloutYaml(yaml, "discovered rollout");
  } catch (err) {
    if (!(err instanceof InputError)) throw err;
    return {
      error: `the rollout discover would write is not one its own loader accepts (${err.lines()[0]}); discover part of the mesh with --namespace`,
      kind: "cluster",
    };
  }
  const { file } = discovered;
  return {
    yaml,
    summary:
      `discovered ${file.namespaces.length} namespaces, ${file.workloads.length} workloads, ` +
      `${file.stages[0].peerAuthentications.length} PeerAuthentications; ${file.stages.length} stages; ${discovered.leftOut.length} things left out${discovered.findings.length > 0 ? `; WARNING: ${discovered.findings.length} guardrail finding${discovered.findings.length === 1 ? "" : "s"} on the cluster as it is, accepted at stage current` : ""} (see the file's header)`,
  };
}
