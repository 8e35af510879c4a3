/**
 * PeerAuthentication objects as Kubernetes (or a Pulumi stack) holds them, read back into the model:
 * for the policy pack, and for the pre-flight gate reading the cluster's live policies.
 */
import type { PeerAuthentication } from "../model/rollout";
import type { MtlsMode } from "../model/schema";
import { ADOPTED_ANNOTATION, ALLOW_DISABLE_ANNOTATION, DORMANT_SELECTOR, IN_FORCE_ANNOTATION } from "./kubernetes";

/** A PeerAuthentication object's fields; `origin` names where it came from in messages. */
export function policyOf(object: { metadata?: any; spec?: any }, origin: string): PeerAuthentication {
  const metadata = object.metadata ?? {};
  const spec = object.spec ?? {};
  const matchLabels: Record<string, string> | undefined = spec.selector?.matchLabels;
  const ports = Object.entries((spec.portLevelMtls ?? {}) as Record<string, { mode?: MtlsMode }>);
  return {
    namespace: metadata.namespace ?? "default",
    name: metadata.name,
    selector: matchLabels && Object.keys(matchLabels).length > 0 ? matchLabels : null,
    mode: spec.mtls?.mode ?? "UNSET",
    ...(ports.length > 0 ? { portLevelMtls: Object.fromEntries(ports.map(([port, v]) => [Number(port), v?.mode ?? "UNSET"])) } : {}),
    origin,
    ...(metadata.annotations?.[ALLOW_DISABLE_ANNOTATION] ? { allowDisable: metadata.annotations[ALLOW_DISABLE_ANNOTATION] } : {}),
    ...(metadata.annotations?.[ADOPTED_ANNOTATION] === "true" ? { existing: true as const } : {}),
  };
}

/** A later stage's policy as the program declares it: marked, UNSET, and selecting nothing. Anything else counts. */
export function isDormant(object: { metadata?: any }, pa: PeerAuthentication): boolean {
  if (object.metadata?.annotations?.[IN_FORCE_ANNOTATION] !== "false") return false;
  if (pa.mode !== "UNSET" || pa.portLevelMtls) return false;
  const [key, value] = Object.entries(DORMANT_SELECTOR)[0];
  return pa.selector === null || (Object.keys(pa.selector).length === 1 && pa.selector[key] === value);
}
