/**
 * The Kubernetes objects of a rollout, as plain data. The Pulumi components declare exactly these,
 * so tests can check them against the published schemas without an engine.
 */
import type { PlannedPolicy } from "../model/plan";
import type { DormantPolicy } from "../model/stages";
import { INJECT_LABEL } from "../model/pods";
import type { Namespace, Workload } from "../model/rollout";

export const PEER_AUTHENTICATION_API_VERSION = "security.istio.io/v1";
/** Which stage's declaration a policy comes from, so `kubectl get pa -o yaml` tells a reviewer. */
export const STAGE_ANNOTATION = "mtls-rollout.io/defined-in-stage";
/** A policy's accepted reason to switch mTLS off; the policy pack reads it like the rollout file's allowDisable. */
export const ALLOW_DISABLE_ANNOTATION = "mtls-rollout.io/allow-disable";
/** "false" on a dormant policy: one of a later stage, present but without effect. */
export const IN_FORCE_ANNOTATION = "mtls-rollout.io/in-force";
/** The label a dormant policy selects, which no pod carries. */
export const DORMANT_SELECTOR = { "mtls-rollout.io/dormant": "true" };
export const PROXY_CONFIG_ANNOTATION = "proxy.istio.io/config";
/**
 * The Envoy stats the stack's pods report beyond Istio's defaults (ProxyConfig.proxyStatsMatcher): as a server, its
 * TLS inspector and inbound listener (refusals); as a client, its clusters' connections (Envoy's cluster stats
 * `upstream_cx_total`, `upstream_cx_connect_fail`), which tell whether a connection its sidecar opened reached the server.
 */
export const PROXY_STATS_MATCHER =
  'proxyStatsMatcher:\n  inclusionPrefixes:\n  - "tls_inspector"\n  - "listener.0.0.0.0_15006"\n  inclusionSuffixes:\n  - "upstream_cx_total"\n  - "upstream_cx_connect_fail"';
/**
 * The stack that wrote a PeerAuthentication (`organization/project/stack`): the program tells its own policies, which
 * its state holds, from another stack's or ones it finds left behind, which it would import.
 */
export const STACK_ANNOTATION = "mtls-rollout.io/stack";
/** "true" on a PeerAuthentication that existed before the rollout and was adopted: the stack never deletes it. */
export const ADOPTED_ANNOTATION = "mtls-rollout.io/adopted";
/** A Deployment's declared calls (`namespace/workload`, comma-separated), for the policy pack. */
export const CALLS_ANNOTATION = "mtls-rollout.io/calls";

export function namespaceManifest(ns: Namespace) {
  // Without the label a workload may still opt in with the pod label (Istio's object-selector webhook).
  const labels: Record<string, string> = ns.injection ? { "istio-injection": "enabled" } : {};
  return { apiVersion: "v1" as const, kind: "Namespace" as const, metadata: { name: ns.name, labels } };
}

export function serviceAccountManifest(namespace: string, name: string) {
  return { apiVersion: "v1" as const, kind: "ServiceAccount" as const, metadata: { name, namespace } };
}

/** The container ports of a deployed workload, named where the rollout names them (a Service may target the name). */
function containerPortsOf(w: Workload) {
  const names = new Map(w.namedPorts.map((p) => [p.containerPort, p.name]));
  return w.containerPorts.map((containerPort) => ({
    containerPort,
    ...(names.has(containerPort) ? { name: names.get(containerPort)! } : {}),
  }));
}

