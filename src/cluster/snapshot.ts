/**
 * What discover and status read from a live cluster: namespaces, workload controllers, Services, pods
 * and PeerAuthentications, each with one `kubectl get … -o json` (all namespaces at once, or one call
 * per namespace when the user names them, for teams whose RBAC stops at their namespaces).
 */
import type { z } from "zod";
import { getList, Read } from "./kubectlGet";
import {
  controllerSchema,
  ControllerObject,
  namespaceObjectSchema,
  NamespaceObject,
  peerAuthenticationObjectSchema,
  PeerAuthenticationObject,
  podObjectSchema,
  PodObject,
  serviceObjectSchema,
  ServiceObject,
} from "./objects";
import type { KubectlRunner } from "./runner";

export interface MeshSnapshot {
  namespaces: NamespaceObject[];
  controllers: ControllerObject[];
  services: ServiceObject[];
  pods: PodObject[];
  peerAuthentications: PeerAuthenticationObject[];
}

export const PEER_AUTHENTICATIONS = "peerauthentications.security.istio.io";
const CONTROLLERS = "deployments.apps,statefulsets.apps,daemonsets.apps";

export interface SnapshotOptions {
  /** Only these namespaces (and the mesh root's policies); every namespace when absent. */
  namespaces?: string[];
  meshRootNamespace: string;
  /** Per kubectl call. */
  timeoutMs: number;
}

/** `kubectl get KIND` in every namespace, or once per named namespace. */
async function across<S extends z.ZodType>(
  runner: KubectlRunner,
  kind: string,
  schema: S,
  namespaces: string[] | undefined,
  timeoutMs: number,
): Promise<Read<z.infer<S>>> {
  if (!namespaces) return getList(runner, ["get", kind, "--all-namespaces", "-o", "json"], schema, timeoutMs);
  const items: z.infer<S>[] = [];
  for (const ns of namespaces) {
    const read = await getList(runner, ["get", kind, "--namespace", ns, "-o", "json"], schema, timeoutMs);
    if ("error" in read) return read;
    items.push(...read.items);
  }
  return { items };
}

/** Reads everything, or the first call that failed (its command line and kubectl's reason). */
export async function readSnapshot(runner: KubectlRunner, options: SnapshotOptions): Promise<MeshSnapshot | { error: string }> {
  const { namespaces, timeoutMs } = options;
  const ns = namespaces
    ? await (async (): Promise<Read<NamespaceObject>> => {
        const items: NamespaceObject[] = [];
        for (const name of namespaces) {
          const read = await getList(runner, ["get", "namespace", name, "-o", "json"], namespaceObjectSchema, timeoutMs);
          if ("error" in read) return read;
          items.push(...read.items);
        }
        return { items };
      })()
    : await getList(runner, ["get", "namespaces", "-o", "json"], namespaceObjectSchema, timeoutMs);
  if ("error" in ns) return ns;
  const controllers = await across(runner, CONTROLLERS, controllerSchema, namespaces, timeoutMs);
  if ("error" in controllers) return controllers;
  const services = await across(runner, "services", serviceObjectSchema, namespaces, timeoutMs);
  if ("error" in services) return services;
  const pods = await across(runner, "pods", podObjectSchema, namespaces, timeoutMs);
  if ("error" in pods) return pods;
  // The mesh root's policies apply to every namespace: read them whatever namespaces were named.
  const policyNamespaces = namespaces && [...new Set([...namespaces, options.meshRootNamespace])];
  const policies = await across(runner, PEER_AUTHENTICATIONS, peerAuthenticationObjectSchema, policyNamespaces, timeoutMs);
  if ("error" in policies) return policies;
  return {
    namespaces: ns.items,
    controllers: controllers.items,
    services: services.items,
    pods: pods.items,
    peerAuthentications: policies.items,
  };
}
