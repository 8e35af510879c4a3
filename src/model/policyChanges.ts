/**
 * What differs between two versions of one PeerAuthentication, in the fields that decide what it does (its mode, its
 * selector, its port-level modes), each in words. status compares the cluster with a stage this way; the program
 * says so what adopting a policy changes on it.
 */
import { sameMap } from "./liveModes";
import type { PeerAuthentication } from "./rollout";

export const labelsText = (labels: Record<string, string> | null) =>
  labels === null
    ? "none"
    : Object.entries(labels)
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
        .map(([k, v]) => `${k}=${v}`)
        .join(",");

export const portsText = (ports: Record<number, string> | undefined) =>
  Object.entries(ports ?? {})
    .sort(([a], [b]) => Number(a) - Number(b))
    .map(([p, m]) => `${p}:${m}`)
    .join(" ") || "none";

/** Each field of `live` that is not as `wanted` has it, as `field LIVE (WANTED_LABEL: WANTED)`; none when alike. */
export function policyChanges(live: PeerAuthentication, wanted: PeerAuthentication, wantedLabel = "rollout"): string[] {
  const out: string[] = [];
  if (live.mode !== wanted.mode) out.push(`mode ${live.mode} (${wantedLabel}: ${wanted.mode})`);
  if ((live.selector === null) !== (wanted.selector === null) || !sameMap(live.selector, wanted.selector))
    out.push(`selector ${labelsText(live.selector)} (${wantedLabel}: ${labelsText(wanted.selector)})`);
  if (!sameMap(live.portLevelMtls, wanted.portLevelMtls))
    out.push(`portLevelMtls ${portsText(live.portLevelMtls)} (${wantedLabel}: ${portsText(wanted.portLevelMtls)})`);
  return out;
}
