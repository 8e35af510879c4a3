/**
 * Rebuilds what the rules need from a stack's resources: the PeerAuthentications, and the workloads
 * from the Deployments (pod labels, sidecar label, container ports, declared calls) and the Services
 * that select them.
 */
import { isDormant, policyOf } from "../../src/manifests/parse";
import { INJECT_LABEL, podLabels } from "../../src/model/pods";
import type { MeshWorkload, ServicePort } from "../../src/model/rollout";
import type { RuleName, StageFacts } from "../../src/model/rules";
import { selects } from "../../src/model/semantics";
import { ClientTlsIndex } from "../../src/model/clientTls";

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
const CALLS = "mtls-rollout.io/calls";

/** Rules whose findings name a workload (or a call, by its caller) rather than a policy. */
const WORKLOAD_RULES = new Set<RuleName>([
  "declared-calls-keep-working",
  "namespace-disable-breaks-strict-workloads",
  "partial-sidecar-not-strict",
  "client-tls-conflicts",
  "stage-order",
]);

export interface StackFacts {
  facts: StageFacts;
  /** The URN of the resource a violation names. */
  urnOf: (rule: RuleName, resource: string) => string | undefined;
}

interface Container {
  ports?: { containerPort?: number; name?: string }[];
}

export function stackFacts(resources: readonly StackResource[]): StackFacts {
  const policyUrns = new Map<string, string>();
  const workloadUrns = new Map<string, string>();
  const stage = resources.find((r) => r.type === STAGE_TYPE)?.props ?? {};

  // In the stage's order, the one Istio applies competing policies in (adopted ones first, as the cluster made
  // them); without it, by namespace and name, the order istiod breaks ties of creation time in (R7).
  const order = new Map((Array.isArray(stage.policyOrder) ? (stage.policyOrder as string[]) : []).map((id, i) => [id, i]));
  const position = (pa: { namespace: string; name: string }) => order.get(`${pa.namespace}/${pa.name}`) ?? Infinity;
  const policies = resources
    .filter((r) => PEER_AUTHENTICATION_TYPES.has(r.type))
    .map((r) => ({ r, pa: policyOf(r.props, r.urn) }))
    .filter(({ r, pa }) => !isDormant(r.props, pa))
    .map(({ pa }) => pa)
    .sort((a, b) => position(a) - position(b) || a.namespace.localeCompare(b.namespace) || a.name.localeCompare(b.name));
  for (const pa of policies) policyUrns.set(`${pa.namespace}/${pa.name}`, pa.origin);

  const injected = new Set(
    resources
      .filter((r) => r.type === "kubernetes:core/v1:Namespace" && r.props.metadata?.labels?.["istio-injection"] === "enabled")
      .map((r) => r.props.metadata.name as string),
  );
  const namedPorts = new Map<string, Map<string, number>>();
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
      workloadUrns.set(ref, r.urn);
      const containerPorts = ((spec.template?.spec?.containers ?? []) as Container[]).flatMap((c) => c.ports ?? []);
      namedPorts.set(ref, new Map(containerPorts.filter((p) => p.name && p.containerPort).map((p) => [p.name!, p.containerPort!])));
      const calls: string = metadata.annotations?.[CALLS] ?? "";
      return {
        ref,
        namespace,
        name: metadata.name,
        podLabels: podLabels(metadata.name, template, sidecar),
        sidecar,
        containerPorts: [...new Set(containerPorts.flatMap((p) => (p.containerPort ? [p.containerPort] : [])))],
        calls: calls ? calls.split(",") : [],
        services: [],
      };
    });

  for (const r of resources.filter((x) => x.type === "kubernetes:core/v1:Service")) {
    const { metadata = {}, spec = {} } = r.props;
    const selector: Record<string, string> = spec.selector ?? {};
    if (Object.keys(selector).length === 0) continue;
    const namespace = metadata.namespace ?? "default";
    for (const target of workloads.filter((w) => w.namespace === namespace && selects(selector, w.podLabels))) {
      const ports: ServicePort[] = (spec.ports ?? []).flatMap((p: { port: number; targetPort?: number | string; name?: string }) => {
        // Kubernetes: an omitted targetPort is the port; a named one is the container port of that name.
        const targetPort =
          p.targetPort === undefined
            ? p.port
            : typeof p.targetPort === "number"
              ? p.targetPort
              : namedPorts.get(target.ref)?.get(p.targetPort);
        return targetPort === undefined ? [] : [{ name: p.name, port: p.port, targetPort, protocol: "TCP" as const }];
      });
      target.services = [...target.services, { name: metadata.name, selector, ports, origin: `Service ${namespace}/${metadata.name}` }];
      // A container need not declare the ports it listens on; a Service's target port is one.
      target.containerPorts = [...new Set([...target.containerPorts, ...ports.map((p) => p.targetPort)])];
    }
  }

  // Workloads that run without the stack: the stage component carries them, as it has no Deployment of theirs.
  const existing: MeshWorkload[] = Array.isArray(stage.existingWorkloads) ? stage.existingWorkloads : [];
  return {
    facts: {
      stage: stage.stage ?? "(this stack)",
      meshRootNamespace: stage.meshRootNamespace ?? "istio-system",
      policies,
      workloads: [...workloads, ...existing],
      acknowledgeBrokenCalls: stage.acknowledgeBrokenCalls ?? [],
      acknowledgeFindings: Array.isArray(stage.acknowledgeFindings) ? stage.acknowledgeFindings : [],
      clientTls: new ClientTlsIndex(Array.isArray(stage.destinationRules) ? stage.destinationRules : [], {
        meshRootNamespace: stage.meshRootNamespace ?? "istio-system",
        enableAutoMtls: stage.enableAutoMtls !== false,
        ...(stage.destinationRulesPrivateByDefault === true ? { defaultExportTo: ["."] } : {}),
      }),
    },
    urnOf: (rule, resource) =>
      WORKLOAD_RULES.has(rule) ? workloadUrns.get(resource.split(" -> ")[0].replace(/:\d+$/, "")) : policyUrns.get(resource),
  };
}
