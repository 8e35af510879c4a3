/**
 * One reading of a live cluster, for every command that needs one (discover, status, preflight --previous live,
 * verify): its namespaces, workload controllers, Services, pods and PeerAuthentications, each with `kubectl get
 * … -o json`. A kind is read across all namespaces in one call; where that is not permitted (RBAC that stops at
 * the team's namespaces) or the answer is larger than one read may be, it is read namespace by namespace. Either
 * way the snapshot is whole, or the read is an error: a command never works from part of a cluster.
 */
import type { z } from "zod";
import { getList, Read } from "./kubectlGet";
import { meshConfigsOf, type MeshConfig } from "./meshConfig";
import {
  configMapObjectSchema,
  controllerSchema,
  destinationRuleObjectSchema,
  DestinationRuleObject,
  mutatingWebhookConfigurationSchema,
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
import { pool } from "./pool";
import type { InjectorWebhook } from "../model/injection";
import type { KubectlRunner } from "./runner";

export interface ClusterSnapshot {
  /** The namespaces read: every one, or those asked for that exist. */
  namespaces: NamespaceObject[];
  controllers: ControllerObject[];
  services: ServiceObject[];
  pods: PodObject[];
  peerAuthentications: PeerAuthenticationObject[];
  /** Empty when Istio's networking CRDs are not installed (no DestinationRule can exist). */
  destinationRules: DestinationRuleObject[];
  /** Namespaces asked for by name that the cluster does not have. */
  missingNamespaces: string[];
  /** Istio's injector webhooks; undefined when they could not be read (the istiod chart's are then assumed). */
  injectorWebhooks?: InjectorWebhook[];
  /** Why they could not be read. */
  injectorNote?: string;
  /** Each revision's mesh config found in the mesh root (istiod's namespace). */
  meshConfigs: MeshConfig[];
  /** Why no mesh config was read (not permitted, none there): the root namespace is then the one assumed. */
  meshConfigNote?: string;
}

export const PEER_AUTHENTICATIONS = "peerauthentications.security.istio.io";
export const DESTINATION_RULES = "destinationrules.networking.istio.io";
export const CONTROLLERS = "deployments.apps,statefulsets.apps,daemonsets.apps";

/** What a command reads: live modes need policies, controllers, pods and the mesh config; discover needs Services and namespaces too. */
export type SnapshotKind =
  "namespaces" | "controllers" | "services" | "pods" | "peerAuthentications" | "destinationRules" | "injectorWebhooks" | "meshConfig";
export const LIVE_MODE_KINDS: readonly SnapshotKind[] = ["controllers", "pods", "peerAuthentications", "injectorWebhooks", "meshConfig"];
export const ALL_KINDS: readonly SnapshotKind[] = [
  "namespaces",
  "controllers",
  "services",
  "pods",
  "peerAuthentications",
  "destinationRules",
  "injectorWebhooks",
  "meshConfig",
];

export const MUTATING_WEBHOOKS = "mutatingwebhookconfigurations.admissionregistration.k8s.io";
/** Istio's injector entries end so (the istiod chart's `{{.Prefix}}sidecar-injector.istio.io`). */
const INJECTOR_SUFFIX = "sidecar-injector.istio.io";

/** The ConfigMaps of istiod's revisions carry `istio.io/rev` (the istiod chart's configmap.yaml). */
/** Where istiod runs unless its install says otherwise, and so its mesh config. */
export const ISTIOD_NAMESPACE = "istio-system";
export const MESH_CONFIG_ARGS = (namespace: string) => ["get", "configmaps", "--namespace", namespace, "-l", "istio.io/rev", "-o", "json"];

export interface SnapshotOptions {
  /**
   * Only these namespaces (and the mesh root's policies, which apply to all); every namespace when absent. Named
   * ones are also how a reader without cluster-wide permissions is served.
   */
  namespaces?: readonly string[];
  /** Read each kind namespace by namespace from the start (a user who named them may not list the cluster). */
  perNamespace?: boolean;
  meshRootNamespace: string;
  kinds?: readonly SnapshotKind[];
  /** Per kubectl call. */
  timeoutMs: number;
  /** kubectl calls at once when reading namespace by namespace. */
  concurrency?: number;
}

const KIND_ARGS: Record<
  Exclude<SnapshotKind, "namespaces" | "meshConfig" | "injectorWebhooks">,
  { resource: string; schema: z.ZodType; flags?: string[] }
> = {
  controllers: { resource: CONTROLLERS, schema: controllerSchema },
  services: { resource: "services", schema: serviceObjectSchema },
  pods: { resource: "pods", schema: podObjectSchema },
  // Their field managers tell who else writes them (Helm, Argo CD, Flux, a Pulumi stack): kubectl leaves them out unless asked.
  peerAuthentications: { resource: PEER_AUTHENTICATIONS, schema: peerAuthenticationObjectSchema, flags: ["--show-managed-fields"] },
  destinationRules: { resource: DESTINATION_RULES, schema: destinationRuleObjectSchema },
};

type Failure = Extract<Read<unknown>, { error: string }>;

/** `kubectl get KIND` in each of `namespaces`, a few at once; the first failure stops the rest. */
async function eachNamespace<S extends z.ZodType>(
  runner: KubectlRunner,
  resource: string,
  schema: S,
  namespaces: readonly string[],
  options: SnapshotOptions,
  flags: readonly string[] = [],
): Promise<Read<z.infer<S>>> {
  const pages = new Map<string, z.infer<S>[]>();
  let failure: Failure | undefined;
  await pool(namespaces, options.concurrency ?? 8, async (ns) => {
    if (failure) return;
    const read = await getList(runner, ["get", resource, "--namespace", ns, ...flags, "-o", "json"], schema, options.timeoutMs);
    if ("error" in read) failure ??= read;
    else pages.set(ns, read.items);
  });
  if (failure) return failure;
  // In the order asked, whatever order the calls ended in.
  return { items: namespaces.flatMap((ns) => pages.get(ns) ?? []) };
}

/**
 * One kind in `scope` (every namespace when undefined): across all namespaces in one call, unless told otherwise;
 * namespace by namespace when that call is forbidden at cluster scope or too large to read whole.
 */
async function readKind<S extends z.ZodType>(
  runner: KubectlRunner,
  resource: string,
  schema: S,
  scope: readonly string[] | undefined,
  allNamespaces: () => Promise<Read<string>>,
  options: SnapshotOptions,
  flags: readonly string[] = [],
): Promise<Read<z.infer<S>>> {
  if (options.perNamespace && scope) return eachNamespace(runner, resource, schema, scope, options, flags);
  const all = await getList(runner, ["get", resource, "--all-namespaces", ...flags, "-o", "json"], schema, options.timeoutMs);
  if (!("error" in all)) {
    if (!scope) return all;
    const wanted = new Set(scope);
    return { items: all.items.filter((o) => wanted.has((o as { metadata: { namespace: string } }).metadata.namespace)) };
  }
  if (!all.forbidden && !all.tooLarge) return all;
  const namespaces = scope ? { items: [...scope] } : await allNamespaces();
  if ("error" in namespaces) return all.forbidden ? all : namespaces;
  return eachNamespace(runner, resource, schema, namespaces.items, options, flags);
}

/** Reads the kinds asked for, or the first call that failed (its command line and kubectl's reason). */
export async function readSnapshot(runner: KubectlRunner, options: SnapshotOptions): Promise<ClusterSnapshot | Failure> {
  const kinds = new Set(options.kinds ?? ALL_KINDS);
  const scope = options.namespaces && [...new Set(options.namespaces)];
  const snapshot: ClusterSnapshot = {
    namespaces: [],
    controllers: [],
    services: [],
    pods: [],
    peerAuthentications: [],
    destinationRules: [],
    missingNamespaces: [],
    meshConfigs: [],
  };
  let namespaceList: Read<NamespaceObject> | undefined;
  const listNamespaces = async (): Promise<Read<NamespaceObject>> =>
    (namespaceList ??= await getList(runner, ["get", "namespaces", "-o", "json"], namespaceObjectSchema, options.timeoutMs));
  const namespaceNames = async (): Promise<Read<string>> => {
    const list = await listNamespaces();
    return "error" in list ? list : { items: list.items.map((n) => n.metadata.name) };
  };

  if (kinds.has("namespaces")) {
    if (scope) {
      const found: NamespaceObject[] = [];
      let failure: Failure | undefined;
      await pool(scope, options.concurrency ?? 8, async (name) => {
        if (failure) return;
        const read = await getList(runner, ["get", "namespace", name, "-o", "json"], namespaceObjectSchema, options.timeoutMs);
        if (!("error" in read)) found.push(...read.items);
        else if (read.notFound) snapshot.missingNamespaces.push(name);
        else failure = read;
      });
      if (failure) return failure;
      snapshot.namespaces = found.sort((a, b) => a.metadata.name.localeCompare(b.metadata.name));
      snapshot.missingNamespaces.sort();
    } else {
      const all = await listNamespaces();
      if ("error" in all) return all;
      snapshot.namespaces = all.items;
    }
  }
  for (const kind of ["controllers", "services", "pods", "peerAuthentications", "destinationRules"] as const) {
    if (!kinds.has(kind)) continue;
    // The mesh root's policies and rules apply to every namespace: read them whatever namespaces were named.
    const rooted = kind === "peerAuthentications" || kind === "destinationRules";
    const kindScope = rooted && scope ? [...new Set([...scope, options.meshRootNamespace])] : scope;
    const { resource, schema, flags } = KIND_ARGS[kind];
    const read = await readKind(runner, resource, schema, kindScope, namespaceNames, options, flags);
    // Without Istio's networking CRDs there is no DestinationRule: clients send what auto mTLS says.
    if ("error" in read && kind === "destinationRules" && read.noSuchResource) continue;
    if ("error" in read) return read;
    (snapshot[kind] as unknown[]) = read.items;
  }
  if (kinds.has("injectorWebhooks")) {
    // Cluster-scoped: an identity whose permissions stop at its namespaces may not list them; then the chart's are assumed.
    const read = await getList(runner, ["get", MUTATING_WEBHOOKS, "-o", "json"], mutatingWebhookConfigurationSchema, options.timeoutMs);
    if ("error" in read) {
      if (!read.forbidden) return read;
      snapshot.injectorNote = `the injector's webhooks could not be read (${read.error})`;
    } else {
      snapshot.injectorWebhooks = read.items.flatMap((c) =>
        (c.webhooks ?? [])
          .filter((w) => w.name.endsWith(INJECTOR_SUFFIX))
          .map((w) => ({
            name: `${c.metadata.name}/${w.name}`,
            revision: c.metadata.labels?.["istio.io/rev"] ?? "default",
            namespaceSelector: w.namespaceSelector ?? null,
            objectSelector: w.objectSelector ?? null,
          })),
      );
    }
  }
  if (kinds.has("meshConfig")) {
    // istiod's ConfigMaps live beside istiod (istio-system, unless the install says otherwise), which need not be the
    // mesh's root namespace: both are looked in.
    const places = [...new Set([ISTIOD_NAMESPACE, options.meshRootNamespace])];
    const notes: string[] = [];
    for (const ns of places) {
      const read = await getList(runner, MESH_CONFIG_ARGS(ns), configMapObjectSchema, options.timeoutMs);
      if ("error" in read) {
        // Not permitted to read istiod's ConfigMaps, or no such namespace: the root is the one assumed, and said so.
        if (!read.forbidden && !read.notFound) return read;
        notes.push(`the mesh config could not be read in ${ns} (${read.error})`);
        continue;
      }
      const configs = meshConfigsOf(read.items);
      if ("error" in configs) return { error: configs.error };
      snapshot.meshConfigs.push(...configs);
    }
    if (snapshot.meshConfigs.length === 0)
      snapshot.meshConfigNote =
        notes.length > 0 ? notes.join("; ") : `no mesh config (ConfigMap istio) in namespace ${places.join(" or ")}`;
  }
  return snapshot;
}
