import { InputError, Problem, describeValue, problemsFromZod } from "./errors";
import { podLabels } from "./pods";
import { policiesInForceAt } from "./stages";
import { probeKit } from "./probeKit";
import { ClientTlsIndex, type DestinationRule, type TlsPolicy } from "./clientTls";
import { ACKNOWLEDGEABLE_RULES, MtlsMode, rolloutFileSchema, RolloutFile, WORKLOAD_KINDS } from "./schema";
import { count } from "./text";

export interface Namespace {
  name: string;
  /** Label the namespace `istio-injection=enabled`. */
  injection: boolean;
  /** Exists already: no Namespace resource is declared for it. */
  existing: boolean;
}

export interface ServicePort {
  name?: string;
  port: number;
  /** The workload port it forwards to, resolved to a number. */
  targetPort: number;
  /** The container port's name when the Service targets it by name, as the Service object is written. */
  targetPortName?: string;
  protocol: "TCP";
  appProtocol?: string;
}

export type WorkloadKind = (typeof WORKLOAD_KINDS)[number];

/** A named container port, which a Service may target by its name. */
export interface NamedPort {
  name: string;
  containerPort: number;
}

/** How the probe kit hardens its clients: they run anywhere a platform team's admission policies allow. */
export interface ContainerHardening {
  securityContext: Record<string, unknown>;
  resources: { requests: Record<string, string>; limits: Record<string, string> };
}

export interface Workload {
  /** `namespace/name`, the workload's identity in edges and messages. */
  ref: string;
  name: string;
  namespace: string;
  /** Where the rollout file declares it (`workloads[3]`, `probes.namespaces[0]`), for messages. */
  origin: string;
  /** The stack deploys it (its Deployment, Service and ServiceAccount); false: it runs already, someone else's. */
  deploy: boolean;
  /** The controller kubectl execs into (`deployment/NAME`). */
  kind: WorkloadKind;
  /** The labels of its pods (their template); a deployed workload's Deployment selects by them. */
  labels: Record<string, string>;
  /** Every label the running pods carry, including the ones the sidecar injector adds: what PeerAuthentication selectors match. */
  podLabels: Record<string, string>;
  /** Its pods run a sidecar: Istio's policies give them a mode. With `partial`, only some of them do. */
  sidecar: boolean;
  /**
   * Some of its pods run a sidecar and some do not (`sidecar: partial`): the ones with one get the modes the policies
   * give, the others are outside the mesh, and a connection reaches one or the other.
   */
  partial: boolean;
  /** Only for a workload the stack deploys. */
  image?: string;
  container: string;
  command?: string[];
  args?: string[];
  env: Record<string, string>;
  serviceAccount: string;
  replicas: number;
  /** The Services that select its pods (the rollout file's `service`, or `services`). */
  services: WorkloadService[];
  /** Every port the workload's container listens on: its Service's target ports and any declared `ports`. */
  containerPorts: number[];
  /**
   * Ports its sidecar does not intercept (`traffic.sidecar.istio.io/excludeInboundPorts`, or left out of
   * `includeInboundPorts`): connections reach the application directly, whatever the policies say.
   */
  notIntercepted: number[];
  namedPorts: NamedPort[];
  calls: string[];
  /** What Prometheus saw of a call where it disagreed with the model (discover writes it): the first stage's expectation. */
  observedCalls?: Record<string, { observed: "mtls" | "plaintext"; requests: number }>;
  probe: boolean;
  probePath: string;
  /** Set on the probe kit's clients. */
  hardening?: ContainerHardening;
}

/**
 * What Istio's semantics need to know of a workload. The policy pack rebuilds exactly this from a
 * stack's Deployments and Services.
 */
/** A Service of a workload. */
export interface WorkloadService {
  name: string;
  selector: Record<string, string>;
  ports: ServicePort[];
  /** Where the rollout file declares it (`workloads[3].service`, `workloads[3].services[1]`), for messages. */
  origin: string;
}

export type MeshWorkload = Pick<
  Workload,
  "ref" | "namespace" | "name" | "podLabels" | "sidecar" | "services" | "calls" | "containerPorts"
> &
  Partial<Pick<Workload, "partial" | "kind" | "notIntercepted">>;

/** Exactly the fields of a MeshWorkload, as plain data (what the policy pack receives of workloads the stack does not deploy). */
export function meshWorkloadOf(w: Workload): MeshWorkload {
  const { ref, namespace, name, podLabels, sidecar, partial, kind, services, calls, containerPorts, notIntercepted } = w;
  return {
    ref,
    namespace,
    name,
    podLabels,
    sidecar,
    // What the guardrail on a partly injected workload needs: that it is, and the controller to restart.
    ...(partial ? { partial, kind } : {}),
    services,
    calls,
    containerPorts,
    ...(notIntercepted.length > 0 ? { notIntercepted } : {}),
  };
}

