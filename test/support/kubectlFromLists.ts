// What kubectl answers to `get … -o json` for a cluster whose objects are Lists (kubectl get -o json's shape):
// all namespaces, one namespace (`--namespace NS`), or one named namespace (`get namespace NAME`). The fake
// kubectl answers so from the List files in $FAKE_KUBECTL_DIR (namespaces.json, controllers.json, services.json,
// pods.json, peerauthentications.json, destinationrules.json, configmaps.json; a missing one is empty);
// discoverCases.test.ts from meshes it builds in memory.
// Error texts: the API server's NotFound and Forbidden messages (k8s.io/apiserver responsewriters) and kubectl's
// own for a resource type the server does not have.
import * as fs from "node:fs";
import * as path from "node:path";

export type ListName =
  | "namespaces"
  | "controllers"
  | "services"
  | "pods"
  | "peerauthentications"
  | "destinationrules"
  | "mutatingwebhookconfigurations"
  | "configmaps";
/** Lists of cluster-scoped kinds: `get KIND -o json` answers them whole. */
const CLUSTER_SCOPED = new Set<ListName>(["namespaces", "mutatingwebhookconfigurations"]);
export interface ListedObject {
  metadata?: { name?: string; namespace?: string; labels?: Record<string, string> };
}
export interface KubectlAnswer {
  exitCode: number;
  stdout: string;
  stderr: string;
}

/** The List that answers `kubectl get RESOURCE`, for the resource names the CLI asks for. */
export const LIST_OF_RESOURCE: Record<string, ListName> = {
  namespaces: "namespaces",
  namespace: "namespaces",
  "deployments.apps,statefulsets.apps,daemonsets.apps": "controllers",
  services: "services",
  pods: "pods",
  "peerauthentications.security.istio.io": "peerauthentications",
  "destinationrules.networking.istio.io": "destinationrules",
  "mutatingwebhookconfigurations.admissionregistration.k8s.io": "mutatingwebhookconfigurations",
  configmaps: "configmaps",
};

/** kubectl's `-l` as the tests use it: `key` (the label exists) or `key=value`, comma-separated. */
function selected(args: string[], o: ListedObject): boolean {
  const at = args.indexOf("-l");
  if (at < 0) return true;
  return args[at + 1].split(",").every((term) => {
    const [key, value] = term.split("=");
    const labels = o.metadata?.labels ?? {};
    return Object.prototype.hasOwnProperty.call(labels, key) && (value === undefined || labels[key] === value);
  });
}

const fail = (stderr: string): KubectlAnswer => ({ exitCode: 1, stdout: "", stderr: `${stderr}\n` });

/**
 * `args` after any `--context`; `items` gives a List's objects; `forbidden` a resource (its plural, without group)
 * the user may not list.
 */
export function answerFromLists(args: string[], listed: (list: ListName) => ListedObject[] | undefined, forbidden?: string): KubectlAnswer {
  // A list the cluster was not given is empty (a cluster without DestinationRules).
  const items = (list: ListName) => listed(list) ?? [];
  if (args[0] !== "get" || args[args.length - 1] !== "json" || args[args.length - 2] !== "-o") {
    return fail(`error: unexpected call: kubectl ${args.join(" ")}`);
  }
  const kind = args[1];
  const list = LIST_OF_RESOURCE[kind];
  if (!list) return fail(`error: the server doesn't have a resource type "${kind}"`);
  const resource = kind.split(",")[0].split(".")[0];
  if (forbidden === resource) {
    const group = kind.includes(".") ? kind.split(",")[0].split(".").slice(1).join(".") : "";
    return fail(
      `Error from server (Forbidden): ${resource} is forbidden: User "jane@example.com" cannot list resource "${resource}" in API group "${group}" at the cluster scope`,
    );
  }
  const ok = (object: unknown): KubectlAnswer => ({ exitCode: 0, stdout: JSON.stringify(object, null, 4) + "\n", stderr: "" });
  const asList = (objects: ListedObject[]) => ({ apiVersion: "v1", items: objects, kind: "List", metadata: { resourceVersion: "" } });
  if (kind === "namespace") {
    const item = items(list).find((n) => n.metadata?.name === args[2]);
    return item ? ok(item) : fail(`Error from server (NotFound): namespaces "${args[2]}" not found`);
  }
  if (args[2] === "--namespace") return ok(asList(items(list).filter((i) => i.metadata?.namespace === args[3] && selected(args, i))));
  if (args[2] === "--all-namespaces" || CLUSTER_SCOPED.has(list)) return ok(asList(items(list).filter((i) => selected(args, i))));
  return fail(`error: unexpected call: kubectl ${args.join(" ")}`);
}

/** The Lists of a folder of files named after them; a list without a file is empty (a cluster without istiod's ConfigMap). */
export function listsInFolder(dir: string): (list: ListName) => ListedObject[] {
  return (list) => {
    const file = path.join(dir, `${list}.json`);
    return fs.existsSync(file) ? (JSON.parse(fs.readFileSync(file, "utf8")) as { items: ListedObject[] }).items : [];
  };
}
