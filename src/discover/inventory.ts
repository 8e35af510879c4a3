/**
 * From a cluster snapshot to the rollout file's namespaces, workloads and current PeerAuthentications,
 * with a note for everything left out and why. Pure: src/cluster reads, src/discover/run.ts writes.
 */
import type { ControllerObject, PeerAuthenticationObject, ServiceObject } from "../cluster/objects";
import type { MeshSnapshot } from "../cluster/snapshot";
import { isDormant, policyOf } from "../manifests/parse";
import { isLabelKey, isPortName } from "../model/names";
import { podLabels } from "../model/pods";
import { PROBE_LABELS } from "../model/probeKit";
import { peerAuthenticationSchema, workloadSchema, type MtlsMode } from "../model/schema";
import {
  DEFAULT_CONTAINER_ANNOTATION,
  INJECTION_NAMESPACE_LABEL,
  isAmbient,
  isGateway,
  podHasSidecar,
  podsOf,
  PROXY_CONTAINER,
  REVISION_LABEL,
  sidecarByLabels,
} from "./kube";

/** Namespaces of Kubernetes itself: never part of a rollout unless named. */
export const SYSTEM_NAMESPACES = ["kube-system", "kube-public", "kube-node-lease"];

export interface FileNamespace {
  name: string;
  injection: boolean;
  existing: true;
}

export interface FilePort {
  name?: string;
  port: number;
  targetPort?: number | string;
  appProtocol?: string;
}

export interface FileWorkload {
  name: string;
  namespace: string;
  kind: ControllerObject["kind"];
  deploy: false;
  sidecar: boolean;
  labels: Record<string, string>;
  container?: string;
  ports?: (number | { name: string; containerPort: number })[];
  service?: { name: string; selector?: Record<string, string>; ports: FilePort[] };
  calls?: string[];
}

export interface FilePolicy {
  name: string;
  namespace: string;
  selector?: Record<string, string>;
  mode: MtlsMode;
  portLevelMtls?: Record<string, MtlsMode>;
  allowDisable?: string;
  existing: true;
}

/** A comment for a human reviewer, attached to a list entry of the file (`workloads`, 3) or to the file. */
export interface Note {
  at?: { list: "namespaces" | "workloads"; name: string };
  text: string;
}

export interface Inventory {
  namespaces: FileNamespace[];
  workloads: FileWorkload[];
  policies: FilePolicy[];
  notes: Note[];
  /** What is not in the file and why, for the header. */
  leftOut: string[];
  /** Every PeerAuthentication name on the cluster by namespace, left out or not: a new policy must not take one. */
  liveNames: Map<string, Set<string>>;
  /** Namespaces in ambient mode: a mesh-wide policy reaches their workloads through ztunnel. */
  ambientNamespaces: string[];
}

const ref = (o: { metadata: { namespace?: string; name: string } }) => `${o.metadata.namespace}/${o.metadata.name}`;
const byName = <T extends { metadata: { namespace?: string; name: string } }>(a: T, b: T) =>
  (a.metadata.namespace ?? "").localeCompare(b.metadata.namespace ?? "") || a.metadata.name.localeCompare(b.metadata.name);

/** The namespaces a rollout covers: the named ones, or all but Kubernetes' own and the mesh root's control plane. */
function scope(snapshot: MeshSnapshot, meshRoot: string, named: string[] | undefined, leftOut: string[], ambient: string[]) {
  const inScope = new Map<string, Record<string, string>>();
  for (const ns of [...snapshot.namespaces].sort((a, b) => a.metadata.name.localeCompare(b.metadata.name))) {
    const name = ns.metadata.name;
    if (!named && (SYSTEM_NAMESPACES.includes(name) || name === meshRoot)) continue;
    if (named && !named.includes(name)) continue;
    const labels = ns.metadata.labels ?? {};
    if (isAmbient(labels)) {
      ambient.push(name);
      leftOut.push(
        `namespace ${name}: ambient mode (istio.io/dataplane-mode=ambient), which mtls-rollout does not support yet; none of its workloads or PeerAuthentications is in this file`,
      );
      continue;
    }
    inScope.set(name, labels);
  }
  return inScope;
}

