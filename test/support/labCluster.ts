/**
 * A rollout's mesh as a cluster runs it, in the shapes `kubectl get … -o json` prints: each workload's controller,
 * Service and pods, and the PeerAuthentications the stack puts there at a stage. Every object is a copy of one of
 * test/fixtures/cluster (the API's shapes with the API server's defaults, the injector's containers; see its
 * SOURCES.md) given the workload's own names, labels, ports and sidecar, so the objects stay as faithful as those;
 * test/liveCluster.test.ts validates them against the published schema.
 */
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { dormantPeerAuthenticationManifest, peerAuthenticationManifest } from "../../src/manifests/kubernetes";
import { buildPlan } from "../../src/model/plan";
import { parseRollout, type PeerAuthentication, type Rollout, type Workload } from "../../src/model/rollout";
import { resolveLive, type LiveState } from "../../src/model/live";
import type { ListName } from "./kubectlFromLists";

type Item = Record<string, any>;
export type ClusterLists = Record<ListName, Item[]>;

const FIXTURES = path.join(__dirname, "..", "fixtures", "cluster");
const fixture = (list: ListName): Item[] => JSON.parse(fs.readFileSync(path.join(FIXTURES, `${list}.json`), "utf8")).items;
const clone = <T>(o: T): T => structuredClone(o);
const one = (list: ListName, pick: (o: Item) => boolean) => clone(fixture(list).find(pick)!);

/** A stable lower-case alphanumeric of `n` characters for `seed` (a pod-template-hash, a pod's suffix, a uid part). */
const hashOf = (seed: string, n: number) =>
  BigInt(`0x${createHash("sha256").update(seed).digest("hex").slice(0, 24)}`)
    .toString(36)
    .padStart(n, "0")
    .slice(0, n);
