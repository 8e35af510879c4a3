/**
 * The probe kit: small curl clients the stack deploys for verification, one with a sidecar in each
 * namespace the rollout names and one outside the mesh, so that probing never depends on what the
 * application images carry. Pure: it only turns the rollout file's `probes:` into workloads.
 */
import { podLabels } from "./pods";
import type { ContainerHardening, Namespace, Workload } from "./rollout";
import type { RolloutFile } from "./schema";

/** Istio's own sleep/curl sample image (samples/sleep/sleep.yaml), pinned. */
export const PROBE_IMAGE = "docker.io/curlimages/curl:8.16.0";
export const PROBE_NAME = "mtls-probe";
export const PROBE_CONTAINER = "curl";
/** Recommended labels (kubernetes.io "Recommended Labels"); no application uses them for its own pods. */
export const PROBE_LABELS = { "app.kubernetes.io/name": PROBE_NAME, "app.kubernetes.io/part-of": "mtls-rollout" };

/**
 * Non-root with a read-only root filesystem, no privilege escalation and no capabilities (the
 * "restricted" Pod Security Standard for the container). curlimages/curl runs as `curl_user`, uid 100 in
 * group 101: the uid is given as a number, since the kubelet cannot check that a user name is not root.
 * Container-level only: a pod-level runAsNonRoot would also apply to Istio's init container.
 */
export const PROBE_HARDENING: ContainerHardening = {
  securityContext: {
    runAsNonRoot: true,
    runAsUser: 100,
    runAsGroup: 101,
    allowPrivilegeEscalation: false,
    readOnlyRootFilesystem: true,
    capabilities: { drop: ["ALL"] },
    seccompProfile: { type: "RuntimeDefault" },
  },
  resources: { requests: { cpu: "10m", memory: "16Mi" }, limits: { cpu: "100m", memory: "64Mi" } },
};

function probe(namespace: string, sidecar: boolean, image: string, origin: string): Workload {
  return {
    ref: `${namespace}/${PROBE_NAME}`,
    name: PROBE_NAME,
    namespace,
    origin,
    deploy: true,
    kind: "Deployment",
    labels: { ...PROBE_LABELS },
    podLabels: podLabels(PROBE_NAME, PROBE_LABELS, sidecar),
    sidecar,
    partial: false,
    image,
    container: PROBE_CONTAINER,
    command: ["/bin/sleep", "infinity"],
    env: {},
    serviceAccount: PROBE_NAME,
    replicas: 1,
    services: [],
    containerPorts: [],
    notIntercepted: [],
    namedPorts: [],
    calls: [],
    probe: true,
    probePath: "/",
    hardening: PROBE_HARDENING,
  };
}

/** The kit's workloads, and the namespace outside the mesh when the rollout does not declare it. */
export function probeKit(
  probes: RolloutFile["probes"],
  declared: readonly Namespace[],
): { namespaces: Namespace[]; workloads: Workload[] } {
  if (!probes) return { namespaces: [], workloads: [] };
  const image = probes.image ?? PROBE_IMAGE;
  const workloads = probes.namespaces.map((ns, i) => probe(ns, true, image, `probes.namespaces[${i}]`));
  const namespaces: Namespace[] = [];
  if (probes.outsideMesh) {
    const ns = probes.outsideMesh.namespace;
    // Created by the stack without the injection label; the pod's own label keeps the sidecar out either way.
    if (!declared.some((d) => d.name === ns)) namespaces.push({ name: ns, injection: false, existing: false });
    workloads.push(probe(ns, false, image, "probes.outsideMesh"));
  }
  return { namespaces, workloads };
}