export interface PeerAuthentication {
  name: string;
  namespace: string;
  /** matchLabels; null for a namespace- or mesh-wide policy. An empty selector is normalised to null. */
  selector: Record<string, string> | null;
  mode: MtlsMode;
  /** Keyed by workload (target) port. */
  portLevelMtls?: Record<number, MtlsMode>;
  /** Where it is declared (`stages[1].peerAuthentications[0]` in a rollout file), for messages. */
  origin: string;
  /** The reason this policy may switch mTLS off, which the no-mtls-disable rule then accepts and prints. */
  allowDisable?: string;
  /** On the cluster before the rollout: adopted, never deleted, and its name is not the rollout's to choose. */
  existing?: true;
  /** Another tool that manages it on the cluster (discover found it), and the reason the stack takes it over. */
  managedBy?: string;
  takeOver?: string;
}

/** A declared call a stage is allowed to break, with the reason. */
export interface BrokenCallAcknowledgement {
  from: string;
  to: string;
  reason: string;
}

/** A workload port a stage accepts something about (plaintext at the gate, no proof in verify), with the reason. */
export interface PortAcknowledgement {
  /** `namespace/workload:port` */
  target: string;
  reason: string;
}

/** A guardrail finding a stage accepts, with the reason (the cluster as found). */
export interface FindingAcknowledgement {
  rule: (typeof ACKNOWLEDGEABLE_RULES)[number];
  /** `namespace/name` of the policy or workload the finding names. */
  resource: string;
  reason: string;
}

export interface Stage {
  name: string;
  description?: string;
  peerAuthentications: PeerAuthentication[];
  acknowledgeFindings: FindingAcknowledgement[];
  /** Policies in force before this stage that it declares dormant from now on. */
  retire: { namespace: string; name: string }[];
  acknowledgeBrokenCalls: BrokenCallAcknowledgement[];
  acknowledgePlaintext: PortAcknowledgement[];
  acknowledgeUnverifiable: PortAcknowledgement[];
}

export interface Rollout {
  meshRootNamespace: string;
  /** The mesh config's auto mTLS, as the file says (discover reads it). */
  enableAutoMtls: boolean;
  /** The cluster's DestinationRules, in Istio's order: facts the stack never owns. */
  destinationRules: DestinationRule[];
  /** The mesh config makes a DestinationRule without exportTo private to its namespace. */
  destinationRulesPrivateByDefault: boolean;
  namespaces: Namespace[];
  workloads: Workload[];
  stages: Stage[];
  /** Things that are legal but probably not meant, found while reading the file. */
  warnings: Problem[];
}

/** Namespaces every cluster has, which a rollout may use but must not try to create. */
const CLUSTER_NAMESPACES = new Set(["default", "kube-system", "kube-public", "kube-node-lease", "istio-system"]);

/**
 * How large a rollout may be. Each is far above a real mesh's rollout and keeps every command within seconds
 * and a few hundred MiB (BENCHMARKS.md measures the largest file within them).
 */
export const ROLLOUT_LIMITS = {
  namespaces: 5_000,
  workloads: 10_000,
  stages: 500,
  /** PeerAuthentications over all stages: every one exists on the cluster from the first stage on. */
  peerAuthentications: 20_000,
  /** Probe workloads times the Service ports they call: the expectation matrix of every stage. */
  edges: 500_000,
} as const;

/** The sizes checked before anything else reads the document, so no later check is handed a huge one. */
function sizeProblems(data: unknown): Problem[] {
  if (data === null || typeof data !== "object") return [];
  const d = data as Record<string, unknown>;
  const problems: Problem[] = [];
  const length = (v: unknown) => (Array.isArray(v) ? v.length : 0);
  for (const key of ["namespaces", "workloads", "stages"] as const) {
    if (length(d[key]) > ROLLOUT_LIMITS[key]) {
      problems.push({
        path: key,
        message: `has ${count(length(d[key]))} entries; a rollout may have at most ${count(ROLLOUT_LIMITS[key])}`,
      });
    }
  }
  // Every namespace of the probe kit is a probe workload too.
  const probes = d.probes !== null && typeof d.probes === "object" ? length((d.probes as Record<string, unknown>).namespaces) : 0;
  if (problems.length === 0 && probes > 0 && length(d.workloads) + probes > ROLLOUT_LIMITS.workloads) {
    problems.push({
      path: "probes.namespaces",
      message: `has ${count(probes)} entries, each a probe workload: ${count(length(d.workloads) + probes)} workloads with the ${count(length(d.workloads))} declared; a rollout may have at most ${count(ROLLOUT_LIMITS.workloads)}`,
    });
  }
  if (problems.length === 0 && Array.isArray(d.stages)) {
    const policies = d.stages.reduce<number>(
      (n, s) => n + (s !== null && typeof s === "object" ? length((s as Record<string, unknown>).peerAuthentications) : 0),
      0,
    );
    if (policies > ROLLOUT_LIMITS.peerAuthentications) {
      problems.push({
        path: "stages",
        message: `declare ${count(policies)} PeerAuthentications; a rollout may have at most ${count(ROLLOUT_LIMITS.peerAuthentications)}`,
      });
    }
  }
  return problems;
}