const uid = (seed: string) => {
  const h = createHash("sha256").update(seed).digest("hex");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-8${h.slice(17, 20)}-${h.slice(20, 32)}`;
};

export interface ClusterOptions {
  /** The PeerAuthentications' creationTimestamp. */
  created?: string;
  /** Pods of a workload (`namespace/name`) that run without a sidecar although the rollout says it has one. */
  withoutSidecar?: Record<string, number>;
  /** Pods of each workload the stack does not deploy (a rollout file says nothing of their replicas); default 1. */
  replicas?: number;
}

/** The PeerAuthentications a stack at `stage` has put on the cluster, as the API server returns them. */
export function policiesAt(rollout: Rollout, stage: string, created = "2026-11-01T10:00:00Z"): Item[] {
  const plan = buildPlan(rollout, stage);
  return [...plan.peerAuthentications.map(peerAuthenticationManifest), ...plan.dormant.map(dormantPeerAuthenticationManifest)].map(
    (m, i) => ({
      ...m,
      metadata: {
        ...m.metadata,
        creationTimestamp: created,
        generation: 1,
        resourceVersion: String(5000 + i),
        uid: uid(`${m.metadata.namespace}/${m.metadata.name}`),
      },
    }),
  );
}

function namespaceObject(name: string, injection: boolean): Item {
  const ns = one("namespaces", (n) => n.metadata.name === "kube-node-lease");
  ns.metadata.name = name;
  ns.metadata.uid = uid(`namespace ${name}`);
  ns.metadata.labels = { "kubernetes.io/metadata.name": name, ...(injection ? { "istio-injection": "enabled" } : {}) };
  return ns;
}

/** The pod template's labels and annotations, as the stack's Deployment writes them (or as the file gives them). */
function templateMetadata(w: Workload): { labels: Record<string, string>; annotations?: Record<string, string> } {
  if (!w.deploy) return { labels: { ...w.labels } };
  // manifests/kubernetes.ts deploymentManifest: the explicit injection label, the stats annotation on sidecars.
  const labels = { ...w.labels, "sidecar.istio.io/inject": String(w.sidecar) };
  return w.sidecar
    ? {
        labels,
        annotations: {
          "proxy.istio.io/config": 'proxyStatsMatcher:\n  inclusionPrefixes:\n  - "tls_inspector"\n  - "listener.0.0.0.0_15006"',
        },
      }
    : { labels };
}

function appContainer(w: Workload, from: Item): Item {
  const names = new Map(w.namedPorts.map((p) => [p.containerPort, p.name]));
  const c = clone(from);
  c.name = w.container;
  c.image = w.image ?? "ghcr.io/example/app:1.0.0";
  if (w.containerPorts.length > 0)
    c.ports = w.containerPorts.map((containerPort) => ({
      containerPort,
      ...(names.has(containerPort) ? { name: names.get(containerPort) } : {}),
      protocol: "TCP",
    }));
  else delete c.ports;
  return c;
}

const CONTROLLER_FIXTURE: Record<Workload["kind"], string> = { Deployment: "frontend", StatefulSet: "redis", DaemonSet: "node-agent" };

function controllerObject(w: Workload): Item {
  const c = one("controllers", (o) => o.kind === w.kind && o.metadata.name === CONTROLLER_FIXTURE[w.kind]);
  c.metadata = { ...c.metadata, name: w.name, namespace: w.namespace, labels: { ...w.labels }, uid: uid(`${w.kind} ${w.ref}`) };
  c.spec.selector = { matchLabels: { ...w.labels } };
  if (w.kind !== "DaemonSet") c.spec.replicas = w.replicas;
  const meta = templateMetadata(w);
  c.spec.template.metadata = { labels: meta.labels, ...(meta.annotations ? { annotations: meta.annotations } : {}) };
  c.spec.template.spec.containers = [appContainer(w, c.spec.template.spec.containers[0])];
  c.spec.template.spec.serviceAccountName = w.serviceAccount;
  c.spec.template.spec.serviceAccount = w.serviceAccount;
  if (w.kind === "StatefulSet") c.spec.serviceName = w.services[0]?.name ?? w.name;
  return c;
}

/** The workload's pods: the injector's output (a pod of the fixture's frontend) or a plain pod (the fixture's batch-report). */
function podObjects(w: Workload, withoutSidecar: number, replicas = 1): Item[] {
  const count = w.kind === "DaemonSet" ? 1 : w.deploy ? w.replicas : replicas;
  const hash = hashOf(`${w.ref} template`, 10);
  return Array.from({ length: count }, (_, i) => {
    const sidecar = w.sidecar && i >= withoutSidecar;
    const pod = one("pods", (p) => p.metadata.name.startsWith(sidecar ? "frontend-" : "batch-report-"));
    const suffix = hashOf(`${w.ref} pod ${i}`, 5);
    const owner =
      w.kind === "Deployment"
        ? { kind: "ReplicaSet", name: `${w.name}-${hash}`, labels: { "pod-template-hash": hash }, podName: `${w.name}-${hash}-${suffix}` }
        : w.kind === "StatefulSet"
          ? {
              kind: "StatefulSet",
              name: w.name,
              labels: {
                "apps.kubernetes.io/pod-index": String(i),
                "controller-revision-hash": `${w.name}-${hash}`,
                "statefulset.kubernetes.io/pod-name": `${w.name}-${i}`,
              },
              podName: `${w.name}-${i}`,
            }
          : {
              kind: "DaemonSet",
              name: w.name,
              labels: { "controller-revision-hash": hash, "pod-template-generation": "1" },
              podName: `${w.name}-${suffix}`,
            };
    const meta = templateMetadata(w);
    // The injector's labels (injection-template.yaml) on a pod it injected: the model's pod labels say which.
    const injected = sidecar
      ? {
          "security.istio.io/tlsMode": "istio",
          "service.istio.io/canonical-name": w.podLabels["service.istio.io/canonical-name"],
          "service.istio.io/canonical-revision": w.podLabels["service.istio.io/canonical-revision"],
        }
      : {};
    pod.metadata = {
      ...pod.metadata,
      name: owner.podName,
      generateName: owner.kind === "StatefulSet" ? `${w.name}-` : `${owner.podName.slice(0, owner.podName.lastIndexOf("-"))}-`,
      namespace: w.namespace,
      labels: { ...meta.labels, ...owner.labels, ...injected },
      ownerReferences: [
        {
          apiVersion: "apps/v1",
          kind: owner.kind,
          name: owner.name,
          uid: uid(`${owner.kind} ${w.namespace}/${owner.name}`),
          blockOwnerDeletion: true,
          controller: true,
        },
      ],
      uid: uid(`pod ${w.namespace}/${owner.podName}`),
    };
    if (sidecar) {
      pod.metadata.annotations = {
        ...pod.metadata.annotations,
        ...(meta.annotations ?? {}),
        "kubectl.kubernetes.io/default-container": w.container,
        "kubectl.kubernetes.io/default-logs-container": w.container,
      };
    }
    pod.spec.containers = [appContainer(w, pod.spec.containers[0]), ...pod.spec.containers.slice(1)];
    pod.spec.serviceAccountName = w.serviceAccount;
    pod.spec.serviceAccount = w.serviceAccount;
    return pod;
  });
}

/** Each Service of a workload, from the recorded Service object. */
function serviceObjects(w: Workload): Item[] {
  return w.services.map((service, i) => serviceObject(w, service, i === 0 ? `service ${w.ref}` : `service ${w.namespace}/${service.name}`));
}

function serviceObject(w: Workload, service: Workload["services"][number], seed: string): Item {
  const svc = one("services", (s) => s.metadata.namespace === "shop" && s.metadata.name === "frontend");
  svc.metadata = { ...svc.metadata, name: service.name, namespace: w.namespace, labels: { ...w.labels }, uid: uid(seed) };
  svc.spec.selector = { ...service.selector };
  svc.spec.ports = service.ports.map((p) => ({
    ...(p.name ? { name: p.name } : {}),
    port: p.port,
    protocol: "TCP",
    targetPort: p.targetPortName ?? p.targetPort,
    ...(p.appProtocol ? { appProtocol: p.appProtocol } : {}),
  }));
  return svc;
}

/** The rollout's mesh with its workloads running, and the stack's policies of `stage` (none when null). */
export function clusterOf(rollout: Rollout, stage: string | null, options: ClusterOptions = {}): ClusterLists {
  const names = new Set([
    rollout.meshRootNamespace,
    ...rollout.namespaces.map((n) => n.name),
    ...rollout.workloads.map((w) => w.namespace),
  ]);
  const injection = new Map(rollout.namespaces.map((n) => [n.name, n.injection]));
  // istiod's mesh config, naming the rollout's root namespace as the chart does by default.
  const meshConfig = one("configmaps", (c) => c.metadata.name === "istio");
  meshConfig.metadata.namespace = rollout.meshRootNamespace;
  meshConfig.data.mesh = meshConfig.data.mesh.replace(/^rootNamespace: .*$/m, `rootNamespace: ${rollout.meshRootNamespace}`);
  return {
    configmaps: [meshConfig],
    namespaces: [...names].sort().map((n) => namespaceObject(n, injection.get(n) ?? false)),
    controllers: rollout.workloads.map(controllerObject),
    services: rollout.workloads.flatMap(serviceObjects),
    pods: rollout.workloads.flatMap((w) => podObjects(w, options.withoutSidecar?.[w.ref] ?? 0, options.replicas)),
    peerauthentications: stage === null ? [] : policiesAt(rollout, stage, options.created),
    destinationrules: [],
    // istiod's injector, as the chart installs it for the default revision.
    mutatingwebhookconfigurations: fixture("mutatingwebhookconfigurations"),
  };
}

/** Writes the lists as kubectl would print them, one file each, for the fake kubectl's FAKE_KUBECTL_DIR. */
export function writeLists(dir: string, lists: ClusterLists): string {
  fs.mkdirSync(dir, { recursive: true });
  for (const [name, items] of Object.entries(lists)) {
    fs.writeFileSync(
      path.join(dir, `${name}.json`),
      JSON.stringify({ apiVersion: "v1", items, kind: "List", metadata: { resourceVersion: "" } }),
    );
  }
  return dir;
}

/**
 * The model's live state of a rollout's mesh running as declared (a pod per workload, with its declared labels and
 * sidecar), under `policies`: for tests of what status and verify make of it, without a cluster's objects.
 */
export function liveOf(
  rollout: Rollout,
  policies: { policy: PeerAuthentication; createdAt: string; dormant: boolean; managed: boolean }[],
): LiveState {
  return resolveLive(
    policies.map((p) => ({ ...p, createdAt: Date.parse(p.createdAt) })),
    rollout.workloads.map((w) => ({
      ref: w.ref,
      namespace: w.namespace,
      name: w.name,
      kind: w.kind,
      pods: [{ name: `${w.name}-0`, labels: w.podLabels, sidecar: w.sidecar }],
      ports: w.containerPorts,
    })),
    rollout.meshRootNamespace,
  );
}

/**
 * A mesh of `namespaces` × `perNamespace` workloads the stack does not deploy, each with a sidecar and a Service on
 * port 80 (target 8080), labelled `app: w<i>`: the shape of the meshes the tests of scale and the bench grow.
 */
export function generatedMesh(namespaces: number, perNamespace: number): Rollout {
  return parseRollout({
    namespaces: Array.from({ length: namespaces }, (_, n) => ({ name: `ns${n}`, injection: true })),
    workloads: Array.from({ length: namespaces * perNamespace }, (_, i) => ({
      name: `w${i % perNamespace}`,
      namespace: `ns${Math.floor(i / perNamespace)}`,
      deploy: false,
      sidecar: true,
      labels: { app: `w${i % perNamespace}` },
      service: { ports: [{ name: "http", port: 80, targetPort: 8080 }] },
    })),
    stages: [{ name: "s", peerAuthentications: [] }],
  });
}
