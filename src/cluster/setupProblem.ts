/**
 * Why a kubectl call failed when the reason is the setup, not the mesh: no kubectl, a context the kubeconfig does
 * not have, an API server that does not answer or refuses us, a missing CRD. Every command that reads the cluster
 * says these the same way, in one line, and exits 2 (bad input: the user can fix them); anything else a read
 * could not get is missing evidence (exit 3).
 */
import { complaintLine } from "./failure";
import type { RunResult } from "./runner";

/** The command as a user would type it, for messages. */
export const commandLine = (args: readonly string[]) => `kubectl ${args.join(" ")}`;

/** The setup problem behind a failed call, in the words a user can act on; undefined for anything else. */
export function setupProblem(result: RunResult, args: readonly string[], timeoutMs: number): string | undefined {
  if (result.aborted) return undefined;
  const err = complaintLine(result.stderr);
  if (result.spawnError) return `kubectl could not be started (${result.spawnError}): put it on PATH or name it in $KUBECTL`;
  const context = /context "([^"]+)" does not exist/.exec(err);
  if (context) return `the kube context "${context[1]}" does not exist (kubectl config get-contexts lists the ones there are)`;
  if (result.timedOut) {
    const within = timeoutMs % 1000 === 0 || timeoutMs >= 10_000 ? `${Math.round(timeoutMs / 1000)}s` : `${timeoutMs}ms`;
    return `the cluster did not answer ${commandLine(args)} within ${within}: is it reachable?`;
  }
  if (/Unable to connect to the server|was refused|connection refused|no such host|i\/o timeout|TLS handshake timeout|dial tcp/.test(err)) {
    return `the cluster is unreachable: ${err}`;
  }
  if (/Unauthorized|You must be logged in|provide credentials/.test(err)) return `not logged in to the cluster: ${err}`;
  if (/\(Forbidden\)/.test(err)) return `not permitted: ${err}`;
  if (/the server doesn't have a resource type "peerauthentications/.test(err)) {
    return "the cluster has no PeerAuthentication API (security.istio.io): is Istio installed, with its CRDs?";
  }
  if (/the server doesn't have a resource type/.test(err)) return `the cluster does not serve what is read: ${err}`;
  return undefined;
}
