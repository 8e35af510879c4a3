/**
 * Rebuilds what the rules need from a stack's resources: the PeerAuthentications, and the workloads
 * from the Deployments (pod labels, sidecar label, declared calls) and the Services that select them.
 */
import { podLabels, INJECT_LABEL } from "../../src/model/pods";
import type { MeshWorkload, PeerAuthentication } from "../../src/model/rollout";
import type { StageFacts } from "../../src/model/rules";
import type { MtlsMode } from "../../src/model/schema";
import { selects } from "../../src/model/semantics";

export interface StackResource {
  type: string;
  urn: string;
  props: Record<string, any>;
}

export const PEER_AUTHENTICATION_TYPES = new Set([
  "kubernetes:security.istio.io/v1:PeerAuthentication",
  "kubernetes:security.istio.io/v1beta1:PeerAuthentication",
]);
const STAGE_TYPE = "mtls-rollout:index:StagePolicies";
const ALLOW_DISABLE = "mtls-rollout.io/allow-disable";
const CALLS = "mtls-rollout.io/calls";
const IN_FORCE = "mtls-rollout.io/in-force";

export interface StackFacts {
  facts: StageFacts;
  /** The URN of the resource a violation names (`namespace/name`, or the caller of `a -> b`). */
  urnOf: (resource: string) => string | undefined;
}

function policyOf(r: StackResource): PeerAuthentication {
  const { metadata = {}, spec = {} } = r.props;
  const matchLabels: Record<string, string> | undefined = spec.selector?.matchLabels;
  const ports = Object.entries((spec.portLevelMtls ?? {}) as Record<string, { mode?: MtlsMode }>);
  return {
    namespace: metadata.namespace ?? "default",
    name: metadata.name,
    selector: matchLabels && Object.keys(matchLabels).length > 0 ? matchLabels : null,
    mode: spec.mtls?.mode ?? "UNSET",
    ...(ports.length > 0 ? { portLevelMtls: Object.fromEntries(ports.map(([port, v]) => [Number(port), v?.mode ?? "UNSET"])) } : {}),
    origin: r.urn,
    ...(metadata.annotations?.[ALLOW_DISABLE] ? { allowDisable: metadata.annotations[ALLOW_DISABLE] } : {}),
  };
}

export function stackFacts(resources: readonly StackResource[]): StackFacts {
  const urns = new Map<string, string>();
  const stage = resources.find((r) => r.type === STAGE_TYPE)?.props ?? {};

  // Sorted by namespace and name: with no creation times, that is the order istiod breaks ties in (R7).
  const policies = resources
    // A dormant policy (a later stage's) has no effect: mode UNSET and a selector no pod carries.
    .filter((r) => PEER_AUTHENTICATION_TYPES.has(r.type) && r.props.metadata?.annotations?.[IN_FORCE] !== "false")
    .map(policyOf)
    .sort((a, b) => a.namespace.localeCompare(b.namespace) || a.name.localeCompare(b.name));
  for (const pa of policies) urns.set(`${pa.namespace}/${pa.name}`, pa.origin);

  const injected = new Set(
    resources
      .filter((r) => r.type === "kubernetes:core/v1:Namespace" && r.props.metadata?.labels?.["istio-injection"] === "enabled")
      .map((r) => r.props.metadata.name as string),
  );
  const workloads: MeshWorkload[] = resources
    .filter((r) => r.type === "kubernetes:apps/v1:Deployment")
    .map((r) => {
      const { metadata = {}, spec = {} } = r.props;
      const namespace: string = metadata.namespace ?? "default";
      const template: Record<string, string> = { ...(spec.template?.metadata?.labels ?? {}) };
      const inject = template[INJECT_LABEL];
      delete template[INJECT_LABEL];
      const sidecar = inject === undefined ? injected.has(namespace) : inject === "true";
      const ref = `${namespace}/${metadata.name}`;
      urns.set(ref, r.urn);
      const calls: string = metadata.annotations?.[CALLS] ?? "";
      return {
        ref,
        namespace,
        name: metadata.name,
        podLabels: podLabels(metadata.name, template, sidecar),
        sidecar,
        calls: calls ? calls.split(",") : [],
      };
    });

  for (const r of resources.filter((x) => x.type === "kubernetes:core/v1:Service")) {
    const { metadata = {}, spec = {} } = r.props;
    const selector: Record<string, string> = spec.selector ?? {};
    if (Object.keys(selector).length === 0) continue;
    const namespace = metadata.namespace ?? "default";
    const target = workloads.find((w) => w.namespace === namespace && selects(selector, w.podLabels));
    if (!target || target.service) continue;
    target.service = {
      name: metadata.name,
      ports: (spec.ports ?? []).map((p: { port: number; targetPort?: number | string; name?: string }) => ({
        name: p.name,
        port: p.port,
        // A named target port cannot be resolved here; the Service port is what Kubernetes then defaults to.
        targetPort: typeof p.targetPort === "number" ? p.targetPort : p.port,
        protocol: "TCP" as const,
      })),
    };
  }

  return {
    facts: {
      stage: stage.stage ?? "(this stack)",
      meshRootNamespace: stage.meshRootNamespace ?? "istio-system",
      policies,
      workloads,
      acknowledgeBrokenCalls: stage.acknowledgeBrokenCalls ?? [],
    },
    urnOf: (resource) => urns.get(resource.split(" -> ")[0].replace(/:\d+$/, "")),
  };
}
