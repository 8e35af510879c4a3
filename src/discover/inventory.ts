/**
 * From a cluster snapshot to the rollout file's namespaces, workloads and current PeerAuthentications,
 * with a note for everything left out and why. The policies of stage `current` are those Istio applies, as the
 * model's live semantics compute them from the snapshot (src/model/live.ts), the same answer status, the gate
 * and verify use. Pure: src/cluster reads, src/discover/run.ts writes.
 */
import type { ControllerObject, PodObject, ServiceObject } from "../cluster/objects";
import type { InjectorWebhook } from "../model/injection";
import { destinationRuleFacts, type DestinationRuleFact } from "../cluster/destinationRules";
import type { ClusterSnapshot } from "../cluster/snapshot";
import { liveStateOf, podsByOwner, PodGroupByOwner } from "../cluster/liveMesh";
import type { LiveState } from "../model/live";
import { groupBy } from "../model/groupBy";
import { isLabelKey, isPortName, labelMapProblem } from "../model/names";
import { PROBE_LABELS } from "../model/probeKit";
import { peerAuthenticationSchema, workloadSchema, type MtlsMode } from "../model/schema";
import { DEFAULT_YAML_LIMITS } from "../rollout/boundedYaml";
import {
  DEFAULT_CONTAINER_ANNOTATION,
  INJECTION_NAMESPACE_LABEL,
  isAmbient,
  isGateway,
  podHasSidecar,
  PROXY_CONTAINER,
  REVISION_LABEL,
  templateInjection,
} from "../cluster/kube";

/** Namespaces of Kubernetes itself: never part of a rollout unless named. */
export const SYSTEM_NAMESPACES = ["kube-system", "kube-public", "kube-node-lease"];

export interface FileNamespace {
  name: string;
  injection: boolean;
  existing: true;
  /** Another tool that manages it on the cluster. */
  managedBy?: string;
}

export interface FilePort {
  name?: string;
  port: number;
  targetPort?: number | string;
  appProtocol?: string;
}

export interface FileService {
  name: string;
  selector?: Record<string, string>;
  ports: FilePort[];
}

/** A workload's Services, whichever way the file holds them. */
export const servicesOf = (w: Pick<FileWorkload, "service" | "services">): FileService[] => w.services ?? (w.service ? [w.service] : []);

