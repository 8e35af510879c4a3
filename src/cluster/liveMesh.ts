/**
 * A cluster snapshot turned into what the model's live semantics read (src/model/live.ts): the policies with their
 * creation times, every controller with the live pods it owns, and the live pods no Deployment, StatefulSet or
 * DaemonSet owns (a Job's, a CronJob's, a bare pod), grouped by their owner. Pure; linear in the snapshot.
 */
import { ADOPTED_ANNOTATION, STACK_ANNOTATION, STAGE_ANNOTATION } from "../manifests/kubernetes";
import { isDormant, policyOf } from "../manifests/parse";
import { LivePolicy, LiveState, LiveWorkload, resolveLive } from "../model/live";
import { groupBy } from "../model/groupBy";
import { isLivePod, ownedBy, ownerOf, podHasSidecar, PROXY_CONTAINER, templateInjection } from "./kube";
import type { InjectorWebhook } from "../model/injection";
import type { ControllerObject, PeerAuthenticationObject, PodObject } from "./objects";
import type { ClusterSnapshot } from "./snapshot";

/** Each live PeerAuthentication with what decides its place among competing ones. */
export function livePolicies(objects: readonly PeerAuthenticationObject[]): LivePolicy[] {
  return objects.map((o) => {
    const policy = policyOf(o, `live ${o.metadata.namespace}/${o.metadata.name}`);
    return {
      policy,
      createdAt: Date.parse(o.metadata.creationTimestamp),
      dormant: isDormant(o, policy),
      managed: o.metadata.annotations?.[STAGE_ANNOTATION] !== undefined,
      ...(o.metadata.annotations?.[STAGE_ANNOTATION] !== undefined ? { stage: o.metadata.annotations[STAGE_ANNOTATION] } : {}),
      ...(o.metadata.annotations?.[ADOPTED_ANNOTATION] === "true" ? { adopted: true } : {}),
      ...(o.metadata.annotations?.[STACK_ANNOTATION] !== undefined ? { stack: o.metadata.annotations[STACK_ANNOTATION] } : {}),
      ...(ownerOfObject(o) ? { owner: ownerOfObject(o) } : {}),
    };
  });
}

/** Pods no controller of the snapshot owns, grouped as Istio names their workload. */
export interface PodGroupByOwner {
  namespace: string;
  /** Istio's workload name for them: the Job's (the CronJob's for a job it created), the ReplicaSet's, the pod's own. */
  name: string;
  kind: string;
  pods: PodObject[];
}

export interface OwnedPods {
  byController: Map<ControllerObject, PodObject[]>;
  others: PodGroupByOwner[];
}

/**
 * A Job created by a CronJob is named `CRONJOB-<minutes since the epoch>`; Istio names such a pod's workload after
 * the CronJob (istio/istio pkg/kube/util.go, GetDeployMetaFromPod, cronJobNameRegexp).
 */
const CRONJOB_JOB_NAME = /^(.+)-\d{8,10}$/;

/** Who a pod's workload is, for a pod no controller of the snapshot owns. */
function ownerGroup(pod: PodObject): { kind: string; name: string } {
  const owner = ownerOf(pod);
  if (!owner) return { kind: "Pod", name: pod.metadata.name };
  if (owner.kind === "Job") {
    const cron = CRONJOB_JOB_NAME.exec(owner.name);
    return cron ? { kind: "CronJob", name: cron[1] } : owner;
  }
  return owner;
}

/**
 * Every live pod with the controller that owns it, found through an index of the controllers by owner name, so
 * that 10,000 controllers and 50,000 pods cost one pass over each, not their product.
 */