/** Every probe calls every Service port but its own: the size of each stage's expectation matrix. */
function edgeProblems(rollout: Rollout): Problem[] {
  const portsOf = (w: Workload) => w.services.reduce((n, s) => n + s.ports.length, 0);
  const allPorts = rollout.workloads.reduce((n, w) => n + portsOf(w), 0);
  const probes = rollout.workloads.filter((w) => w.probe);
  const edges = probes.reduce((n, p) => n + allPorts - portsOf(p), 0);
  if (edges <= ROLLOUT_LIMITS.edges) return [];
  return [
    {
      path: "workloads",
      message: `${count(probes.length)} probes calling ${count(allPorts)} Service ports make ${count(edges)} expected outcomes per stage; at most ${count(ROLLOUT_LIMITS.edges)}: declare fewer probes`,
    },
  ];
}

/** Validates a parsed rollout document; throws InputError with every problem found. */
export function parseRollout(data: unknown, source?: string): Rollout {
  const tooLarge = sizeProblems(data);
  if (tooLarge.length > 0) throw new InputError(tooLarge, source);
  const parsed = rolloutFileSchema.safeParse(data);
  if (!parsed.success) throw new InputError(problemsFromZod(parsed.error, data), source);
  const problems: Problem[] = [];
  checkWorkloadShape(parsed.data, problems);
  const rollout = normalise(parsed.data, problems);
  const tooManyEdges = edgeProblems(rollout);
  if (tooManyEdges.length > 0) throw new InputError(tooManyEdges, source);
  crossCheck(rollout, problems);
  if (problems.length > 0) throw new InputError(problems, source);
  return rollout;
}

/** A Service's target port as a number: given, named (resolved through the workload's named ports), or the port itself. */
function resolveTargetPort(
  p: { port: number; targetPort?: number | string },
  named: readonly NamedPort[],
  path: string,
  problems: Problem[],
): { targetPort: number; targetPortName?: string } {
  if (p.targetPort === undefined) return { targetPort: p.port };
  if (typeof p.targetPort === "number") return { targetPort: p.targetPort };
  const port = named.find((n) => n.name === p.targetPort);
  if (!port) {
    problems.push({
      path: `${path}.targetPort`,
      message: `${describeValue(p.targetPort)} names no port of the workload (its named ports: ${named.map((n) => n.name).join(", ") || "none"}); declare it in ports as { name, containerPort }`,
    });
    return { targetPort: p.port, targetPortName: p.targetPort };
  }
  return { targetPort: port.containerPort, targetPortName: p.targetPort };
}

type FileWorkload = RolloutFile["workloads"][number];

function workloadOf(w: FileWorkload, origin: string, sidecarDefault: boolean, problems: Problem[]): Workload {
  const labels = w.labels ?? { app: w.name };
  const partial = w.sidecar === "partial";
  // The pods with a sidecar are the mesh's: the policies give them their modes.
  const sidecar = partial || w.sidecar === true || (w.sidecar === undefined && sidecarDefault);
  const namedPorts = w.ports.flatMap((p) => (typeof p === "number" ? [] : [p]));
  const declaredPorts = w.ports.map((p) => (typeof p === "number" ? p : p.containerPort));
  const declared = w.services
    ? w.services.map((s, si) => ({ s, at: `${origin}.services[${si}]` }))
    : w.service
      ? [{ s: w.service, at: `${origin}.service` }]
      : [];
  if (w.service && w.services) {
    problems.push({ path: `${origin}.services`, message: "and service both declared: list every Service under services" });
  }
  const services = declared.map(({ s, at }, si) => {
    // Only a workload's one Service may take the workload's name without saying so.
    if (s.name === undefined && declared.length > 1)
      problems.push({ path: `${at}.name`, message: "is required when a workload has more than one Service" });
    return {
      name: s.name ?? (si === 0 ? w.name : `${w.name}-${si}`),
      selector: s.selector ?? labels,
      origin: at,
      ports: s.ports.map((p, pi) => ({
        ...(p.name !== undefined ? { name: p.name } : {}),
        port: p.port,
        ...resolveTargetPort(p, namedPorts, `${at}.ports[${pi}]`, problems),
        protocol: p.protocol,
        ...(p.appProtocol !== undefined ? { appProtocol: p.appProtocol } : {}),
      })),
    };
  });
  return {
    ref: `${w.namespace}/${w.name}`,
    name: w.name,
    namespace: w.namespace,
    origin,
    deploy: w.deploy,
    kind: w.kind,
    labels,
    // A workload the stack deploys carries the explicit injection label; an existing one has what its template has.
    podLabels: podLabels(w.name, labels, sidecar, w.deploy),
    sidecar,
    partial,
    ...(w.image !== undefined ? { image: w.image } : {}),
    container: w.container ?? w.name,
    command: w.command,
    args: w.args,
    env: w.env ?? {},
    serviceAccount: w.serviceAccount ?? w.name,
    replicas: w.replicas ?? 1,
    services,
    containerPorts: [...new Set([...services.flatMap((s) => s.ports.map((p) => p.targetPort)), ...declaredPorts])],
    notIntercepted: w.notIntercepted,
    namedPorts,
    calls: w.calls.map((c) => (typeof c === "string" ? c : c.to)),
    ...(w.calls.some((c) => typeof c !== "string")
      ? {
          observedCalls: Object.fromEntries(
            w.calls.flatMap((c) => (typeof c === "string" ? [] : [[c.to, { observed: c.observed, requests: c.requests }]])),
          ),
        }
      : {}),
    probe: w.probe,
    probePath: w.probePath,
  };
}