function injectionOf(labels: Record<string, string>): { injection: boolean; note?: string } {
  if (labels[INJECTION_NAMESPACE_LABEL] === "enabled") return { injection: true };
  if (labels[REVISION_LABEL] !== undefined && labels[INJECTION_NAMESPACE_LABEL] === undefined) {
    return { injection: true, note: `injection by revision label istio.io/rev=${labels[REVISION_LABEL]}` };
  }
  return { injection: false };
}

const isProbeKit = (labels: Record<string, string>) => Object.entries(PROBE_LABELS).every(([k, v]) => labels[k] === v);

function workloadOf(c: ControllerObject, snapshot: MeshSnapshot, namespaceLabels: Record<string, string>, notes: Note[]): FileWorkload {
  const labels = c.spec.template.metadata?.labels ?? {};
  const pods = podsOf(c, snapshot.pods);
  const at = { list: "workloads" as const, name: ref(c) };
  let sidecar: boolean;
  if (pods.length === 0) {
    sidecar = sidecarByLabels(labels, namespaceLabels);
    notes.push({
      at,
      text: `no running pod: sidecar ${sidecar ? "expected" : "not expected"} from the injection labels; check once it runs`,
    });
  } else {
    const withSidecar = pods.filter(podHasSidecar).length;
    sidecar = withSidecar === pods.length;
    if (withSidecar > 0 && withSidecar < pods.length) {
      notes.push({
        at,
        text: `${withSidecar} of ${pods.length} pods have a sidecar: treated as without one until all do (kubectl rollout restart ${c.kind.toLowerCase()}/${c.metadata.name} -n ${c.metadata.namespace})`,
      });
    }
  }
  const containers = c.spec.template.spec.containers.filter((x) => x.name !== PROXY_CONTAINER);
  const preferred = c.spec.template.metadata?.annotations?.[DEFAULT_CONTAINER_ANNOTATION];
  const container = containers.find((x) => x.name === preferred)?.name ?? containers[0]?.name;
  const ports: FileWorkload["ports"] = [];
  const seenPorts = new Set<number>();
  const seenNames = new Set<string>();
  for (const p of containers.flatMap((x) => x.ports ?? [])) {
    if ((p.protocol ?? "TCP") !== "TCP" || seenPorts.has(p.containerPort)) continue;
    seenPorts.add(p.containerPort);
    if (p.name && isPortName(p.name) && !seenNames.has(p.name)) {
      seenNames.add(p.name);
      ports.push({ name: p.name, containerPort: p.containerPort });
    } else ports.push(p.containerPort);
  }
  return {
    name: c.metadata.name,
    namespace: c.metadata.namespace,
    kind: c.kind,
    deploy: false,
    sidecar,
    // Keys of our own prefix are reserved for dormant policies; no application label uses it.
    labels: Object.fromEntries(Object.entries(labels).filter(([k]) => !k.startsWith("mtls-rollout.io/"))),
    ...(container && container !== c.metadata.name ? { container } : {}),
    ...(ports.length > 0 ? { ports } : {}),
  };
}

function attachServices(services: ServiceObject[], workloads: FileWorkload[], leftOut: string[]) {
  for (const svc of [...services].sort(byName)) {
    const selector = svc.spec.selector ?? {};
    const id = `Service ${ref(svc)}`;
    if (svc.spec.type === "ExternalName" || Object.keys(selector).length === 0) {
      leftOut.push(`${id}: no selector (its endpoints are not pods a rollout knows)`);
      continue;
    }
    const selected = workloads.filter(
      (w) => w.namespace === svc.metadata.namespace && Object.entries(selector).every(([k, v]) => w.labels[k] === v),
    );
    if (selected.length !== 1) {
      leftOut.push(
        selected.length === 0
          ? `${id}: selects no workload in this file`
          : `${id}: selects the pods of ${selected.length} workloads (${selected.map((w) => w.name).join(", ")}), so a probe through it could reach any of them`,
      );
      continue;
    }
    const [w] = selected;
    if (w.service) {
      leftOut.push(
        `${id}: also selects ${w.namespace}/${w.name}, which Service ${w.namespace}/${w.service.name} already stands for in this file`,
      );
      continue;
    }
    const named = new Set((w.ports ?? []).flatMap((p) => (typeof p === "number" ? [] : [p.name])));
    const ports: FilePort[] = [];
    for (const p of svc.spec.ports ?? []) {
      const what = `${id} port ${p.port}`;
      if ((p.protocol ?? "TCP") !== "TCP") {
        leftOut.push(`${what}: ${p.protocol}, which sidecars do not intercept`);
        continue;
      }
      // The API server accepts a string targetPort only as a port name (IsValidPortName).
      if (typeof p.targetPort === "string" && !named.has(p.targetPort)) {
        leftOut.push(`${what}: targets port name ${p.targetPort}, which no container of ${w.namespace}/${w.name} declares`);
        continue;
      }
      const target = p.targetPort;
      ports.push({
        ...(p.name ? { name: p.name } : {}),
        port: p.port,
        ...(target !== undefined && target !== null && target !== p.port ? { targetPort: target } : {}),
        ...(p.appProtocol && isLabelKey(p.appProtocol) ? { appProtocol: p.appProtocol } : {}),
      });
    }
    if (ports.length === 0) continue;
    const sameAsLabels = Object.keys(selector).length === Object.keys(w.labels).length;
    w.service = { name: svc.metadata.name, ...(sameAsLabels ? {} : { selector: { ...selector } }), ports };
  }
}