export function podsByOwner(snapshot: Pick<ClusterSnapshot, "controllers" | "pods">): OwnedPods {
  const byController = new Map<ControllerObject, PodObject[]>(snapshot.controllers.map((c) => [c, []]));
  const byOwnerName = new Map<string, ControllerObject>();
  const deploymentsByNamespace = groupBy(
    snapshot.controllers.filter((c) => c.kind === "Deployment"),
    (c) => c.metadata.namespace,
  );
  for (const c of snapshot.controllers) byOwnerName.set(`${c.metadata.namespace}\u0000${c.kind}\u0000${c.metadata.name}`, c);
  const others = new Map<string, PodGroupByOwner>();
  for (const pod of snapshot.pods) {
    if (!isLivePod(pod)) continue;
    const ns = pod.metadata.namespace;
    const owner = ownerOf(pod);
    let controller: ControllerObject | undefined;
    if (owner && (owner.kind === "StatefulSet" || owner.kind === "DaemonSet")) {
      controller = byOwnerName.get(`${ns}\u0000${owner.kind}\u0000${owner.name}`);
    } else if (owner?.kind === "ReplicaSet") {
      const hash = Object.prototype.hasOwnProperty.call(pod.metadata.labels ?? {}, "pod-template-hash")
        ? pod.metadata.labels!["pod-template-hash"]
        : undefined;
      controller =
        hash !== undefined && owner.name.endsWith(`-${hash}`)
          ? byOwnerName.get(`${ns}\u0000Deployment\u0000${owner.name.slice(0, -hash.length - 1)}`)
          : (deploymentsByNamespace.get(ns) ?? []).find((d) => ownedBy(pod, d));
    }
    if (controller) {
      byController.get(controller)!.push(pod);
      continue;
    }
    const { kind, name } = ownerGroup(pod);
    const key = `${ns}\u0000${kind}\u0000${name}`;
    const group = others.get(key);
    if (group) group.pods.push(pod);
    else others.set(key, { namespace: ns, name, kind, pods: [pod] });
  }
  return { byController, others: [...others.values()] };
}

/** The TCP ports a pod template's containers declare (Istio's proxy aside). */
export function templatePorts(controller: ControllerObject): number[] {
  const ports = new Set<number>();
  for (const c of controller.spec.template.spec.containers) {
    if (c.name === PROXY_CONTAINER) continue;
    for (const p of c.ports ?? []) if ((p.protocol ?? "TCP") === "TCP") ports.add(p.containerPort);
  }
  return [...ports].sort((a, b) => a - b);
}

const livePod = (pod: PodObject) => ({ name: pod.metadata.name, labels: pod.metadata.labels ?? {}, sidecar: podHasSidecar(pod) });

/** A controller's workload as the model's live semantics read it. */
export function controllerWorkload(
  controller: ControllerObject,
  pods: readonly PodObject[],
  ports: number[],
  namespaceLabels: Record<string, string> = {},
  webhooks?: readonly InjectorWebhook[],
): LiveWorkload {
  const labels = controller.spec.template.metadata?.labels ?? {};
  return {
    ref: `${controller.metadata.namespace}/${controller.metadata.name}`,
    namespace: controller.metadata.namespace,
    name: controller.metadata.name,
    kind: controller.kind,
    pods: pods.map(livePod),
    template: { labels, sidecar: templateInjection(controller, namespaceLabels, webhooks).sidecar },
    ports,
  };
}

/** Pods no controller owns, as one workload of their owner. */
export function ownerWorkload(group: PodGroupByOwner): LiveWorkload {
  const ports = new Set<number>();
  for (const pod of group.pods)
    for (const c of pod.spec.containers)
      if (c.name !== PROXY_CONTAINER) for (const p of c.ports ?? []) if ((p.protocol ?? "TCP") === "TCP") ports.add(p.containerPort);
  return {
    ref: `${group.namespace}/${group.name}`,
    namespace: group.namespace,
    name: group.name,
    kind: group.kind,
    pods: group.pods.map(livePod),
    ports: [...ports].sort((a, b) => a - b),
  };
}

export interface LiveStateOptions {
  meshRootNamespace: string;
  /** The ports to resolve for a workload (`namespace/name` and kind), when a rollout declares them; its template's otherwise. */
  portsOf?: (ref: string, kind: string) => number[] | undefined;
}