function normalise(file: RolloutFile, problems: Problem[]): Rollout {
  const warnings: Problem[] = [];
  const existingWorkloadNamespaces = new Set(file.workloads.filter((w) => !w.deploy).map((w) => w.namespace));
  const namespaces: Namespace[] = file.namespaces.map((ns, i) => {
    // A workload that runs already lives in a namespace that exists already.
    if (ns.existing === false && existingWorkloadNamespaces.has(ns.name)) {
      problems.push({
        path: `namespaces[${i}].existing`,
        message: `is false, but ${describeValue(ns.name)} holds workloads with deploy: false, which run already; the namespace exists`,
      });
    }
    return {
      name: ns.name,
      injection: ns.injection,
      existing:
        ns.existing ?? (CLUSTER_NAMESPACES.has(ns.name) || ns.name === file.meshRootNamespace || existingWorkloadNamespaces.has(ns.name)),
    };
  });
  const kit = probeKit(file.probes, namespaces);
  namespaces.push(...kit.namespaces);
  const injectionOf = new Map(namespaces.map((ns) => [ns.name, ns.injection]));
  const workloads: Workload[] = [
    ...file.workloads.map((w, i) => workloadOf(w, `workloads[${i}]`, injectionOf.get(w.namespace) ?? false, problems)),
    ...kit.workloads,
  ];
  const stages: Stage[] = file.stages.map((stage, si) => ({
    name: stage.name,
    description: stage.description,
    acknowledgeFindings: stage.acknowledgeFindings,
    retire: stage.retire,
    acknowledgeBrokenCalls: stage.acknowledgeBrokenCalls,
    acknowledgePlaintext: stage.acknowledgePlaintext,
    acknowledgeUnverifiable: stage.acknowledgeUnverifiable,
    peerAuthentications: stage.peerAuthentications.map((pa, pi) => {
      const path = `stages[${si}].peerAuthentications[${pi}]`;
      let selector = pa.selector ?? null;
      if (selector && Object.keys(selector).length === 0) {
        // Istio accepts `selector: {}` with a warning and treats it as namespace-wide (R1).
        warnings.push({ path: `${path}.selector`, message: "is empty, so the policy applies to the whole namespace" });
        selector = null;
      }
      const portLevelMtls = pa.portLevelMtls
        ? Object.fromEntries(Object.entries(pa.portLevelMtls).map(([port, mode]) => [Number(port), mode]))
        : undefined;
      if (portLevelMtls && Object.keys(portLevelMtls).length === 0) {
        problems.push({ path: `${path}.portLevelMtls`, message: "must list at least one port (Istio rejects an empty portLevelMtls)" });
      } else if (portLevelMtls && !selector) {
        problems.push({
          path: `${path}.portLevelMtls`,
          message: "requires a selector: Istio rejects port-level mTLS on a namespace- or mesh-wide policy",
        });
      }
      if (pa.existing && si > 0) {
        problems.push({
          path: `${path}.existing`,
          message: "is only for a policy of the first stage, which describes the cluster as it is before the rollout",
        });
      }
      return {
        name: pa.name,
        namespace: pa.namespace,
        selector,
        mode: pa.mode,
        portLevelMtls,
        origin: path,
        ...(pa.allowDisable !== undefined ? { allowDisable: pa.allowDisable } : {}),
        ...(pa.existing ? { existing: true as const } : {}),
        ...(pa.managedBy !== undefined ? { managedBy: pa.managedBy } : {}),
        ...(pa.takeOver !== undefined ? { takeOver: pa.takeOver } : {}),
      };
    }),
  }));
  if (!workloads.some((w) => w.probe)) {
    warnings.push({
      path: "workloads",
      message: "no workload is a probe (probe: true, or a probes: section): verification has nothing to observe and stays inconclusive",
    });
  }
  const destinationRules = file.destinationRules.map((dr, i) => destinationRuleOf(dr, `destinationRules[${i}]`));
  return {
    meshRootNamespace: file.meshRootNamespace,
    enableAutoMtls: file.enableAutoMtls,
    destinationRules,
    destinationRulesPrivateByDefault: file.destinationRulesPrivateByDefault,
    namespaces,
    workloads,
    stages,
    warnings,
  };
}