/** Istio's order among competing policies: the oldest by creationTimestamp, then by name (pilot/pkg/model/config.go). */
const istioOrder = (a: PeerAuthenticationObject, b: PeerAuthenticationObject) =>
  (a.metadata.creationTimestamp ?? "").localeCompare(b.metadata.creationTimestamp ?? "") || a.metadata.name.localeCompare(b.metadata.name);

function currentPolicies(
  snapshot: MeshSnapshot,
  meshRoot: string,
  inScope: ReadonlySet<string>,
  workloads: FileWorkload[],
  leftOut: string[],
): FilePolicy[] {
  const podLabelsOf = (w: FileWorkload) => podLabels(w.name, w.labels, w.sidecar, false);
  const kept: FilePolicy[] = [];
  const wideKept = new Map<string, string>();
  const claimed = new Map<string, string>();
  const candidates = snapshot.peerAuthentications
    .filter((o) => o.metadata.namespace === meshRoot || inScope.has(o.metadata.namespace))
    .sort(istioOrder);
  for (const o of candidates) {
    const pa = policyOf(o, ref(o));
    const id = `PeerAuthentication ${ref(o)}`;
    if (isDormant(o, pa)) continue; // a later stage's policy of an mtls-rollout stack, without effect
    if (!peerAuthenticationSchema.safeParse({ name: pa.name, namespace: pa.namespace, selector: pa.selector, mode: pa.mode }).success) {
      leftOut.push(`${id}: its name or selector is not what a rollout file accepts`);
      continue;
    }
    const ports = Object.keys(pa.portLevelMtls ?? {});
    if (pa.selector === null) {
      if (ports.length > 0) {
        leftOut.push(`${id}: portLevelMtls without a selector, which Istio rejects`);
        continue;
      }
      const first = wideKept.get(pa.namespace);
      if (first) {
        const scopeWord = pa.namespace === meshRoot ? "mesh" : "namespace";
        leftOut.push(`${id}: a second ${scopeWord}-wide policy; Istio applies only the oldest, ${first}, and ignores this one (delete it)`);
        continue;
      }
      wideKept.set(pa.namespace, ref(o));
    } else {
      if (pa.namespace === meshRoot) {
        leftOut.push(`${id}: a selector policy in the mesh root namespace, which Istio ignores`);
        continue;
      }
      const selected = workloads.filter(
        (w) => w.namespace === pa.namespace && Object.entries(pa.selector!).every(([k, v]) => podLabelsOf(w)[k] === v),
      );
      if (selected.length === 0) {
        leftOut.push(`${id}: selects no workload found here, so it applies to nothing`);
        continue;
      }
      const taken = selected.filter((w) => claimed.has(`${w.namespace}/${w.name}`));
      if (taken.length > 0) {
        const w = taken[0];
        leftOut.push(
          `${id}: selects ${w.namespace}/${w.name}, which the older ${claimed.get(`${w.namespace}/${w.name}`)} selects too; Istio applies only the oldest` +
            (taken.length < selected.length
              ? ` (it alone governs ${selected
                  .filter((x) => !taken.includes(x))
                  .map((x) => x.name)
                  .join(", ")}: split it)`
              : ""),
        );
        continue;
      }
      for (const w of selected) claimed.set(`${w.namespace}/${w.name}`, ref(o));
    }
    const disables = pa.mode === "DISABLE" || Object.values(pa.portLevelMtls ?? {}).includes("DISABLE");
    kept.push({
      name: pa.name,
      namespace: pa.namespace,
      ...(pa.selector ? { selector: { ...pa.selector } } : {}),
      mode: pa.mode,
      ...(ports.length > 0 ? { portLevelMtls: Object.fromEntries(Object.entries(pa.portLevelMtls!).map(([p, m]) => [String(p), m])) } : {}),
      ...(disables ? { allowDisable: "DISABLE on the cluster before this rollout (found by discover); review it" } : {}),
      existing: true,
    });
  }
  return kept.sort((a, b) => a.namespace.localeCompare(b.namespace) || a.name.localeCompare(b.name));
}