/** The Deployment of a workload the stack deploys (`deploy: true`). */
export function deploymentManifest(w: Workload) {
  const ports = containerPortsOf(w);
  const env = Object.entries(w.env).map(([name, value]) => ({ name, value }));
  return {
    apiVersion: "apps/v1" as const,
    kind: "Deployment" as const,
    metadata: {
      name: w.name,
      namespace: w.namespace,
      labels: { ...w.labels },
      ...(w.calls.length > 0 ? { annotations: { [CALLS_ANNOTATION]: w.calls.join(",") } } : {}),
    },
    spec: {
      replicas: w.replicas,
      selector: { matchLabels: { ...w.labels } },
      template: {
        metadata: {
          // Explicit either way, so the sidecar does not depend on a namespace label we may not own.
          labels: { ...w.labels, [INJECT_LABEL]: String(w.sidecar) },
          // The pre-flight gate reads the inbound listener's and the TLS inspector's counters (istio.io "Envoy Statistics").
          ...(w.sidecar ? { annotations: { [PROXY_CONFIG_ANNOTATION]: PROXY_STATS_MATCHER } } : {}),
        },
        spec: {
          serviceAccountName: w.serviceAccount,
          containers: [
            {
              name: w.container,
              image: w.image,
              imagePullPolicy: "IfNotPresent",
              ...(w.command ? { command: [...w.command] } : {}),
              ...(w.args ? { args: [...w.args] } : {}),
              ...(env.length > 0 ? { env } : {}),
              ...(ports.length > 0 ? { ports } : {}),
              ...(w.hardening ? { securityContext: w.hardening.securityContext, resources: w.hardening.resources } : {}),
            },
          ],
        },
      },
    },
  };
}

/** The Services of a workload the stack deploys, one per Service the rollout declares for it. */
export function serviceManifests(w: Workload) {
  return w.services.map((service) => ({
    apiVersion: "v1" as const,
    kind: "Service" as const,
    metadata: { name: service.name, namespace: w.namespace, labels: { ...w.labels } },
    spec: {
      selector: { ...service.selector },
      ports: service.ports.map((p) => ({
        ...(p.name ? { name: p.name } : {}),
        port: p.port,
        targetPort: p.targetPortName ?? p.targetPort,
        protocol: p.protocol,
        ...(p.appProtocol ? { appProtocol: p.appProtocol } : {}),
      })),
    },
  }));
}

export function peerAuthenticationSpec(pa: PlannedPolicy) {
  const ports = Object.entries(pa.portLevelMtls);
  return {
    ...(pa.selector ? { selector: { matchLabels: { ...pa.selector } } } : {}),
    mtls: { mode: pa.mode },
    ...(ports.length > 0 ? { portLevelMtls: Object.fromEntries(ports.map(([port, mode]) => [port, { mode }])) } : {}),
  };
}

export interface PeerAuthenticationManifest {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace: string; annotations: Record<string, string> };
  spec: Record<string, unknown>;
}

function peerAuthentication(
  namespace: string,
  name: string,
  annotations: Record<string, string>,
  spec: Record<string, unknown>,
): PeerAuthenticationManifest {
  return { apiVersion: PEER_AUTHENTICATION_API_VERSION, kind: "PeerAuthentication", metadata: { name, namespace, annotations }, spec };
}

export function peerAuthenticationManifest(pa: PlannedPolicy): PeerAuthenticationManifest {
  const annotations = {
    [STAGE_ANNOTATION]: pa.definedIn,
    ...(pa.allowDisable ? { [ALLOW_DISABLE_ANNOTATION]: pa.allowDisable } : {}),
    ...(pa.existing ? { [ADOPTED_ANNOTATION]: "true" } : {}),
  };
  return peerAuthentication(pa.namespace, pa.name, annotations, peerAuthenticationSpec(pa));
}

/**
 * A policy of a later stage, or one retired, without effect: UNSET inherits every mode (R5), and a selector policy
 * selects nothing, so it cannot shadow the policy in force for a workload (R7).
 */
export function dormantPeerAuthenticationManifest(pa: DormantPolicy): PeerAuthenticationManifest {
  const spec = { ...(pa.wide ? {} : { selector: { matchLabels: { ...DORMANT_SELECTOR } } }), mtls: { mode: "UNSET" } };
  return peerAuthentication(
    pa.namespace,
    pa.name,
    { [IN_FORCE_ANNOTATION]: "false", [STAGE_ANNOTATION]: pa.firstStage, ...(pa.adopted ? { [ADOPTED_ANNOTATION]: "true" } : {}) },
    spec,
  );
}
