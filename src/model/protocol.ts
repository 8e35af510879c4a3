/**
 * What a Service port speaks, as Istio decides it (istio/istio pkg/config/kube/conversion.go
 * ConvertProtocol, pkg/config/protocol/instance.go Parse): `appProtocol` first, then the port name's
 * prefix before the first `-` (`grpc-web` whole), case-insensitive; a name Istio does not know means
 * "sniffed" (it detects HTTP on the first bytes), except on a few well-known ports, which are TCP.
 */
import type { ServicePort } from "./rollout";

export type Protocol =
  "http" | "http2" | "grpc" | "grpc-web" | "http_proxy" | "https" | "tls" | "tcp" | "mongo" | "mysql" | "redis" | "sniffed";

const KNOWN: readonly Protocol[] = ["http", "http2", "grpc", "grpc-web", "http_proxy", "https", "tls", "tcp", "mongo", "mysql", "redis"];
/** ConvertProtocol's `wellKnownPorts`: SMTP, DNS, MySQL, MongoDB default to TCP rather than sniffing. */
const WELL_KNOWN_TCP_PORTS = new Set([25, 53, 3306, 27017]);

export function protocolOf(port: Pick<ServicePort, "name" | "appProtocol" | "port">): Protocol {
  let name = port.name ?? "";
  if (port.appProtocol) {
    name = port.appProtocol;
    if (name === "kubernetes.io/h2c") return "http2";
    if (name === "kubernetes.io/ws") return "http";
    if (name === "kubernetes.io/wss") return "https";
  }
  const lower = name.toLowerCase();
  if (lower.startsWith("grpc-web")) return "grpc-web";
  const prefix = lower.split("-")[0] as Protocol;
  if (KNOWN.includes(prefix)) return prefix;
  return WELL_KNOWN_TCP_PORTS.has(port.port) ? "tcp" : "sniffed";
}

/**
 * How a probe's answer can be read: `http` ports answer curl in HTTP, and a reset is the server
 * sidecar's refusal; `opaque` ports (TCP, TLS, databases) answer in their own protocol, and only the
 * server sidecar's counters say what happened; `sniffed` ports are either, depending on the app.
 */
export type ProtocolFamily = "http" | "opaque" | "sniffed";

export function familyOf(protocol: Protocol): ProtocolFamily {
  if (protocol === "sniffed") return "sniffed";
  return ["http", "http2", "grpc", "grpc-web", "http_proxy"].includes(protocol) ? "http" : "opaque";
}
