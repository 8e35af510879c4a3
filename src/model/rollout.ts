import { InputError, Problem, describeValue, problemsFromZod } from "./errors";
import { podLabels } from "./pods";
import { MtlsMode, rolloutFileSchema, RolloutFile } from "./schema";

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
  targetPort: number;
  protocol: "TCP";
}

export interface Workload {
  /** `namespace/name`, the workload's identity in edges and messages. */
  ref: string;
  name: string;
  namespace: string;
  /** The labels the rollout gives the pods; the Deployment and Service select by them. */
  labels: Record<string, string>;
  /** Every label the running pods carry, including the ones the sidecar injector adds: what PeerAuthentication selectors match. */
  podLabels: Record<string, string>;
  sidecar: boolean;
  image: string;
  container: string;
  command?: string[];
  args?: string[];
  env: Record<string, string>;
  serviceAccount: string;
  replicas: number;
  service?: { name: string; ports: ServicePort[] };
  /** Every port the workload's container listens on: its Service's target ports and any declared `ports`. */
  containerPorts: number[];
  calls: string[];
  probe: boolean;
  probePath: string;
}

/**
 * What Istio's semantics need to know of a workload. The policy pack rebuilds exactly this from a
 * stack's Deployments and Services.
 */
export type MeshWorkload = Pick<Workload, "ref" | "namespace" | "name" | "podLabels" | "sidecar" | "service" | "calls" | "containerPorts">;

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
}

/** A declared call a stage is allowed to break, with the reason. */
export interface BrokenCallAcknowledgement {
  from: string;
  to: string;
  reason: string;
}

/** A workload port the pre-flight gate may find receiving plaintext, with the reason. */
export interface PlaintextAcknowledgement {
  /** `namespace/workload:port` */
  target: string;
  reason: string;
}

export interface Stage {
  name: string;
  description?: string;
  peerAuthentications: PeerAuthentication[];
  acknowledgeBrokenCalls: BrokenCallAcknowledgement[];
  acknowledgePlaintext: PlaintextAcknowledgement[];
}

export interface Rollout {
  meshRootNamespace: string;
  namespaces: Namespace[];
  workloads: Workload[];
  stages: Stage[];
  /** Things that are legal but probably not meant, found while reading the file. */
  warnings: Problem[];
}

/** Namespaces every cluster has, which a rollout may use but must not try to create. */
const CLUSTER_NAMESPACES = new Set(["default", "kube-system", "kube-public", "kube-node-lease", "istio-system"]);

/** Validates a parsed rollout document; throws InputError with every problem found. */
export function parseRollout(data: unknown, source?: string): Rollout {
  const parsed = rolloutFileSchema.safeParse(data);
  if (!parsed.success) throw new InputError(problemsFromZod(parsed.error, data), source);
  const problems: Problem[] = [];
  const rollout = normalise(parsed.data, problems);
  crossCheck(rollout, problems);
  if (problems.length > 0) throw new InputError(problems, source);
  return rollout;
}