function firstSeen<T>(items: T[], key: (item: T) => string, onDuplicate: (item: T, index: number, first: number) => void) {
  const seen = new Map<string, number>();
  items.forEach((item, index) => {
    const k = key(item);
    const first = seen.get(k);
    if (first === undefined) seen.set(k, index);
    else onDuplicate(item, index, first);
  });
}

function isSubset(small: Record<string, string>, big: Record<string, string>): boolean {
  return Object.entries(small).every(([k, v]) => big[k] === v);
}

/** Keys of the rollout file a workload that runs already must not have: they describe how the stack deploys one. */
const DEPLOYMENT_ONLY = ["image", "command", "args", "env", "serviceAccount", "replicas"] as const;

function checkWorkloadShape(file: RolloutFile, problems: Problem[]) {
  file.workloads.forEach((w, i) => {
    if (w.deploy) {
      if (w.image === undefined) {
        problems.push({
          path: `workloads[${i}].image`,
          message: "is required: the stack deploys this workload (set deploy: false for one that runs already)",
        });
      }
      if (w.kind !== "Deployment") {
        problems.push({
          path: `workloads[${i}].kind`,
          message: `is ${describeValue(w.kind)}, but the stack deploys only Deployments; set deploy: false for a ${w.kind} that runs already`,
        });
      }
      if (w.notIntercepted.length > 0) {
        problems.push({
          path: `workloads[${i}].notIntercepted`,
          message: "is read from a running workload's pods (deploy: false); the stack deploys none that bypasses its sidecar",
        });
      }
      return;
    }
    for (const key of DEPLOYMENT_ONLY) {
      if (w[key] !== undefined) {
        problems.push({
          path: `workloads[${i}].${key}`,
          message: `is for a workload the stack deploys, but this one has deploy: false (it runs already); remove it (got ${describeValue(w[key])})`,
        });
      }
    }
    if (w.sidecar === undefined) {
      problems.push({
        path: `workloads[${i}].sidecar`,
        message: "is required with deploy: false: say whether the running pods have an istio-proxy sidecar (discover reads it from them)",
      });
    }
  });
  file.workloads.forEach((w, i) => {
    if (w.sidecar === "partial" && w.deploy) {
      problems.push({
        path: `workloads[${i}].sidecar`,
        message: "partial is for a workload running already (deploy: false): the stack deploys every pod alike",
      });
    }
  });
}

