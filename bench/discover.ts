/**
 * discover as a user runs it, against a generated cluster: the lab's objects (test/support/labCluster.ts) multiplied
 * into `namespaces` × `perNamespace` workloads with `pods` pods each, served by a kubectl that prints the List files
 * kubectl would (all namespaces at once, or one namespace), so the CLI reads them through its own bounds: a list
 * larger than one read may be (64 MiB) is read again namespace by namespace, as on a real large cluster.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { LIST_OF_RESOURCE } from "../test/support/kubectlFromLists";
import { clusterOf, generatedMesh } from "../test/support/labCluster";

/** Writes the cluster's List files (whole, and one per namespace) and a kubectl that prints them; its path. */
export function generatedCluster(dir: string, namespaces: number, perNamespace: number, pods: number): { kubectl: string; bytes: number } {
  const rollout = generatedMesh(namespaces, perNamespace);
  const lists = clusterOf(rollout, null, { replicas: pods });
  // A mesh-wide PERMISSIVE policy and, in every tenth namespace, a workload policy: what a mesh under way has.
  lists.peerauthentications = [
    {
      apiVersion: "security.istio.io/v1",
      kind: "PeerAuthentication",
      metadata: { name: "default", namespace: "istio-system", creationTimestamp: "2026-01-01T00:00:00Z" },
      spec: { mtls: { mode: "PERMISSIVE" } },
    },
    ...Array.from({ length: Math.ceil(namespaces / 10) }, (_, k) => ({
      apiVersion: "security.istio.io/v1",
      kind: "PeerAuthentication",
      metadata: { name: "w0-strict", namespace: `ns${k * 10}`, creationTimestamp: "2026-01-02T00:00:00Z" },
      spec: { selector: { matchLabels: { app: "w0" } }, mtls: { mode: "STRICT" } },
    })),
  ];
  let bytes = 0;
  // As kubectl prints a List (4 spaces of indent), an item at a time: the whole pods list is more than a string holds.
  const write = (file: string, items: unknown[]) => {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    const fd = fs.openSync(file, "w");
    const put = (text: string) => {
      bytes += Buffer.byteLength(text);
      fs.writeSync(fd, text);
    };
    put('{\n    "apiVersion": "v1",\n    "items": [');
    items.forEach((item, i) => put(`${i === 0 ? "" : ","}\n        ${JSON.stringify(item, null, 4).replace(/\n/g, "\n        ")}`));
    put(`${items.length > 0 ? "\n    " : ""}],\n    "kind": "List",\n    "metadata": {\n        "resourceVersion": ""\n    }\n}\n`);
    fs.closeSync(fd);
  };
  for (const [name, items] of Object.entries(lists)) {
    write(path.join(dir, `${name}.json`), items);
    if (name === "namespaces") continue;
    const byNamespace = new Map<string, unknown[]>();
    for (const item of items as { metadata: { namespace: string } }[])
      byNamespace.set(item.metadata.namespace, [...(byNamespace.get(item.metadata.namespace) ?? []), item]);
    for (const ns of lists.namespaces.map((n) => n.metadata.name as string))
      write(path.join(dir, name, `${ns}.json`), byNamespace.get(ns) ?? []);
  }
  const kubectl = path.join(dir, "kubectl");
  const cases = Object.entries(LIST_OF_RESOURCE)
    .map(([kind, file]) => `  "${kind}") f=${file} ;;`)
    .join("\n");
  fs.writeFileSync(
    kubectl,
    `#!/bin/sh
# kubectl get … -o json for the generated cluster in ${dir}
[ "$1" = "--context" ] && shift 2
[ "$1" = "get" ] || { echo "error: unexpected call: $*" >&2; exit 1; }
case "$2" in
${cases}
  *) echo "error: the server doesn't have a resource type \\"$2\\"" >&2; exit 1 ;;
esac
if [ "$2" = "namespace" ]; then exec node -e 'const [f, n] = process.argv.slice(1); const i = JSON.parse(require("fs").readFileSync(f, "utf8")).items.find((x) => x.metadata.name === n); if (!i) { console.error("Error from server (NotFound): namespaces \\"" + n + "\\" not found"); process.exit(1); } console.log(JSON.stringify(i));' "${dir}/namespaces.json" "$3"; fi
if [ "$3" = "--namespace" ]; then exec cat "${dir}/$f/$4.json"; fi
exec cat "${dir}/$f.json"
`,
  );
  fs.chmodSync(kubectl, 0o755);
  return { kubectl, bytes };
}
