// A stand-in for a server's Istio sidecar in front of a real server on loopback: what an inbound Envoy does with a
// TCP connection at the two modes that matter, and what it counts.
//
// - STRICT: the inbound listener's chains take TLS only (istio `filterchain_options.go`, the strict match options are
//   `TransportProtocol: tls`); plaintext matches no chain, so Envoy bumps `listener.0.0.0.0_15006.no_filter_chain_match`,
//   logs `NR filter_chain_not_found`, and closes without a byte: curl sees a reset (curl exit 56, as recorded in
//   test/fixtures/recorded/curl-exit56-reset-istio-io-snip.txt).
// - PERMISSIVE: plaintext is passed through to the application and counted by
//   `istio_tcp_connections_opened_total{reporter="destination",connection_security_policy="none"}`, from `unknown` for a
//   client without a sidecar.
//
// A client with a sidecar reaches it in mTLS, which this stand-in cannot speak: its connections come to a second port
// (`mtlsPort`), which stands for the client sidecar's mTLS and is counted as `mutual_tls` from that client.
import * as net from "node:net";
import { series } from "./fakeCluster";
import { recorded } from "./recorded";

const TCP_SERIES = recorded("prom-dest-mtls-tcp-opened-15020-sleep-httpbin.txt").trim().split("\n")[0];
const LISTENER = recorded("envoy-stats-listener-15006-before-istio-workshop.txt");
const TLS_INSPECTOR = recorded("envoy-stats-tls-inspector-before-istio-workshop.txt");
/** Istio's default access-log format: a refused connection, and a connection the sidecar passed on (recorded, istioinaction). */
const REFUSED_LINE = recorded("envoy-access-log-nr-filter-chain-not-found-istioinaction.txt").split("\n")[0];
const SERVED_LINE = recorded("envoy-access-log-after-permissive-istioinaction.txt").split("\n")[2];

export interface StandInOptions {
  /** `namespace/name` of the workload it stands in front of. */
  ref: string;
  /** Where the real server listens on loopback. */
  upstreamPort: number;
  /** It reports the inbound listener's counters (the proxyStatsMatcher the stack puts on the pods it deploys). */
  listenerStats: boolean;
  /** The mesh writes an access log for it (a Telemetry, or meshConfig.accessLogFile). */
  accessLog: boolean;
}

export class StandInSidecar {
  mode: "STRICT" | "PERMISSIVE" = "PERMISSIVE";
  private refused = 0;
  private opened = new Map<string, number>();
  private log: string[] = [];
  private readonly servers: net.Server[] = [];
  private readonly sockets = new Set<net.Socket>();
  port = 0;
  mtlsPort = 0;

  constructor(readonly options: StandInOptions) {}

  async start(): Promise<this> {
    this.port = await this.listen((client) => this.inbound(client));
    this.mtlsPort = await this.listen((client) => {
      this.count("data/mtls-probe", "mutual_tls");
      this.pipe(client);
    });
    return this;
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await Promise.all(this.servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
  }

  private listen(onConnection: (socket: net.Socket) => void): Promise<number> {
    const server = net.createServer((socket) => {
      this.sockets.add(socket);
      socket.on("close", () => this.sockets.delete(socket));
      socket.on("error", () => {});
      onConnection(socket);
    });
    this.servers.push(server);
    return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve((server.address() as net.AddressInfo).port)));
  }

  /** A client without a sidecar: its first bytes are no TLS ClientHello (curl speaks HTTP). */
  private inbound(client: net.Socket) {
    if (this.mode === "PERMISSIVE") {
      this.count("unknown/unknown", "none");
      this.pipe(client);
      return;
    }
    client.once("data", (first: Buffer) => {
      // A TLS record of type handshake starts with 0x16: anything else matches no STRICT filter chain.
      if (first[0] === 0x16) {
        client.destroy();
        return;
      }
      this.refused++;
      if (this.options.accessLog) this.log.push(REFUSED_LINE);
      client.resetAndDestroy();
    });
  }

  private count(source: string, policy: "none" | "mutual_tls") {
    const key = `${source}|${policy}`;
    this.opened.set(key, (this.opened.get(key) ?? 0) + 1);
    if (this.options.accessLog) this.log.push(SERVED_LINE);
  }

  private pipe(client: net.Socket) {
    const upstream = net.connect(this.options.upstreamPort, "127.0.0.1");
    this.sockets.add(upstream);
    upstream.on("close", () => this.sockets.delete(upstream));
    upstream.on("error", () => client.destroy());
    client.on("error", () => upstream.destroy());
    client.pipe(upstream).pipe(client);
  }

  /** `pilot-agent request GET stats`: the inbound listener's counters where it reports them, the TLS inspector's. */
  envoyStats(): string {
    const listener = LISTENER.replace(/no_filter_chain_match: 0/, `no_filter_chain_match: ${this.refused}`);
    return this.options.listenerStats ? `${listener}${TLS_INSPECTOR}` : TLS_INSPECTOR;
  }

  /** `pilot-agent request GET stats/prometheus`: the Istio TCP series, as Istio's stats plugin names them. */
  istioMetrics(): string {
    const lines = [...this.opened].map(([key, value]) => {
      const [source, policy] = key.split("|");
      return series(this.options.ref, source, policy, value, TCP_SERIES);
    });
    return `# TYPE istio_tcp_connections_opened_total counter\n${lines.join("\n")}\n`;
  }

  /** `kubectl logs … -c istio-proxy`: nothing when the mesh writes no access log. */
  accessLogText(): string {
    return this.log.map((l) => `${l}\n`).join("");
  }
}