function crossCheck(rollout: Rollout, problems: Problem[]) {
  const { namespaces, workloads, stages } = rollout;
  firstSeen(
    namespaces,
    (ns) => ns.name,
    (ns, i, first) =>
      problems.push({
        path: `namespaces[${i}].name`,
        message: `duplicate namespace ${describeValue(ns.name)} (first at namespaces[${first}])`,
      }),
  );
  const declared = new Set(namespaces.map((ns) => ns.name));
  // A duplicate is reported once; checking it further would only repeat the same mistake.
  const duplicates = new Set<number>();
  firstSeen(
    workloads,
    (w) => w.ref,
    (w, i, first) => {
      duplicates.add(i);
      problems.push({
        path: `${w.origin}.name`,
        message: `duplicate workload ${describeValue(w.ref)} (first at ${workloads[first].origin})`,
      });
    },
  );
  const unique = workloads.map((w, i) => ({ w, i })).filter(({ i }) => !duplicates.has(i));
  const byRef = new Map(unique.map(({ w }) => [w.ref, w]));
  const services = unique.flatMap(({ w }) => w.services.map((s) => ({ s, key: `${w.namespace}/${s.name}` })));
  firstSeen(
    services,
    (s) => s.key,
    (s, _i, first) =>
      problems.push({
        path: `${s.s.origin}.name`,
        message: `duplicate service ${describeValue(s.key)} (also declared by ${services[first].s.origin})`,
      }),
  );

  // Workloads with the same labels in a namespace form one set; each set is filed under every label pair it has.
  // A selector's matches are among the sets of its pair that fewest sets carry, so checking every selector stays
  // near-linear in the number of workloads, even when thousands carry the same labels.
  interface LabelSet {
    labels: Record<string, string>;
    members: Workload[];
    /** Its members the stack does not deploy, in order. */
    undeployed: Workload[];
  }
  const indexInSet = new Map<Workload, number>();
  const pair = (namespace: string, k: string, v: string) => `${namespace}\u0000${k}\u0000${v}`;
  const canonical = (w: Workload) => `${w.namespace}\u0000${JSON.stringify(Object.entries(w.labels).sort(([a], [b]) => (a < b ? -1 : 1)))}`;
  const labelSets = new Map<string, LabelSet>();
  const byPair = new Map<string, LabelSet[]>();
  for (const { w } of unique) {
    const key = canonical(w);
    const set = labelSets.get(key);
    if (set) {
      indexInSet.set(w, set.members.length);
      set.members.push(w);
      if (!w.deploy) set.undeployed.push(w);
      continue;
    }
    const created: LabelSet = { labels: w.labels, members: [w], undeployed: w.deploy ? [] : [w] };
    indexInSet.set(w, 0);
    labelSets.set(key, created);
    for (const [k, v] of Object.entries(w.labels)) {
      const list = byPair.get(pair(w.namespace, k, v));
      if (list) list.push(created);
      else byPair.set(pair(w.namespace, k, v), [created]);
    }
  }
  const candidatesFor = (namespace: string, selector: Record<string, string>): LabelSet[] => {
    let fewest: LabelSet[] | undefined;
    for (const [k, v] of Object.entries(selector)) {
      const list = byPair.get(pair(namespace, k, v)) ?? [];
      if (!fewest || list.length < fewest.length) fewest = list;
    }
    return fewest ?? [];
  };
  /** Past this many, a selector that picks other workloads' pods has been shown enough to be fixed. */
  const MAX_OTHERS_SHOWN = 3;
  /**
   * The workloads of `set` whose pods a selector of `w` also picks, but `w` itself. Two deployed workloads with
   * the same labels are reported once, by the later one's Deployment selector (`ownLabels`), so that one skips the
   * earlier deployed members: lazily, so a set of thousands costs a few steps per workload.
   */
  function* othersIn(set: LabelSet, w: Workload, ownLabels: boolean): Generator<Workload> {
    if (!ownLabels || set.members[indexInSet.get(w)!] !== w) {
      for (const other of set.members) if (other !== w) yield other;
      return;
    }
    const at = indexInSet.get(w)!;
    for (const u of set.undeployed) {
      if (indexInSet.get(u)! >= at) break;
      yield u;
    }
    for (let i = at + 1; i < set.members.length; i++) yield set.members[i];
  }

  unique.forEach(({ w }) => {
    const at = w.origin;
    if (!declared.has(w.namespace)) {
      problems.push({
        path: w.origin.startsWith("probes.") ? at : `${at}.namespace`,
        message: `namespace ${describeValue(w.namespace)} is not declared in namespaces`,
      });
    }
    for (const key of Object.keys(w.labels).filter((k) => k.startsWith("mtls-rollout.io/"))) {
      problems.push({
        path: `${at}.labels`,
        message: `${describeValue(key)} uses the mtls-rollout.io/ prefix, which mtls-rollout reserves (dormant policies select by it)`,
      });
    }
    // A Service takes the workload's name unless it has its own, and a Service's name must start with a letter.
    for (const s of w.services) {
      if (s.name === w.name && !/^[a-z]/.test(w.name) && !w.origin.startsWith("probes.")) {
        problems.push({
          path: s.origin,
          message: `needs a name: the Service would take the workload's name ${describeValue(w.name)}, but a Service's name must start with a letter (DNS-1035)`,
        });
      }
    }
    if (Object.keys(w.labels).length === 0) {
      problems.push({
        path: `${at}.labels`,
        message: "must have at least one label: the Deployment and Service select pods by them",
      });
    }
    // A selector picks pods by label: the Service's (and a deployed workload's Deployment's) must pick
    // this workload's pods and no other's, or every expectation about it is wrong.
    for (const s of w.services) {
      if (!isSubset(s.selector, w.labels)) {
        problems.push({
          path: `${s.origin}.selector`,
          message: `${describeValue(s.selector)} does not select the workload's own pods (labels ${describeValue(w.labels)})`,
        });
      }
    }
    const selectors = [...(w.deploy ? [{ labels: w.labels, path: `${at}.labels` }] : [])];
    for (const s of w.services) {
      // One check per distinct selector: the workload's labels once, each Service's own selector once.
      if (w.deploy && s.selector === w.labels) continue;
      const path = s.selector === w.labels ? `${at}.labels` : `${s.origin}.selector`;
      if (!selectors.some((x) => x.labels === s.selector)) selectors.push({ labels: s.selector, path });
    }
    for (const selector of selectors) {
      if (Object.keys(selector.labels).length === 0) continue;
      let shown = 0;
      scan: for (const set of candidatesFor(w.namespace, selector.labels)) {
        if (!isSubset(selector.labels, set.labels)) continue;
        for (const other of othersIn(set, w, selector.labels === w.labels)) {
          if (shown === MAX_OTHERS_SHOWN) {
            problems.push({ path: selector.path, message: `${describeValue(selector.labels)} also select the pods of more workloads` });
            break scan;
          }
          shown++;
          problems.push({
            path: selector.path,
            message: `${describeValue(selector.labels)} also select the pods of ${other.ref}; give each workload a distinguishing label`,
          });
        }
      }
    }
    firstSeen(
      w.namedPorts,
      (p) => p.name,
      (p) => problems.push({ path: `${at}.ports`, message: `duplicate port name ${describeValue(p.name)}` }),
    );
    for (const s of w.services) {
      firstSeen(
        s.ports,
        (p) => String(p.port),
        (p, pi) => problems.push({ path: `${s.origin}.ports[${pi}].port`, message: `duplicate service port ${p.port}` }),
      );
      if (s.ports.length > 1) {
        s.ports.forEach((p, pi) => {
          if (!p.name)
            problems.push({
              path: `${s.origin}.ports[${pi}].name`,
              message: "is required when a service has more than one port",
            });
        });
        firstSeen(
          s.ports.filter((p) => p.name),
          (p) => p.name!,
          (p) => problems.push({ path: `${s.origin}.ports`, message: `duplicate port name ${describeValue(p.name)}` }),
        );
      }
    }
    w.calls.forEach((target, ci) => {
      const path = `${at}.calls[${ci}]`;
      const callee = byRef.get(target);
      if (!callee) problems.push({ path, message: `${describeValue(target)} is not a declared workload` });
      else if (callee === w) problems.push({ path, message: `${describeValue(target)} is the workload itself` });
      else if (callee.services.length === 0) problems.push({ path, message: `${describeValue(target)} has no service to call` });
    });
  });

  firstSeen(
    stages,
    (s) => s.name,
    (s, i, first) =>
      problems.push({ path: `stages[${i}].name`, message: `duplicate stage ${describeValue(s.name)} (first at stages[${first}])` }),
  );
  // One selector-less policy per namespace across the whole rollout: a later stage's namespace- or mesh-wide
  // policy of another name is created dormant from the first stage on, older than any that comes after it,
  // and Istio keeps the oldest selector-less policy, so it would win over the one in force.
  // (Two in one stage are that stage's own conflict, which the plan reports as such.)
  const wideName = new Map<string, { name: string; path: string; stage: number }>();
  stages.forEach((stage, si) =>
    stage.peerAuthentications.forEach((pa, pi) => {
      if (pa.selector !== null) return;
      const first = wideName.get(pa.namespace);
      const path = `stages[${si}].peerAuthentications[${pi}]`;
      if (!first) wideName.set(pa.namespace, { name: pa.name, path, stage: si });
      else if (first.name !== pa.name && first.stage !== si) {
        const scope = pa.namespace === rollout.meshRootNamespace ? "mesh" : "namespace";
        problems.push({
          path: `${path}.name`,
          message: `${describeValue(`${pa.namespace}/${pa.name}`)} is a second ${scope}-wide policy besides ${describeValue(`${pa.namespace}/${first.name}`)} (${first.path}); the stack creates every stage's policy from the first stage on (dormant until its stage), Istio applies only the oldest selector-less one, so one would hide the other: give every stage's ${scope}-wide policy in ${pa.namespace} the same name`,
        });
      }
    }),
  );
  const policyIds = new Set(stages.flatMap((st) => st.peerAuthentications.map((pa) => `${pa.namespace}/${pa.name}`)));
  stages.forEach((stage, si) => {
    firstSeen(
      stage.peerAuthentications,
      (pa) => `${pa.namespace}/${pa.name}`,
      (pa, pi) =>
        problems.push({
          path: `stages[${si}].peerAuthentications[${pi}].name`,
          message: `duplicate PeerAuthentication ${describeValue(`${pa.namespace}/${pa.name}`)} in one stage`,
        }),
    );
    for (const list of ["acknowledgePlaintext", "acknowledgeUnverifiable"] as const) {
      stage[list].forEach((ack, ai) => {
        const [ref, port] = ack.target.split(":");
        const w = byRef.get(ref);
        if (!w)
          problems.push({
            path: `stages[${si}].${list}[${ai}].target`,
            message: `${describeValue(ref)} is not a declared workload`,
          });
        else if (!w.containerPorts.includes(Number(port))) {
          problems.push({
            path: `stages[${si}].${list}[${ai}].target`,
            message: `${describeValue(port)} is no workload port of ${ref} (it listens on ${w.containerPorts.join(", ") || "no declared port"})`,
          });
        }
      });
    }
    stage.retire.forEach((r, ri) => {
      const id = `${r.namespace}/${r.name}`;
      const inForceBefore = si > 0 && policiesInForceAt({ stages }, si - 1).some((p) => `${p.policy.namespace}/${p.policy.name}` === id);
      if (!inForceBefore)
        problems.push({ path: `stages[${si}].retire[${ri}]`, message: `${describeValue(id)} is no policy in force at the stage before` });
      if (stage.peerAuthentications.some((p) => `${p.namespace}/${p.name}` === id))
        problems.push({
          path: `stages[${si}].retire[${ri}]`,
          message: `${describeValue(id)} is declared by this stage too: retire it or declare it`,
        });
    });
    stage.acknowledgeFindings.forEach((ack, ai) => {
      if (!byRef.has(ack.resource.replace(/:\d+$/, "")) && !policyIds.has(ack.resource)) {
        problems.push({
          path: `stages[${si}].acknowledgeFindings[${ai}].resource`,
          message: `${describeValue(ack.resource)} is neither a declared workload nor a policy of any stage`,
        });
      }
    });
    stage.acknowledgeBrokenCalls.forEach((ack, ai) => {
      const declaredCall = byRef.get(ack.from)?.calls.includes(ack.to);
      if (!declaredCall) {
        problems.push({
          path: `stages[${si}].acknowledgeBrokenCalls[${ai}]`,
          message: `${describeValue(`${ack.from} -> ${ack.to}`)} is not a declared call`,
        });
      }
    });
    stage.peerAuthentications.forEach((pa, pi) => {
      if (pa.namespace !== rollout.meshRootNamespace && !declared.has(pa.namespace)) {
        problems.push({
          path: `stages[${si}].peerAuthentications[${pi}].namespace`,
          message: `${describeValue(pa.namespace)} is neither a declared namespace nor the mesh root namespace ${describeValue(rollout.meshRootNamespace)}`,
        });
      }
      // A reason that accepts nothing today would accept a DISABLE added to the policy later, unreviewed.
      const ports = pa.portLevelMtls ?? {};
      if (pa.allowDisable !== undefined && pa.mode !== "DISABLE" && !Object.values(ports).includes("DISABLE")) {
        problems.push({
          path: `stages[${si}].peerAuthentications[${pi}].allowDisable`,
          message: `accepts a DISABLE, but ${pa.namespace}/${pa.name} sets none (mode ${pa.mode}${Object.keys(ports).length ? ", no port DISABLE" : ""}): remove it, so that it cannot accept one added later without review`,
        });
      }
    });
  });
}