/** What Istio makes of the snapshot: every controller's and every other pod group's live modes. */
export function liveStateOf(snapshot: ClusterSnapshot, options: LiveStateOptions): LiveState {
  const owned = podsByOwner(snapshot);
  const namespaceLabels = new Map(snapshot.namespaces.map((n) => [n.metadata.name, n.metadata.labels ?? {}]));
  const workloads: LiveWorkload[] = [];
  for (const [c, pods] of owned.byController) {
    const ref = `${c.metadata.namespace}/${c.metadata.name}`;
    const ports = options.portsOf?.(ref, c.kind) ?? templatePorts(c);
    workloads.push(controllerWorkload(c, pods, ports, namespaceLabels.get(c.metadata.namespace), snapshot.injectorWebhooks));
  }
  for (const group of owned.others) workloads.push(ownerWorkload(group));
  return resolveLive(livePolicies(snapshot.peerAuthentications), workloads, options.meshRootNamespace);
}

/**
 * Another tool that manages an object, from the marks it leaves: Helm (`app.kubernetes.io/managed-by: Helm`,
 * `meta.helm.sh/release-name`), Argo CD (`argocd.argoproj.io/tracking-id`, `argocd.argoproj.io/instance`), Flux
 * (`kustomize.toolkit.fluxcd.io/name`, `helm.toolkit.fluxcd.io/name`), a Pulumi stack (pulumi-kubernetes' own
 * `app.kubernetes.io/managed-by: pulumi`), or any other `app.kubernetes.io/managed-by`. An mtls-rollout stack's own
 * policies are not another tool's.
 */
export function ownerOfObject(o: {
  metadata: {
    labels?: Record<string, string> | null;
    annotations?: Record<string, string> | null;
    managedFields?: { manager?: string | null }[] | null;
  };
}): string | undefined {
  const labels = o.metadata.labels ?? {};
  const annotations = o.metadata.annotations ?? {};
  if (annotations[STAGE_ANNOTATION] !== undefined) return undefined;
  // Server-side apply's field managers, where no label says who writes it: pulumi-kubernetes (`pulumi-kubernetes-<id>`),
  // Argo CD (`argocd-controller`), Flux (`kustomize-controller`, `helm-controller`).
  const managers = (o.metadata.managedFields ?? []).map((m) => m.manager ?? "");
  const pulumiManager = managers.find((m) => m.startsWith("pulumi-kubernetes"));
  if (pulumiManager) return `another Pulumi stack (field manager ${pulumiManager})`;
  const argoManager = managers.find((m) => m.startsWith("argocd"));
  if (argoManager) return `Argo CD (field manager ${argoManager})`;
  const fluxManager = managers.find((m) => m === "kustomize-controller" || m === "helm-controller");
  if (fluxManager) return `Flux (field manager ${fluxManager})`;
  const release = annotations["meta.helm.sh/release-name"];
  if (release !== undefined)
    return `Helm (release ${release}${annotations["meta.helm.sh/release-namespace"] ? ` in ${annotations["meta.helm.sh/release-namespace"]}` : ""})`;
  const argo = annotations["argocd.argoproj.io/tracking-id"] ?? labels["argocd.argoproj.io/instance"];
  if (argo !== undefined) return `Argo CD (${argo.split(":")[0]})`;
  // Argo CD's default tracking label before 3.0, which Helm charts set too: an owner either way.
  const instance = labels["app.kubernetes.io/instance"];
  if (instance !== undefined && labels["app.kubernetes.io/managed-by"] === undefined)
    return `Argo CD or Helm (app.kubernetes.io/instance: ${instance})`;
  const flux = labels["kustomize.toolkit.fluxcd.io/name"] ?? labels["helm.toolkit.fluxcd.io/name"];
  if (flux !== undefined) return `Flux (${flux})`;
  const by = labels["app.kubernetes.io/managed-by"];
  if (by === undefined) return undefined;
  return by.toLowerCase() === "pulumi" ? "another Pulumi stack (app.kubernetes.io/managed-by: pulumi)" : by === "Helm" ? "Helm" : by;
}
