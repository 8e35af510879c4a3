/**
 * A copy of test/fixtures/cluster (the List files the fake kubectl answers from) whose PeerAuthentications a test
 * changes: the program reads them before it adopts any (src/model/adoption.ts). A policy a test adds takes the shape of
 * the fixture's own (kubectl get -o json of security.istio.io/v1, see test/fixtures/SOURCES.md): only its name,
 * namespace, uid, annotations and spec differ.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

const FIXTURE = path.join(__dirname, "..", "fixtures", "cluster");

export interface PolicyObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace: string; annotations?: Record<string, string>; [key: string]: unknown };
  spec?: Record<string, unknown>;
}

/** A PeerAuthentication as kubectl prints it, like the fixture's first one but for what is given. */
export function policyObject(
  namespace: string,
  name: string,
  spec: Record<string, unknown>,
  annotations?: Record<string, string>,
): PolicyObject {
  const list = JSON.parse(fs.readFileSync(path.join(FIXTURE, "peerauthentications.json"), "utf8")) as { items: PolicyObject[] };
  const model = list.items[0];
  return {
    ...model,
    metadata: {
      ...model.metadata,
      name,
      namespace,
      uid: `6f1c2a4e-0b7d-4c55-9a31-${(Math.abs(hash(`${namespace}/${name}`)) % 1e12).toString().padStart(12, "0")}`,
      ...(annotations ? { annotations } : {}),
    },
    spec,
  };
}

function hash(s: string): number {
  let h = 0;
  for (const c of s) h = (h * 31 + c.charCodeAt(0)) | 0;
  return h;
}

/** A folder for MockCluster.dir: the fixture cluster, its PeerAuthentications as `edit` makes them. */
export function clusterWithPolicies(edit: (policies: PolicyObject[]) => PolicyObject[]): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mtls-rollout-cluster-"));
  for (const file of fs.readdirSync(FIXTURE)) fs.copyFileSync(path.join(FIXTURE, file), path.join(dir, file));
  const file = path.join(dir, "peerauthentications.json");
  const list = JSON.parse(fs.readFileSync(file, "utf8")) as { items: PolicyObject[] };
  fs.writeFileSync(file, JSON.stringify({ ...list, items: edit(list.items) }, null, 4) + "\n");
  return dir;
}