type FileTrafficPolicy = NonNullable<RolloutFile["destinationRules"][number]["trafficPolicy"]>;

function tlsPolicyOf(tp: FileTrafficPolicy | undefined): TlsPolicy | undefined {
  if (!tp) return undefined;
  return {
    ...(tp.tls ? { tls: tp.tls.mode } : {}),
    // The first entry for a port is the one Istio uses (`GetPortLevelTrafficPolicy`).
    ports: Object.fromEntries([...(tp.portLevelSettings ?? [])].reverse().map((p) => [String(p.port.number), p.tls?.mode ?? null])),
  };
}

/** A rollout file's DestinationRule as the model reads it. */
export function destinationRuleOf(dr: RolloutFile["destinationRules"][number], origin: string): DestinationRule {
  const trafficPolicy = tlsPolicyOf(dr.trafficPolicy);
  return {
    name: dr.name,
    namespace: dr.namespace,
    host: dr.host,
    exportTo: dr.exportTo ?? [],
    workloadSelector: dr.workloadSelector ? { ...dr.workloadSelector.matchLabels } : null,
    ...(trafficPolicy ? { trafficPolicy } : {}),
    subsets: (dr.subsets ?? []).map((s) => {
      const tp = tlsPolicyOf(s.trafficPolicy);
      return { name: s.name, ...(tp ? { trafficPolicy: tp } : {}) };
    }),
    origin,
  };
}

/** What the rollout's clients send: its DestinationRules and the mesh's auto mTLS, indexed once. */
const clientTlsOfRollout = new WeakMap<Rollout, ClientTlsIndex>();
export function clientTlsOf(
  rollout: Pick<Rollout, "destinationRules" | "enableAutoMtls" | "meshRootNamespace"> &
    Partial<Pick<Rollout, "destinationRulesPrivateByDefault">>,
): ClientTlsIndex {
  const known = clientTlsOfRollout.get(rollout as Rollout);
  if (known) return known;
  const index = new ClientTlsIndex(rollout.destinationRules ?? [], {
    meshRootNamespace: rollout.meshRootNamespace,
    enableAutoMtls: rollout.enableAutoMtls ?? true,
    ...(rollout.destinationRulesPrivateByDefault ? { defaultExportTo: ["."] } : {}),
  });
  clientTlsOfRollout.set(rollout as Rollout, index);
  return index;
}