export interface FileWorkload {
  /** Ports its sidecar does not intercept (from its pods' traffic.sidecar.istio.io annotations). */
  notIntercepted?: number[];
  name: string;
  namespace: string;
  kind: ControllerObject["kind"];
  deploy: false;
  /** `partial`: some of its pods run a sidecar and some do not. */
  sidecar: boolean | "partial";
  labels: Record<string, string>;
  container?: string;
  ports?: (number | { name: string; containerPort: number })[];
  /** Its one Service; `services` when it has more. */
  service?: FileService;
  services?: FileService[];
  /** `namespace/workload`, or what Prometheus saw of the call where the model expects otherwise. */
  calls?: (string | { to: string; observed: "mtls" | "plaintext"; requests: number })[];
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

/** What holds a PeerAuthentication name on the cluster. */
export interface LiveName {
  selectorLess: boolean;
  /** A later stage's policy of an mtls-rollout stack. */
  dormant: boolean;
}

/** Pods no Deployment, StatefulSet or DaemonSet owns (a Job's, a CronJob's, a bare pod): clients a rollout file cannot declare. */
export interface Client {
  /** `namespace/name`, the name as Istio names their workload. */
  ref: string;
  kind: string;
  pods: number;
  /** How many of its pods run Istio's proxy. */
  withSidecar: number;
}

/** An mtls-rollout stack's policies found on the cluster: its own (in force, by the stage that declares each) and dormant. */
export interface StackOnCluster {
  /** `namespace/name (stage)` of each policy in force it created; adopted ones apart. */
  inForce: string[];
  adopted: string[];
  /** `namespace/name (first stage)` of each dormant one. */
  dormant: string[];
  /** The stacks their `mtls-rollout.io/stack` names (none from a version that did not name it). */
  stacks: string[];
}

export interface Inventory {
  /** Set when an mtls-rollout stack manages policies of these namespaces. */
  stack?: StackOnCluster;
  /** The mesh config's auto mTLS. */
  enableAutoMtls: boolean;
  destinationRulesPrivateByDefault: boolean;
  /** The DestinationRules of the file's namespaces and the mesh root: what clients' sidecars send. */
  destinationRules: DestinationRuleFact[];
  namespaces: FileNamespace[];
  workloads: FileWorkload[];
  policies: FilePolicy[];
  notes: Note[];
  /** What is not in the file and why, for the header. */
  leftOut: string[];
  /** Every PeerAuthentication name on the cluster by namespace, left out or not: a new policy must not take one. */
  liveNames: Map<string, Map<string, LiveName>>;
  /** The live PeerAuthentications of the file's namespaces and the mesh root, those stage current leaves out included. */
  livePolicies: number;
  /** Namespaces in ambient mode: a mesh-wide policy reaches their workloads through ztunnel. */
  ambientNamespaces: string[];
  /** Pods in the file's namespaces no workload of the file stands for; those without a sidecar lose access to STRICT ports. */
  clients: Client[];
}

const ref = (o: { metadata: { namespace?: string; name: string } }) => `${o.metadata.namespace}/${o.metadata.name}`;
const byName = <T extends { metadata: { namespace?: string; name: string } }>(a: T, b: T) =>
  (a.metadata.namespace ?? "").localeCompare(b.metadata.namespace ?? "") || a.metadata.name.localeCompare(b.metadata.name);

/** The namespaces a rollout covers: the named ones, or all but Kubernetes' own and the mesh root's control plane. */
function scope(snapshot: ClusterSnapshot, meshRoot: string, named: string[] | undefined, leftOut: string[], ambient: string[]) {
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

function workloadOf(
  c: ControllerObject,
  pods: readonly PodObject[],
  namespaceLabels: Record<string, string>,
  webhooks: readonly InjectorWebhook[] | undefined,
  notes: Note[],
): FileWorkload {
  const labels = c.spec.template.metadata?.labels ?? {};
  const at = { list: "workloads" as const, name: ref(c) };
  let sidecar: boolean | "partial";
  if (pods.length === 0) {
    const verdict = templateInjection(c, namespaceLabels, webhooks);
    sidecar = verdict.sidecar;
    notes.push({
      at,
      text: `no running pod: sidecar ${sidecar ? "expected" : "not expected"}: ${verdict.why}; check once it runs`,
    });
  } else {
    const withSidecar = pods.filter(podHasSidecar).length;
    sidecar = withSidecar === pods.length ? true : withSidecar === 0 ? false : "partial";
    if (sidecar === "partial") {
      notes.push({
        at,
        text: `${withSidecar} of ${pods.length} pods have a sidecar: sidecar: partial, which no stage may make STRICT until every pod has one (kubectl rollout restart ${c.kind.toLowerCase()}/${c.metadata.name} -n ${c.metadata.namespace})`,
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
    labels: Object.fromEntries(Object.entries(podLabelsOf(c, pods, labels, at, notes)).filter(([k]) => !k.startsWith("mtls-rollout.io/"))),
    ...(container && container !== c.metadata.name ? { container } : {}),
    ...(ports.length > 0 ? { ports } : {}),
  };
}

/**
 * The ports of `ports` a pod's sidecar does not intercept (istio-iptables, tools/istio-iptables/pkg/capture
 * `handleInboundPortsInclude`): with `includeInboundPorts` other than `*` (its default), every port not listed (an
 * empty list: all of them) and the exclusions ignored; else those in `excludeInboundPorts`.
 */
export function notInterceptedPorts(annotations: Record<string, string>, ports: readonly number[]): number[] {
  const list = (v: string) =>
    new Set(
      v
        .split(",")
        .map((x) => Number(x.trim()))
        .filter((n) => Number.isInteger(n) && n > 0),
    );
  const include = annotations[INCLUDE_INBOUND_PORTS];
  if (include !== undefined && include.trim() !== "*") {
    const included = list(include);
    return ports.filter((p) => !included.has(p)).sort((a, b) => a - b);
  }
  const excluded = list(annotations[EXCLUDE_INBOUND_PORTS] ?? "");
  return ports.filter((p) => excluded.has(p)).sort((a, b) => a - b);
}
/**
 * What decides a pod's inbound capture: its istio-init container's `istio-iptables` arguments where it has one
 * (`-b` the ports captured, `-d` those excluded: the injector renders the pod's annotations and the mesh-wide
 * `global.proxy.includeInboundPorts`/`excludeInboundPorts` values into them, injection-template.yaml), else (istio-cni,
 * which reads the annotations itself, or no running pod) its annotations, as annotations.
 */
function interceptionOf(pod: PodObject | undefined, c: ControllerObject): Record<string, string> {
  const annotations = pod?.metadata.annotations ?? c.spec.template.metadata?.annotations ?? {};
  const args = (pod?.spec.initContainers ?? []).find((x) => x.name === "istio-init")?.args ?? [];
  const value = (flag: string) => {
    const i = args.indexOf(flag);
    return i >= 0 && i + 1 < args.length ? args[i + 1] : undefined;
  };
  const include = value("-b");
  const exclude = value("-d");
  if (include === undefined && exclude === undefined) return annotations;
  return {
    ...(include !== undefined ? { [INCLUDE_INBOUND_PORTS]: include } : {}),
    ...(exclude !== undefined ? { [EXCLUDE_INBOUND_PORTS]: exclude } : {}),
  };
}

export const INCLUDE_INBOUND_PORTS = "traffic.sidecar.istio.io/includeInboundPorts";
export const EXCLUDE_INBOUND_PORTS = "traffic.sidecar.istio.io/excludeInboundPorts";

/**
 * Labels a controller or Istio's injector sets on each pod, which the model derives itself or which differ from pod
 * to pod: never a workload's labels in a rollout file.
 */
const STAMPED_LABELS = new Set([
  "pod-template-hash",
  "controller-revision-hash",
  "pod-template-generation",
  "statefulset.kubernetes.io/pod-name",
  "apps.kubernetes.io/pod-index",
  "security.istio.io/tlsMode",
  "service.istio.io/canonical-name",
  "service.istio.io/canonical-revision",
]);

/**
 * What PeerAuthentication selectors match: the live pods' own labels (`GetProxyWorkloadLabels`), which hold the
 * template's and what admission added (a mutating webhook's). The labels every running pod carries with one value
 * join the template's, said in a comment; without a running pod, the template's.
 */
function podLabelsOf(c: ControllerObject, pods: readonly PodObject[], template: Record<string, string>, at: Note["at"], notes: Note[]) {
  if (pods.length === 0) return template;
  const [first, ...others] = pods.map((p) => p.metadata.labels ?? {});
  const added = Object.entries(first).filter(
    ([k, v]) => !Object.prototype.hasOwnProperty.call(template, k) && !STAMPED_LABELS.has(k) && others.every((o) => o[k] === v),
  );
  if (added.length === 0) return template;
  notes.push({
    at,
    text: `labels its running pods carry beyond ${c.kind.toLowerCase()}/${c.metadata.name}'s template (added at admission): ${added.map(([k, v]) => `${k}=${v}`).join(", ")}`,
  });
  return { ...template, ...Object.fromEntries(added) };
}

/** The rollout schema's bound on a workload's Services. */
const MAX_SERVICES_PER_WORKLOAD = 16;

function attachServices(services: ServiceObject[], workloads: FileWorkload[], leftOut: string[]) {
  const byNamespace = groupBy(workloads, (w) => w.namespace);
  for (const svc of [...services].sort(byName)) {
    const selector = svc.spec.selector ?? {};
    const id = `Service ${ref(svc)}`;
    if (svc.spec.type === "ExternalName" || Object.keys(selector).length === 0) {
      leftOut.push(`${id}: no selector (its endpoints are not pods a rollout knows)`);
      continue;
    }
    const selected = (byNamespace.get(svc.metadata.namespace) ?? []).filter((w) =>
      Object.entries(selector).every(([k, v]) => Object.prototype.hasOwnProperty.call(w.labels, k) && w.labels[k] === v),
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
    if (servicesOf(w).length >= MAX_SERVICES_PER_WORKLOAD) {
      leftOut.push(
        `${id}: ${w.namespace}/${w.name} has ${MAX_SERVICES_PER_WORKLOAD} Services in this file already, as many as a rollout holds`,
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
    const service = { name: svc.metadata.name, ...(sameAsLabels ? {} : { selector: { ...selector } }), ports };
    // One Service as `service:`, as a reader expects it; several as `services:`.
    const all = [...servicesOf(w), service];
    delete w.service;
    delete w.services;
    if (all.length === 1) w.service = service;
    else w.services = all;
  }
}

/**
 * Stage `current`: every live policy of the file's namespaces and the mesh root, in the order Istio applies competing
 * ones (src/model/live.ts), so that the model, reading the file in that order, applies what Istio applies: one it
 * ignores, or applies to fewer workloads than it selects, is in it too (the guardrails' findings on it are accepted
 * at stage current and said in the header). Left out only: a dormant policy of an mtls-rollout stack (UNSET or
 * selecting no pod, so the same without it), and one a rollout file cannot hold, with the reason.
 */
function currentPolicies(live: LiveState, meshRoot: string, inScope: ReadonlySet<string>, leftOut: string[]): FilePolicy[] {
  const kept: FilePolicy[] = [];
  for (const l of live.policies) {
    const pa = l.policy;
    if (pa.namespace !== meshRoot && !inScope.has(pa.namespace)) continue;
    const id = `PeerAuthentication ${pa.namespace}/${pa.name}`;
    if (l.dormant) continue;
    const selectorProblem = pa.selector && labelMapProblem(pa.selector, DEFAULT_YAML_LIMITS.maxKeysPerMapping);
    if (
      selectorProblem ||
      !peerAuthenticationSchema.safeParse({ name: pa.name, namespace: pa.namespace, selector: pa.selector, mode: pa.mode }).success
    ) {
      leftOut.push(
        `${id}: its ${selectorProblem ? `selector ${selectorProblem}` : "name"}, which a rollout file does not accept (it selects no pod)`,
      );
      continue;
    }
    const ports = Object.keys(pa.portLevelMtls ?? {});
    if (pa.selector === null && ports.length > 0) {
      // The CRD refuses it ("portLevelMtls requires selector"); one from before that validation is held by no file.
      leftOut.push(`${id}: portLevelMtls without a selector, which the PeerAuthentication CRD refuses and a rollout file cannot hold`);
      continue;
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
      ...(l.owner !== undefined ? { managedBy: l.owner } : {}),
    });
  }
  return kept;
}

export interface InventoryOptions {
  meshRootNamespace: string;
  /** The mesh config's auto mTLS (true unless it says false). */
  enableAutoMtls?: boolean;
  /** The mesh config makes DestinationRules without exportTo private. */
  destinationRulesPrivateByDefault?: boolean;
  /** The namespaces the user named; every namespace but the system ones when absent. */
  namespaces?: string[];
}

/** Pods no workload of the file stands for, as clients: a stage that makes a port STRICT refuses those without a sidecar. */
function clientsOf(groups: readonly PodGroupByOwner[], inScope: ReadonlySet<string>): Client[] {
  return groups
    .filter((g) => inScope.has(g.namespace))
    .map((g) => ({ ref: `${g.namespace}/${g.name}`, kind: g.kind, pods: g.pods.length, withSidecar: g.pods.filter(podHasSidecar).length }))
    .sort((a, b) => a.ref.localeCompare(b.ref) || a.kind.localeCompare(b.kind));
}

/** Every namespace, workload and Service discover can put in a rollout, and the cluster's policies as Istio applies them. */
export function takeInventory(snapshot: ClusterSnapshot, options: InventoryOptions): Inventory {
  const leftOut: string[] = [];
  const notes: Note[] = [];
  const ambientNamespaces: string[] = [];
  const inScope = scope(snapshot, options.meshRootNamespace, options.namespaces, leftOut, ambientNamespaces);
  const owned = podsByOwner(snapshot);
  const workloads: FileWorkload[] = [];
  const interception = new Map<FileWorkload, Record<string, string>>();
  const seen = new Set<string>();
  // Pods of controllers left out of the file (a gateway, an ambient workload) are not clients the file forgets.
  const kindOrder = { Deployment: 0, StatefulSet: 1, DaemonSet: 2 };
  const controllers = snapshot.controllers
    .filter((c) => inScope.has(c.metadata.namespace))
    .sort((a, b) => byName(a, b) || kindOrder[a.kind] - kindOrder[b.kind]);
  for (const c of controllers) {
    const id = `${c.kind} ${ref(c)}`;
    const pods = owned.byController.get(c) ?? [];
    const labels = c.spec.template.metadata?.labels ?? {};
    if (isProbeKit(labels)) continue; // an mtls-rollout stack's own probe: the probes section brings it back
    if (isGateway(c, pods)) {
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
    const labelProblem = labelMapProblem(labels, DEFAULT_YAML_LIMITS.maxKeysPerMapping);
    if (labelProblem) {
      leftOut.push(`${id}: its pod template ${labelProblem}`);
      continue;
    }
    if (seen.has(ref(c))) {
      leftOut.push(`${id}: a workload of that name is in this file already; a rollout names workloads by namespace and name`);
      continue;
    }
    const workload = workloadOf(c, pods, inScope.get(c.metadata.namespace)!, snapshot.injectorWebhooks, notes);
    // What the pods run with: a running pod's annotations, else the template's.
    interception.set(workload, interceptionOf(pods[0], c));
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
  for (const w of workloads) {
    if (w.sidecar === false) continue;
    const ports = [
      ...(w.ports ?? []).map((p) => (typeof p === "number" ? p : p.containerPort)),
      ...servicesOf(w).flatMap((svc) =>
        svc.ports.map((p) =>
          typeof p.targetPort === "string"
            ? (((w.ports ?? []).find((c) => typeof c !== "number" && c.name === p.targetPort) as { containerPort: number } | undefined)
                ?.containerPort ?? p.port)
            : (p.targetPort ?? p.port),
        ),
      ),
    ];
    const bypass = notInterceptedPorts(interception.get(w) ?? {}, [...new Set(ports)]);
    if (bypass.length > 0) {
      w.notIntercepted = bypass;
      notes.push({
        at: { list: "workloads", name: `${w.namespace}/${w.name}` },
        text: `its sidecar does not intercept port${bypass.length === 1 ? "" : "s"} ${bypass.join(", ")} (traffic.sidecar.istio.io annotations): plaintext reaches the application there whatever the policies say`,
      });
    }
  }
  const live = liveStateOf(snapshot, { meshRootNamespace: options.meshRootNamespace });
  const policies = currentPolicies(live, options.meshRootNamespace, new Set(inScope.keys()), leftOut);
  const used = new Set([...workloads.map((w) => w.namespace), ...policies.map((p) => p.namespace)]);
  const namespaces: FileNamespace[] = [];
  for (const [name, labels] of inScope) {
    if (!used.has(name)) continue;
    const { injection, note } = injectionOf(labels);
    if (note) notes.push({ at: { list: "namespaces", name }, text: note });
    namespaces.push({ name, injection, existing: true });
  }
  const clients = clientsOf(owned.others, new Set(inScope.keys()));
  const withClients = new Set(clients.map((c) => c.ref.split("/")[0]));
  for (const [name] of inScope) {
    if (used.has(name)) continue;
    leftOut.push(
      `namespace ${name}: no workload and no PeerAuthentication${withClients.has(name) ? " (its pods are clients, listed below)" : ""}`,
    );
  }
  const liveNames = new Map<string, Map<string, LiveName>>();
  for (const l of live.policies) {
    const names = liveNames.get(l.policy.namespace) ?? new Map<string, LiveName>();
    names.set(l.policy.name, { selectorLess: l.policy.selector === null, dormant: l.dormant });
    liveNames.set(l.policy.namespace, names);
  }
  const inFile = new Set([options.meshRootNamespace, ...inScope.keys()]);
  const livePolicies = live.policies.filter((l) => inFile.has(l.policy.namespace)).length;
  // Rules in the file's namespaces and the root: the only ones that can apply to its clients (a rule elsewhere never
  // does, push_context.go `destinationRule`), and only for its hosts matter, but a wildcard rule can reach any.
  // Those of the file's namespaces and the root: the namespaces status reads them in again.
  const rules = destinationRuleFacts(snapshot.destinationRules, new Set([options.meshRootNamespace, ...namespaces.map((n) => n.name)]));
  leftOut.push(...rules.leftOut);
  const managed = live.policies.filter((l) => l.managed && inFile.has(l.policy.namespace));
  const named = (l: (typeof managed)[number]) => `${l.policy.namespace}/${l.policy.name} (${l.stage})`;
  const stack: StackOnCluster | undefined =
    managed.length > 0
      ? {
          inForce: managed.filter((l) => !l.dormant && !l.adopted).map(named),
          adopted: managed.filter((l) => !l.dormant && l.adopted).map(named),
          dormant: managed.filter((l) => l.dormant).map(named),
          stacks: [...new Set(managed.flatMap((l) => (l.stack !== undefined ? [l.stack] : [])))].sort(),
        }
      : undefined;
  return {
    ...(stack ? { stack } : {}),
    enableAutoMtls: options.enableAutoMtls ?? true,
    destinationRulesPrivateByDefault: options.destinationRulesPrivateByDefault ?? false,
    destinationRules: rules.rules,
    namespaces,
    workloads,
    policies,
    notes,
    leftOut,
    liveNames,
    livePolicies,
    ambientNamespaces,
    clients,
  };
}