function normalise(file: RolloutFile, problems: Problem[]): Rollout {
  const warnings: Problem[] = [];
  const namespaces: Namespace[] = file.namespaces.map((ns) => ({
    name: ns.name,
    injection: ns.injection,
    existing: ns.existing ?? (CLUSTER_NAMESPACES.has(ns.name) || ns.name === file.meshRootNamespace),
  }));
  const injectionOf = new Map(namespaces.map((ns) => [ns.name, ns.injection]));
  const workloads: Workload[] = file.workloads.map((w) => {
    const labels = w.labels ?? { app: w.name };
    const sidecar = w.sidecar ?? injectionOf.get(w.namespace) ?? false;
    return {
      ref: `${w.namespace}/${w.name}`,
      name: w.name,
      namespace: w.namespace,
      labels,
      podLabels: podLabels(w.name, labels, sidecar),
      sidecar,
      image: w.image,
      container: w.container ?? w.name,
      command: w.command,
      args: w.args,
      env: w.env ?? {},
      serviceAccount: w.serviceAccount ?? w.name,
      replicas: w.replicas,
      service: w.service && {
        name: w.service.name ?? w.name,
        ports: w.service.ports.map((p) => ({ ...p, targetPort: p.targetPort ?? p.port })),
      },
      containerPorts: [...new Set([...(w.service?.ports ?? []).map((p) => p.targetPort ?? p.port), ...w.ports])],
      calls: w.calls,
      probe: w.probe,
      probePath: w.probePath,
    };
  });
  const stages: Stage[] = file.stages.map((stage, si) => ({
    name: stage.name,
    description: stage.description,
    acknowledgeBrokenCalls: stage.acknowledgeBrokenCalls,
    acknowledgePlaintext: stage.acknowledgePlaintext,
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
      return {
        name: pa.name,
        namespace: pa.namespace,
        selector,
        mode: pa.mode,
        portLevelMtls,
        origin: path,
        ...(pa.allowDisable !== undefined ? { allowDisable: pa.allowDisable } : {}),
      };
    }),
  }));
  return { meshRootNamespace: file.meshRootNamespace, namespaces, workloads, stages, warnings };
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
      problems.push({ path: `workloads[${i}].name`, message: `duplicate workload ${describeValue(w.ref)} (first at workloads[${first}])` });
    },
  );
  const unique = workloads.map((w, i) => ({ w, i })).filter(({ i }) => !duplicates.has(i));
  const byRef = new Map(unique.map(({ w }) => [w.ref, w]));
  const services = unique.flatMap(({ w, i }) => (w.service ? [{ w, i, key: `${w.namespace}/${w.service.name}` }] : []));
  firstSeen(
    services,
    (s) => s.key,
    (s, _i, first) =>
      problems.push({
        path: `workloads[${s.i}].service.name`,
        message: `duplicate service ${describeValue(s.key)} (also declared by workloads[${services[first].i}])`,
      }),
  );

  const byNamespace = new Map<string, { w: Workload; i: number }[]>();
  for (const entry of unique) {
    const list = byNamespace.get(entry.w.namespace);
    if (list) list.push(entry);
    else byNamespace.set(entry.w.namespace, [entry]);
  }

  unique.forEach(({ w, i }) => {
    if (!declared.has(w.namespace)) {
      problems.push({
        path: `workloads[${i}].namespace`,
        message: `namespace ${describeValue(w.namespace)} is not declared in namespaces`,
      });
    }
    for (const key of Object.keys(w.labels).filter((k) => k.startsWith("mtls-rollout.io/"))) {
      problems.push({
        path: `workloads[${i}].labels`,
        message: `${describeValue(key)} uses the mtls-rollout.io/ prefix, which mtls-rollout reserves (dormant policies select by it)`,
      });
    }
    if (Object.keys(w.labels).length === 0) {
      problems.push({
        path: `workloads[${i}].labels`,
        message: "must have at least one label: the Deployment and Service select pods by them",
      });
    }
    // A Service selects pods by label: if these labels are a subset of another workload's, this
    // workload's Service also routes to the other's pods, and every expectation about it is wrong.
    byNamespace.get(w.namespace)!.forEach(({ w: other, i: j }) => {
      if (j !== i && Object.keys(w.labels).length > 0 && isSubset(w.labels, other.labels)) {
        if (j < i && isSubset(other.labels, w.labels)) return; // identical sets: reported once, at the later one
        problems.push({
          path: `workloads[${i}].labels`,
          message: `${describeValue(w.labels)} also select the pods of ${other.ref}; give each workload a distinguishing label`,
        });
      }
    });
    if (w.service) {
      firstSeen(
        w.service.ports,
        (p) => String(p.port),
        (p, pi) => problems.push({ path: `workloads[${i}].service.ports[${pi}].port`, message: `duplicate service port ${p.port}` }),
      );
      if (w.service.ports.length > 1) {
        w.service.ports.forEach((p, pi) => {
          if (!p.name)
            problems.push({
              path: `workloads[${i}].service.ports[${pi}].name`,
              message: "is required when a service has more than one port",
            });
        });
        firstSeen(
          w.service.ports.filter((p) => p.name),
          (p) => p.name!,
          (p) => problems.push({ path: `workloads[${i}].service.ports`, message: `duplicate port name ${describeValue(p.name)}` }),
        );
      }
    }
    w.calls.forEach((target, ci) => {
      const path = `workloads[${i}].calls[${ci}]`;
      const callee = byRef.get(target);
      if (!callee) problems.push({ path, message: `${describeValue(target)} is not a declared workload` });
      else if (callee === w) problems.push({ path, message: `${describeValue(target)} is the workload itself` });
      else if (!callee.service) problems.push({ path, message: `${describeValue(target)} has no service to call` });
    });
  });

  firstSeen(
    stages,
    (s) => s.name,
    (s, i, first) =>
      problems.push({ path: `stages[${i}].name`, message: `duplicate stage ${describeValue(s.name)} (first at stages[${first}])` }),
  );
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
    stage.acknowledgePlaintext.forEach((ack, ai) => {
      const [ref, port] = ack.target.split(":");
      const w = byRef.get(ref);
      if (!w)
        problems.push({
          path: `stages[${si}].acknowledgePlaintext[${ai}].target`,
          message: `${describeValue(ref)} is not a declared workload`,
        });
      else if (!w.containerPorts.includes(Number(port))) {
        problems.push({
          path: `stages[${si}].acknowledgePlaintext[${ai}].target`,
          message: `${describeValue(port)} is no workload port of ${ref} (it listens on ${w.containerPorts.join(", ") || "no declared port"})`,
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
    });
  });
}