export interface InventoryOptions {
  meshRootNamespace: string;
  /** The namespaces the user named; every namespace but the system ones when absent. */
  namespaces?: string[];
}

/** Every namespace, workload and Service discover can put in a rollout, and the cluster's policies as Istio applies them. */
export function takeInventory(snapshot: MeshSnapshot, options: InventoryOptions): Inventory {
  const leftOut: string[] = [];
  const notes: Note[] = [];
  const ambientNamespaces: string[] = [];
  const inScope = scope(snapshot, options.meshRootNamespace, options.namespaces, leftOut, ambientNamespaces);
  const workloads: FileWorkload[] = [];
  const seen = new Set<string>();
  const kindOrder = { Deployment: 0, StatefulSet: 1, DaemonSet: 2 };
  const controllers = snapshot.controllers
    .filter((c) => inScope.has(c.metadata.namespace))
    .sort((a, b) => byName(a, b) || kindOrder[a.kind] - kindOrder[b.kind]);
  for (const c of controllers) {
    const id = `${c.kind} ${ref(c)}`;
    const labels = c.spec.template.metadata?.labels ?? {};
    if (isProbeKit(labels)) continue; // an mtls-rollout stack's own probe: the probes section brings it back
    if (isGateway(c, podsOf(c, snapshot.pods))) {
      leftOut.push(`${id}: an Istio gateway; PeerAuthentication governs sidecars, not a gateway's listeners`);
      continue;
    }
    if (isAmbient(labels)) {
      leftOut.push(`${id}: ambient mode (istio.io/dataplane-mode=ambient on its pods), which mtls-rollout does not support yet`);
      continue;
    }
    if (Object.keys(labels).length === 0) {
      leftOut.push(`${id}: its pods have no labels, so no policy or Service can select them`);
      continue;
    }
    if (seen.has(ref(c))) {
      leftOut.push(`${id}: a workload of that name is in this file already; a rollout names workloads by namespace and name`);
      continue;
    }
    const workload = workloadOf(c, snapshot, inScope.get(c.metadata.namespace)!, notes);
    // What the API allows and a rollout file does not (a name with a dot, say): left out, and said why.
    const invalid = workloadSchema.safeParse(workload);
    if (!invalid.success) {
      const issue = invalid.error.issues[0];
      leftOut.push(`${id}: ${issue.path.join(".") || "it"} ${issue.message}, which a rollout file needs`);
      continue;
    }
    seen.add(ref(c));
    workloads.push(workload);
  }
  attachServices(
    snapshot.services.filter((s) => inScope.has(s.metadata.namespace)),
    workloads,
    leftOut,
  );
  const policies = currentPolicies(snapshot, options.meshRootNamespace, new Set(inScope.keys()), workloads, leftOut);
  const used = new Set([...workloads.map((w) => w.namespace), ...policies.map((p) => p.namespace)]);
  const namespaces: FileNamespace[] = [];
  for (const [name, labels] of inScope) {
    if (!used.has(name)) continue;
    const { injection, note } = injectionOf(labels);
    if (note) notes.push({ at: { list: "namespaces", name }, text: note });
    namespaces.push({ name, injection, existing: true });
  }
  for (const [name] of inScope) if (!used.has(name)) leftOut.push(`namespace ${name}: no workload and no PeerAuthentication`);
  const liveNames = new Map<string, Set<string>>();
  for (const o of snapshot.peerAuthentications) {
    const names = liveNames.get(o.metadata.namespace) ?? new Set<string>();
    names.add(o.metadata.name);
    liveNames.set(o.metadata.namespace, names);
  }
  return { namespaces, workloads, policies, notes, leftOut, liveNames, ambientNamespaces };
}
