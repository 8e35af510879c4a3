/**
 * Before the first probe: is there a cluster, may we exec into it, does it know PeerAuthentications,
 * do the probes exist? A wrong context or a missing permission must not look like a slow mesh, retried
 * for the whole deadline: each is a setup error, named in one line, within seconds.
 */
import { kubectlFailure } from "../cluster/failure";
import { commandLine, setupProblem } from "../cluster/setupProblem";
import { podOf } from "../cluster/podOf";
import type { KubectlRunner, RunResult } from "../cluster/runner";
import type { Plan } from "../model/plan";
import { familyOf, protocolOf } from "../model/protocol";
import { servicePortOf } from "../model/expectations";
import type { Workload } from "../model/rollout";

export const ISTIO_API_ARGS = ["api-resources", "--api-group=security.istio.io", "-o", "name"];
export const canExecArgs = (namespace: string) => ["auth", "can-i", "create", "pods", "--subresource=exec", "--namespace", namespace];

const firstLine = (text: string) => text.trim().split("\n")[0]?.trim() ?? "";

/** Retries a call the cluster refused once, a second later: a blip is not a setup error. */
async function call(runner: KubectlRunner, args: string[], timeoutMs: number): Promise<RunResult> {
  const first = await runner(args, timeoutMs);
  // A refusal is retried; a silence of seconds is not (it would double the wait for an answer that is not coming).
  if (first.exitCode === 0 || first.aborted || first.timedOut || !/unreachable/.test(setupProblem(first, args, timeoutMs) ?? ""))
    return first;
  await new Promise((r) => setTimeout(r, 1_000));
  return runner(args, timeoutMs);
}

/**
 * The workloads a verification execs into: every probe client, the servers whose sidecar counters it reads
 * (with a sidecar on both ends, or on a port that is not HTTP), and the callees of declared calls.
 */
function execTargets(plan: Plan, byRef: ReadonlyMap<string, Workload>): { clients: Workload[]; namespaces: string[] } {
  const clients = new Map<string, Workload>();
  const namespaces = new Set<string>();
  for (const edge of plan.expectations) {
    const client = byRef.get(edge.from)!;
    const server = byRef.get(edge.to)!;
    clients.set(client.ref, client);
    namespaces.add(client.namespace);
    const port = servicePortOf(server, edge);
    const readsCounters = client.sidecar || (port !== undefined && familyOf(protocolOf(port)) !== "http");
    if (server.sidecar && readsCounters) namespaces.add(server.namespace);
  }
  for (const call of plan.calls) if (byRef.get(call.to)?.sidecar) namespaces.add(call.to.split("/")[0]);
  return { clients: [...clients.values()], namespaces: [...namespaces].sort() };
}

/** The first setup problem, or undefined when the verification can start. */
export async function checkSetup(
  runner: KubectlRunner,
  plan: Plan,
  workloads: readonly Workload[],
  timeoutMs: number,
): Promise<string | undefined> {
  const api = await call(runner, ISTIO_API_ARGS, timeoutMs);
  if (api.aborted) return undefined;
  const listed = api.stdout.split("\n").some((l) => l.trim() === "peerauthentications.security.istio.io");
  // kubectl lists what it could and exits 1 when another API group is down (metrics.k8s.io, say): Istio's is what counts.
  if (api.exitCode !== 0 && !listed)
    return setupProblem(api, ISTIO_API_ARGS, timeoutMs) ?? `${commandLine(ISTIO_API_ARGS)}: ${kubectlFailure(api, timeoutMs)}`;
  if (!listed) {
    return "the cluster has no PeerAuthentication API (security.istio.io): is Istio installed, with its CRDs?";
  }
  const { clients, namespaces } = execTargets(plan, new Map(workloads.map((w) => [w.ref, w])));
  const checks = [
    ...namespaces.map(async (ns) => {
      const args = canExecArgs(ns);
      const r = await runner(args, timeoutMs);
      if (r.exitCode === 0 && firstLine(r.stdout) === "yes") return undefined;
      if (r.exitCode !== null && /^no\b/.test(firstLine(r.stdout))) {
        return `not permitted to exec into pods in namespace ${ns} (${commandLine(args)} answered ${JSON.stringify(firstLine(r.stdout))}): the probes and the sidecar reads need it`;
      }
      return setupProblem(r, args, timeoutMs) ?? `${commandLine(args)}: ${kubectlFailure(r, timeoutMs)}`;
    }),
    ...clients.map(async (w) => {
      const args = ["get", podOf(w), "--namespace", w.namespace, "-o", "name"];
      const r = await runner(args, timeoutMs);
      if (r.exitCode === 0 || r.aborted) return undefined;
      if (/\(NotFound\)/.test(r.stderr)) {
        return `the probe workload ${w.ref} does not exist (${podOf(w)} in ${w.namespace})${w.origin.startsWith("probes.") ? ": the stack deploys it; has this stage's pulumi up run?" : ""}`;
      }
      return setupProblem(r, args, timeoutMs) ?? `${commandLine(args)}: ${kubectlFailure(r, timeoutMs)}`;
    }),
  ];
  return (await Promise.all(checks)).find((p) => p !== undefined);
}
