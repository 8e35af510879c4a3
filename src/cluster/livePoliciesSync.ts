/**
 * The cluster's PeerAuthentications, read synchronously for the Pulumi program, which judges adoption before it
 * declares any resource (src/model/adoption.ts). Across all namespaces in one call; namespace by namespace, for the
 * namespaces asked for, where that call is forbidden at cluster scope or too large, as the snapshot reads them.
 */
import { MAX_LIST_BYTES, readAnswer, type Read } from "./kubectlGet";
import { livePolicies } from "./liveMesh";
import { peerAuthenticationObjectSchema, type PeerAuthenticationObject } from "./objects";
import { runKubectlSync } from "./runner";
import { PEER_AUTHENTICATIONS } from "./snapshot";
import type { LivePolicy } from "../model/live";

export function readLivePoliciesSync(
  kubectl: string,
  context: string | undefined,
  namespaces: readonly string[],
  timeoutMs: number,
): { policies: LivePolicy[] } | { error: string } {
  const get = (scope: string[]): Read<PeerAuthenticationObject> => {
    const args = ["get", PEER_AUTHENTICATIONS, ...scope, "-o", "json"];
    return readAnswer(
      args,
      runKubectlSync(kubectl, context, args, timeoutMs, { maxOutputBytes: MAX_LIST_BYTES }),
      peerAuthenticationObjectSchema,
      timeoutMs,
    );
  };
  const all = get(["--all-namespaces"]);
  if (!("error" in all)) return { policies: livePolicies(all.items) };
  if (!all.forbidden && !all.tooLarge) return { error: all.error };
  const items: PeerAuthenticationObject[] = [];
  for (const ns of new Set(namespaces)) {
    const one = get(["--namespace", ns]);
    if ("error" in one) return { error: one.error };
    items.push(...one.items);
  }
  return { policies: livePolicies(items) };
}
