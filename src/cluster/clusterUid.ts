/**
 * Which cluster a kube context reaches: the UID of its `kube-system` namespace, which the API server gives it once
 * and which no other cluster shares (the identifier `kubectl` and Pulumi's providers lack; a context name can point
 * anywhere). A stack bound to a cluster (`mtls-rollout:clusterUid`) checks it before reading anything.
 */
import { getList, readAnswer } from "./kubectlGet";
import { namespaceObjectSchema } from "./objects";
import { runKubectlSync, type KubectlRunner } from "./runner";

/** Kubernetes object UIDs are RFC 4122 UUIDs (k8s.io/apimachinery/pkg/types.UID, from uuid.NewUUID). */
export const CLUSTER_UID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** The UID of the cluster `runner` reaches, or why it cannot be told. */
export async function clusterUid(runner: KubectlRunner, timeoutMs: number): Promise<{ uid: string } | { error: string; setup?: boolean }> {
  const read = await getList(runner, ["get", "namespace", "kube-system", "-o", "json"], namespaceObjectSchema, timeoutMs);
  if ("error" in read) return read;
  const uid = read.items[0]?.metadata.uid;
  if (typeof uid !== "string" || !CLUSTER_UID.test(uid)) return { error: "the kube-system namespace has no UID the API server would give" };
  return { uid };
}

/** Undefined when the context reaches the cluster `expected` names; else one line saying which it reaches instead. */
export async function bindingProblem(
  runner: KubectlRunner,
  expected: string,
  timeoutMs: number,
  where: string,
): Promise<string | undefined> {
  const found = await clusterUid(runner, timeoutMs);
  if ("error" in found) return `cannot tell which cluster ${where} reaches, so nothing is read: ${found.error}`;
  if (found.uid !== expected) {
    return `${where} reaches the cluster whose kube-system namespace has UID ${found.uid}, not ${expected} (the cluster this rollout is bound to): nothing is read; point the context at the right cluster`;
  }
  return undefined;
}

/**
 * The same, synchronously, for the Pulumi program: it checks the cluster before it declares any resource (the
 * providers would write to whatever the context reaches; a clusterIdentifier is only a name to them). `kubectl` is
 * `$KUBECTL`, as everywhere; bounded in time and output.
 */
export function clusterUidSync(kubectl: string, context: string | undefined, timeoutMs: number): { uid: string } | { error: string } {
  const args = ["get", "namespace", "kube-system", "-o", "json"];
  const read = readAnswer(
    args,
    runKubectlSync(kubectl, context, args, timeoutMs, { maxOutputBytes: 1024 * 1024 }),
    namespaceObjectSchema,
    timeoutMs,
  );
  if ("error" in read) return { error: read.error };
  const uid = read.items[0]?.metadata.uid;
  if (typeof uid !== "string" || !CLUSTER_UID.test(uid)) return { error: "the kube-system namespace has no UID the API server would give" };
  return { uid };
}
