import type { MeshWorkload, ServicePort } from "./rollout";
import type { EffectiveWorkload, PolicyIndex } from "./semantics";

export type Outcome = "mtls" | "plaintext" | "refused";

export interface Edge {
  from: string;
  to: string;
  /** `service.namespace`, as a client in another namespace would call it. */
  host: string;
  port: number;
  targetPort: number;
  expect: Outcome;
  /** Why, in words a reviewer can check against Istio's rules. */
  reason: string;
}

/**
 * A reason or host as one string however many edges carry it: a 10,000-workload plan has 200,000 edges and a
 * handful of distinct reasons. The table holds only the few texts the templates below can make.
 */
const shared = new Map<string, string>();
function once(text: string): string {
  const known = shared.get(text);
  if (known !== undefined) return known;
  shared.set(text, text);
  return text;
}

/**
 * What a call from `client` to `server`'s target port does, following auto mTLS with no
 * DestinationRule: the client sidecar sends mTLS to an endpoint that has a sidecar unless the
 * service's namespace (or the mesh) is DISABLE or the endpoint's own port is DISABLE; a server port
 * in STRICT closes every plaintext connection.
 */
export function expectedOutcome(
  client: MeshWorkload,
  server: EffectiveWorkload,
  targetPort: number,
  index: PolicyIndex,
): { expect: Outcome; reason: string } {
  const portMode = server.mode === null ? null : (server.ports.get(targetPort) ?? server.mode);
  if (!client.sidecar) {
    return portMode === "STRICT"
      ? { expect: "refused", reason: "client has no sidecar and the target port is STRICT" }
      : {
          expect: "plaintext",
          reason: server.mode === null ? "neither side has a sidecar" : once(`client has no sidecar; target port is ${portMode}`),
        };
  }
  if (server.mode === null) return { expect: "plaintext", reason: "server has no sidecar" };
  const serviceMode = index.serviceMode(server.workload.namespace);
  if (serviceMode === "DISABLE") {
    const nsMode = index.namespacePolicy(server.workload.namespace)?.mode;
    const scope = nsMode !== undefined && nsMode !== "UNSET" ? "namespace" : "mesh";
    return portMode === "STRICT"
      ? { expect: "refused", reason: once(`${scope}-wide DISABLE turns auto mTLS off, and the target port is STRICT`) }
      : { expect: "plaintext", reason: once(`${scope}-wide DISABLE turns auto mTLS off`) };
  }
  if (portMode === "DISABLE") return { expect: "plaintext", reason: "target port is DISABLE" };
  // A partly injected server: auto mTLS reads each endpoint's tlsMode label, so its pods without one get plaintext.
  if (server.workload.partial) {
    return { expect: "mtls", reason: once(`auto mTLS to its pods with a sidecar (port ${portMode}); its pods without one get plaintext`) };
  }
  return { expect: "mtls", reason: once(`auto mTLS to a sidecar whose port is ${portMode}`) };
}

/** One edge per port of each of `server`'s Services. */
export function edgesTo(client: MeshWorkload, server: EffectiveWorkload, index: PolicyIndex): Edge[] {
  return server.workload.services.flatMap((service) =>
    service.ports.map((p) => ({
      from: client.ref,
      to: server.workload.ref,
      host: once(`${service.name}.${server.workload.namespace}`),
      port: p.port,
      targetPort: p.targetPort,
      ...expectedOutcome(client, server, p.targetPort, index),
    })),
  );
}

/** The Service port an edge goes to: of the Service its host names, at its port. */
export function servicePortOf(
  server: Pick<MeshWorkload, "namespace" | "services">,
  edge: Pick<Edge, "host" | "port">,
): ServicePort | undefined {
  const service = server.services.find((s) => `${s.name}.${server.namespace}` === edge.host);
  return service?.ports.find((p) => p.port === edge.port);
}
