import type { ClientTlsSetting } from "./clientTls";
import type { MeshWorkload, ServicePort } from "./rollout";
import type { ResolvedMode } from "./schema";
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

/** The pod label Istio's injector sets (`istio` unless the pod says otherwise) and auto mTLS reads per endpoint. */
export const TLS_MODE_LABEL = "security.istio.io/tlsMode";

const ruleId = (s: ClientTlsSetting) =>
  `DestinationRule ${s.rule.namespace}/${s.rule.name}${s.subset !== undefined ? ` (subset ${s.subset})` : ""}`;

/**
 * What a call from `client` to a Service port of `server` does (src/model/clientTls.ts says what the client's sidecar
 * sends): a DestinationRule's TLS as it is, else auto mTLS, which sends Istio mTLS to an endpoint with a sidecar
 * (tlsMode istio) unless the Service's namespace (or the mesh) is DISABLE, the endpoint's port is DISABLE, or the
 * mesh config turns it off. A server port in STRICT closes every connection that is not Istio mTLS; a server
 * without a sidecar gets what the client sends, an Istio handshake included.
 */
export function expectedOutcome(
  client: MeshWorkload,
  server: EffectiveWorkload,
  target: { service: string; port: number; targetPort: number; subset?: string },
  index: PolicyIndex,
): { expect: Outcome; reason: string } {
  const { targetPort } = target;
  const portMode = server.mode === null ? null : (server.ports.get(targetPort) ?? server.mode);
  if (server.mode !== null && server.workload.notIntercepted?.includes(targetPort))
    return bypassingSidecar(client, server, target, index, portMode);
  if (!client.sidecar) {
    return portMode === "STRICT"
      ? { expect: "refused", reason: "client has no sidecar and the target port is STRICT" }
      : {
          expect: "plaintext",
          reason: server.mode === null ? "neither side has a sidecar" : once(`client has no sidecar; target port is ${portMode}`),
        };
  }
  const setting = index.clientTls.settingFor(
    client,
    { name: target.service, namespace: server.workload.namespace },
    target.port,
    target.subset,
  );
  if (setting) return byDestinationRule(setting, server, portMode);
  if (server.mode === null) return { expect: "plaintext", reason: "server has no sidecar" };
  if (!index.clientTls.enableAutoMtls) {
    return portMode === "STRICT"
      ? { expect: "refused", reason: "the mesh config turns auto mTLS off (no DestinationRule sets TLS), and the target port is STRICT" }
      : { expect: "plaintext", reason: "the mesh config turns auto mTLS off and no DestinationRule sets TLS" };
  }
  const serviceMode = index.serviceMode(server.workload.namespace);
  if (serviceMode === "DISABLE") {
    const nsMode = index.namespacePolicy(server.workload.namespace)?.mode;
    const scope = nsMode !== undefined && nsMode !== "UNSET" ? "namespace" : "mesh";
    return portMode === "STRICT"
      ? { expect: "refused", reason: once(`${scope}-wide DISABLE turns auto mTLS off, and the target port is STRICT`) }
      : { expect: "plaintext", reason: once(`${scope}-wide DISABLE turns auto mTLS off`) };
  }
  if (portMode === "DISABLE") return { expect: "plaintext", reason: "target port is DISABLE" };
  const tlsMode = server.workload.podLabels[TLS_MODE_LABEL];
  if (tlsMode !== "istio") {
    const why = once(
      `its pods' ${TLS_MODE_LABEL} label is ${tlsMode === undefined ? "missing" : tlsMode}, so auto mTLS sends them plaintext`,
    );
    return portMode === "STRICT"
      ? { expect: "refused", reason: once(`${why}, and the target port is STRICT`) }
      : { expect: "plaintext", reason: why };
  }
  // A partly injected server: auto mTLS reads each endpoint's tlsMode label, so its pods without one get plaintext.
  if (server.workload.partial) {
    return { expect: "mtls", reason: once(`auto mTLS to its pods with a sidecar (port ${portMode}); its pods without one get plaintext`) };
  }
  return { expect: "mtls", reason: once(`auto mTLS to a sidecar whose port is ${portMode}`) };
}

/**
 * A port the server's sidecar does not intercept (istio-iptables returns it before the proxy: tools/istio-iptables,
 * `handleInboundPortsInclude`; istiod does not know, so clients' sidecars still send what they would send to the
 * pod): the application gets the bytes as sent, plaintext accepted whatever the policies say, an Istio handshake
 * failing.
 */
function bypassingSidecar(
  client: MeshWorkload,
  server: EffectiveWorkload,
  target: { service: string; port: number; subset?: string },
  index: PolicyIndex,
  portMode: ResolvedMode | null,
): { expect: Outcome; reason: string } {
  const bypass = "the target port is not intercepted by its sidecar";
  if (!client.sidecar) return { expect: "plaintext", reason: once(`client has no sidecar; ${bypass}, so no policy applies`) };
  const setting = index.clientTls.settingFor(
    client,
    { name: target.service, namespace: server.workload.namespace },
    target.port,
    target.subset,
  );
  const mtls = setting
    ? setting.mode === "ISTIO_MUTUAL"
    : index.clientTls.enableAutoMtls &&
      index.serviceMode(server.workload.namespace) !== "DISABLE" &&
      portMode !== "DISABLE" &&
      server.workload.podLabels[TLS_MODE_LABEL] === "istio";
  return mtls
    ? { expect: "refused", reason: once(`the client's sidecar sends Istio mTLS, but ${bypass}: the application gets a TLS handshake`) }
    : { expect: "plaintext", reason: once(`the client's sidecar sends plaintext; ${bypass}, so no policy applies`) };
}

/** A DestinationRule's TLS, sent as it is whatever the server is. */
function byDestinationRule(
  setting: ClientTlsSetting,
  server: EffectiveWorkload,
  portMode: ResolvedMode | null,
): { expect: Outcome; reason: string } {
  const rule = ruleId(setting);
  if (setting.mode === "ISTIO_MUTUAL") {
    if (server.mode === null)
      return {
        expect: "refused",
        reason: once(`${rule} sends Istio mTLS (ISTIO_MUTUAL) to a workload without a sidecar, whose application gets a TLS handshake`),
      };
    if (server.workload.partial)
      return { expect: "refused", reason: once(`${rule} sends Istio mTLS (ISTIO_MUTUAL) to every pod, and some pods run no sidecar`) };
    if (portMode === "DISABLE")
      return {
        expect: "refused",
        reason: once(`${rule} sends Istio mTLS (ISTIO_MUTUAL) to a port that is DISABLE, where the sidecar does not terminate it`),
      };
    return { expect: "mtls", reason: once(`${rule} sends Istio mTLS (ISTIO_MUTUAL); target port is ${portMode}`) };
  }
  const what = setting.mode === "DISABLE" ? "plaintext (tls DISABLE)" : `its own TLS (${setting.mode}), not Istio mTLS`;
  if (portMode === "STRICT") return { expect: "refused", reason: once(`${rule} sends ${what}, and the target port is STRICT`) };
  return {
    expect: "plaintext",
    reason: once(
      server.mode === null ? `${rule} sends ${what}; server has no sidecar` : `${rule} sends ${what}; target port is ${portMode}`,
    ),
  };
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
      ...expectedOutcome(client, server, { service: service.name, port: p.port, targetPort: p.targetPort }, index),
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
