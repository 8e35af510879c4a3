/**
 * A cluster in a known state, answering kubectl the way a real one does, with recorded real outputs
 * (test/fixtures/recorded). It serves the verifier's kubectl seam in-process and, through
 * fake-kubectl.js, as an executable given as KUBECTL.
 */
import type { Outcome } from "../../src/model/expectations";
import type { Plan } from "../../src/model/plan";
import type { Rollout } from "../../src/model/rollout";
import type { KubectlRunner, RunResult } from "../../src/cluster/runner";
import type { VerifyOptions } from "../../src/verify/verifier";
import { recorded, terminated } from "./recorded";
import { answerFromLists } from "./kubectlFromLists";
import { clusterOf, policiesAt, type ClusterLists } from "./labCluster";

/**
 * What a call does: the model's outcomes, the failures curl reports, and two the client's sidecar reports with
 * a 503: it could not connect upstream (`upstream-connect-error`), or the server's application reset a request
 * the server's sidecar took in mTLS (`app-reset`).
 */
export type ClusterOutcome =
  | Outcome
  | "dns-failure"
  | "timeout"
  | "connection-refused"
  | "upstream-connect-error"
  | "app-reset"
  /** The server answers with a status and part of its body, then the connection is reset: curl exits 56 with the status printed. */
  | "answered-then-reset";

export interface ClusterState {
  /** Deployments by namespace/name. */
  workloads: Record<
    string,
    {
      sidecar: boolean;
      /** What answers: httpbin's echo, fake-service's chain, a plain 200, or a server-first protocol (MySQL's greeting). */
      kind: "httpbin" | "fake-service" | "other" | "server-first" | "closes";
      container: string;
      controller: string;
      /** Its sidecar reports listener.0.0.0.0_15006 counters (the proxyStatsMatcher the stack puts on what it deploys). */
      listenerStats: boolean;
    }
  >;
  /** `svc.ns` to the deployment behind it. */
  services: Record<string, string>;
  /** What a call from a client to `host:port` does: `${clientRef} ${host}:${port}`. */
  outcomes: Record<string, ClusterOutcome>;
  /** fake-service's upstream calls all succeed, or the first one fails with 503. */
  chain: "ok" | "upstream-503";
  /** The PeerAuthentication objects `kubectl get` returns: the program's manifests of the stage. */
  peerAuthentications: unknown[];
  /** The rest of what `kubectl get … -o json` returns: namespaces, controllers, Services, pods (test/support/labCluster.ts). */
  lists: Omit<ClusterLists, "peerauthentications">;
  /** Plaintext that keeps arriving at a workload: each read of its sidecar's stats has seen one more request. */
  backgroundPlaintext?: { to: string; from: string }[];
  /** Istio's CRDs are not installed. */
  noIstioApi?: boolean;
  /** Namespaces where `kubectl auth can-i create pods --subresource=exec` answers no. */
  execDenied?: string[];
  /** The mesh writes no access log (Istio's default profile; the lab's meshConfig writes one to stdout). */
  noAccessLog?: boolean;
  /** Servers whose sidecars count no request or connection (their Istio metrics are off). */
  silentServers?: string[];
  /** Servers whose probes land on one of their pods without a sidecar (a workload declared partial): no sidecar counts them. */
  answeredWithoutSidecar?: string[];
  /** The declared calls a fake-service app makes when it is called (the lab's chain), and how they go. */
  chainCalls: { from: string; to: string; policy: "mutual_tls" | "none" }[];
  /** Traffic between apps that keeps flowing: each read of the callee's stats has seen one more request. */
  traffic?: { from: string; to: string; policy: "mutual_tls" | "none" }[];
}

/** Destination-side request counters per server, keyed by `source namespace/name|policy`. */
export type Counters = Record<string, Record<string, number>>;

/** The state a cluster is in when a stage holds exactly as the model says. */
export function clusterState(rollout: Rollout, plan: Plan, chain: ClusterState["chain"] = "ok"): ClusterState {
  const workloads: ClusterState["workloads"] = {};
  const services: ClusterState["services"] = {};
  for (const w of rollout.workloads) {
    const image = w.image ?? "";
    const kind = image.includes("httpbin") ? "httpbin" : image.includes("fake-service") ? "fake-service" : "other";
    workloads[w.ref] = { sidecar: w.sidecar, kind, container: w.container, controller: w.kind.toLowerCase(), listenerStats: w.deploy };
    for (const s of w.services) services[`${s.name}.${w.namespace}`] = w.ref;
  }
  const outcomes = Object.fromEntries(plan.expectations.map((e) => [`${e.from} ${e.host}:${e.port}`, e.expect as ClusterOutcome]));
  const peerAuthentications = policiesAt(rollout, plan.stage);
  const { peerauthentications: _, ...lists } = clusterOf(rollout, null);
  const chainCalls = plan.calls
    .filter((c) => c.expect !== "refused")
    .map((c) => ({ from: c.from, to: c.to, policy: c.expect === "mtls" ? ("mutual_tls" as const) : ("none" as const) }));
  return { workloads, services, outcomes, chain, peerAuthentications, lists, chainCalls };
}

const TEMPLATE = recorded("prom-dest-mtls-http-15020-sleep-httpbin.txt").trim();

/** A recorded destination-side Istio series (`template`), made this server's count of this source by this policy. */
export function series(server: string, source: string, policy: string, value: number, template = TEMPLATE): string {
  const [sns, sname] = source.split("/");
  const [dns, dname] = server.split("/");
  return template
    .replace(/source_workload="[^"]*"/, `source_workload="${sname}"`)
    .replace(/source_workload_namespace="[^"]*"/, `source_workload_namespace="${sns}"`)
    .replace(/destination_workload="[^"]*"/, `destination_workload="${dname}"`)
    .replace(/destination_workload_namespace="[^"]*"/, `destination_workload_namespace="${dns}"`)
    .replace(/connection_security_policy="[^"]*"/, `connection_security_policy="${policy}"`)
    .replace(/\} \d+$/, `} ${value}`);
}

const result = (exitCode: number, stdout: string, stderr = ""): RunResult => ({ exitCode, stdout, stderr, timedOut: false });

/** The counter keys of a client sidecar's outbound connections: `#cx|host:port|total` and `#cx|host:port|connect_fail`. */
const CONNECTS = "#cx|";

/** The counter key of connections a server's sidecar refused (no filter chain matched). */
const REFUSED = "#refused";

/**
 * Verifier options for a cluster that answers at once: no settling, short call deadlines, and rounds 100 ms apart
 * (on the fake clock, test/support/fakeClock.ts, the pause between rounds is what moves time towards the deadline).
 */
export function fakeVerifyOptions(over: Partial<VerifyOptions> = {}): VerifyOptions {
  return {
    requiredStreak: 1,
    timeoutMs: 10_000,
    concurrency: 4,
    roundIntervalMs: 100,
    settleMs: 0,
    timing: { curlMaxTimeSeconds: 5, callTimeoutMs: 2_000 },
    ...over,
  };
}

/** The kubectl seam answered from `state`, its sidecar counters kept across calls; `onCall` sees every call. */
export function fakeRunner(state: ClusterState, onCall: (args: string[]) => void = () => {}): KubectlRunner {
  const counters: Counters = {};
  return async (args) => {
    onCall(args);
    return answerKubectl(args, state, counters);
  };
}

/**
 * The workload a kubectl target names: `deployment/NAME` and its kin, or `pod/NAME` of one of its pods (as
 * test/support/labCluster.ts names them: the workload's name, a dash, a suffix).
 */
export function refOfTarget(state: Pick<ClusterState, "workloads">, namespace: string, target: string): string {
  const name = target.slice(target.indexOf("/") + 1);
  if (!target.startsWith("pod/")) return `${namespace}/${name}`;
  const owners = Object.keys(state.workloads).filter((ref) => ref.startsWith(`${namespace}/`) && name.startsWith(`${ref.split("/")[1]}-`));
  return owners.sort((a, b) => b.length - a.length)[0] ?? `${namespace}/${name}`;
}

/**
 * What a client sidecar's `stats?filter=` read answers: the two connection counters of the outbound cluster the filter
 * names (`^cluster\.outbound\|PORT\|\|HOST\.svc\.…`), which Envoy reports from 0; `count` gives them by `host:port`.
 */
export function clusterStatsText(filter: string, count: (hostPort: string, stat: "total" | "connect_fail") => number): string {
  const named = /\\\|(\d+)\\\|\\\|(.+?)\\\.svc\\\./.exec(filter);
  if (!named) return "";
  const [port, host] = [named[1], named[2].replace(/\\\./g, ".")];
  const line = (stat: "total" | "connect_fail") =>
    `cluster.outbound|${port}||${host}.svc.cluster.local.upstream_cx_${stat}: ${count(`${host}:${port}`, stat)}`;
  return `${line("connect_fail")}\n${line("total")}\n`;
}

/** The first (by name) of a workload's pods that runs a sidecar, among the pods `kubectl get pods` lists. */
function firstSidecarPod(state: ClusterState, ref: string): string | undefined {
  const [namespace, name] = ref.split("/");
  type Pod = { metadata: { name: string; namespace: string }; spec: { containers: { name: string }[] } };
  return ((state.lists.pods ?? []) as unknown as Pod[])
    .filter((p) => p.metadata.namespace === namespace && p.metadata.name.startsWith(`${name}-`))
    .filter((p) => p.spec.containers.some((c) => c.name === "istio-proxy"))
    .map((p) => p.metadata.name)
    .sort()[0];
}

/** kubectl's answer to `args` in `state`; counters change as a real sidecar's would. */
export function answerKubectl(argv: string[], state: ClusterState, counters: Counters): RunResult {
  const args = argv[0] === "--context" ? argv.slice(2) : argv;
  if (args[0] === "get" && args[args.length - 1] === "json") {
    const answer = answerFromLists(args, (list) =>
      list === "peerauthentications" ? (state.peerAuthentications as { metadata?: { name?: string } }[]) : state.lists[list],
    );
    return result(answer.exitCode, answer.stdout, answer.stderr);
  }
  if (args.join(" ") === "config current-context") return result(0, "kind-mtls-lab\n");
  // The setup checks: what `kubectl api-resources -o name`, `auth can-i` and `get KIND/NAME -o name` print.
  if (args.join(" ") === "api-resources --api-group=security.istio.io -o name") {
    const kinds = ["authorizationpolicies", "peerauthentications", "requestauthentications"];
    return result(0, state.noIstioApi ? "" : kinds.map((k) => `${k}.security.istio.io\n`).join(""));
  }
  if (args[0] === "auth" && args[1] === "can-i") {
    const ns = args[args.indexOf("--namespace") + 1];
    return (state.execDenied ?? []).includes(ns) ? result(1, "no\n") : result(0, "yes\n");
  }
  if (args[0] === "get" && args[args.length - 1] === "name") {
    const [kind, name] = args[1].split("/");
    const ns = args[args.indexOf("--namespace") + 1];
    const w = state.workloads[`${ns}/${name}`];
    if (!w || w.controller !== kind) return result(1, "", `Error from server (NotFound): ${kind}s.apps "${name}" not found\n`);
    return result(0, `${kind}.apps/${name}\n`);
  }
  if (args[0] === "logs") {
    // The sidecar's access log: a line of Istio's default format for every connection it refused (recorded line, repeated).
    const [, , namespace, target] = args;
    const ref = refOfTarget(state, namespace, target);
    if (target.startsWith("pod/") && target.slice(4) !== firstSidecarPod(state, ref)) return result(0, "");
    const line = recorded("envoy-access-log-nr-filter-chain-not-found-istioinaction.txt").split("\n")[0];
    const refused = counters[ref]?.[REFUSED] ?? 0;
    return result(0, state.noAccessLog ? "" : Array.from({ length: refused }, () => `${line}\n`).join(""));
  }
  const [verb, nsFlag, namespace, target, cFlag, container, dashes, ...command] = args;
  if (
    verb !== "exec" ||
    nsFlag !== "-n" ||
    cFlag !== "-c" ||
    dashes !== "--" ||
    !/^(deployment|statefulset|daemonset|pod)\//.test(target ?? "")
  ) {
    return result(1, "", `error: unexpected kubectl call: ${args.join(" ")}\n`);
  }
  const ref = refOfTarget(state, namespace, target);
  const workload = state.workloads[ref];
  // kubectl looks the object up by its kind: a Deployment is not found as statefulset/NAME.
  if (!workload || (!target.startsWith("pod/") && workload.controller !== target.slice(0, target.indexOf("/"))))
    return result(1, "", recorded("kubectl-deployment-notfound-get.txt").replace(/"[^"]+"/, `"${ref.split("/")[1]}"`));
  if (container !== workload.container && !(container === "istio-proxy" && workload.sidecar)) {
    return result(1, "", `error: unable to upgrade connection: container not found ("${container}")\n`);
  }

  // A client sidecar's outbound cluster connection counters (Envoy's cluster stats, filtered as the verifier asks).
  if (command[0] === "pilot-agent" && command[3].startsWith("stats?filter=")) {
    return result(
      0,
      clusterStatsText(command[3], (hostPort, stat) => counters[ref]?.[`${CONNECTS}${hostPort}|${stat}`] ?? 0),
    );
  }
  // A probe lands on the workload's first pod with a sidecar: the others count nothing.
  if (command[0] === "pilot-agent" && target.startsWith("pod/") && target.slice(4) !== firstSidecarPod(state, ref)) {
    return command[3] === "stats"
      ? result(
          0,
          workload.listenerStats
            ? `${recorded("envoy-stats-listener-15006-before-istio-workshop.txt")}${recorded("envoy-stats-tls-inspector-before-istio-workshop.txt")}`
            : recorded("envoy-stats-tls-inspector-before-istio-workshop.txt"),
        )
      : result(0, "# TYPE istio_requests_total counter\n");
  }
  if (command[0] === "pilot-agent" && command[3] === "stats") {
    const before = recorded("envoy-stats-tls-inspector-before-istio-workshop.txt");
    const after = recorded("envoy-stats-tls-inspector-after-plaintext-istio-workshop.txt");
    const tls = (state.backgroundPlaintext ?? []).some((b) => b.to === ref) && counters[ref] ? after : before;
    // The inbound listener's counters, as recorded, with the connections it refused so far.
    const listener = recorded("envoy-stats-listener-15006-before-istio-workshop.txt").replace(
      /no_filter_chain_match: 0/,
      `no_filter_chain_match: ${counters[ref]?.[REFUSED] ?? 0}`,
    );
    return result(0, workload.listenerStats ? `${listener}${tls}` : tls);
  }
  if (command[0] === "pilot-agent") {
    for (const b of (state.backgroundPlaintext ?? []).filter((x) => x.to === ref)) {
      const key = `${b.from}|none`;
      counters[ref] = { ...counters[ref], [key]: (counters[ref]?.[key] ?? 0) + 1 };
    }
    for (const t of (state.traffic ?? []).filter((x) => x.to === ref)) {
      const key = `${t.from}|${t.policy}`;
      counters[ref] = { ...counters[ref], [key]: (counters[ref]?.[key] ?? 0) + 1 };
    }
    const lines = Object.entries(counters[ref] ?? {})
      .filter(([key]) => key !== REFUSED && !key.startsWith(CONNECTS))
      .map(([key, value]) => {
        const [source, policy] = key.split("|");
        return series(ref, source, policy, value);
      });
    return result(0, `# TYPE istio_requests_total counter\n${lines.join("\n")}\n`);
  }

  const url = new URL(command[command.length - 1]);
  const host = `${url.hostname}:${url.port || "80"}`; // URL drops the default port
  const outcome = state.outcomes[`${ref} ${host}`];
  const serverRef = state.services[url.hostname];
  const server = serverRef ? state.workloads[serverRef] : undefined;
  if (workload.sidecar && server && !server.sidecar && outcome) {
    // The client's sidecar opens a connection to the server; it fails where nothing listens.
    const bump = (stat: string) => {
      const key = `${CONNECTS}${host}|${stat}`;
      counters[ref] = { ...counters[ref], [key]: (counters[ref]?.[key] ?? 0) + 1 };
    };
    bump("total");
    if (outcome === "connection-refused" || outcome === "timeout") bump("connect_fail");
  }
  if (!outcome || !server || outcome === "dns-failure") {
    return result(6, "", recorded("curl-exit6-could-not-resolve-host.txt").replace(/host: \S+/, `host: ${url.hostname}`));
  }
  if (outcome === "timeout") return result(28, "", recorded("curl-exit28-operation-timed-out.txt") + terminated(28));
  if (outcome === "upstream-connect-error") return result(0, `${recorded("envoy-503-body-delayed-connect-error-111.txt")}\n503`);
  if (outcome === "app-reset") {
    if (server.sidecar && !(state.silentServers ?? []).includes(serverRef)) {
      const key = `${ref}|mutual_tls`;
      counters[serverRef] = { ...counters[serverRef], [key]: (counters[serverRef]?.[key] ?? 0) + 1 };
    }
    return result(0, `${recorded("envoy-503-body-connection-termination-strict-plaintext.txt")}\n503`);
  }
  if (outcome === "connection-refused") {
    // Through the client's sidecar the refused connect is Envoy's: it closes curl's connection without a byte.
    if (workload.sidecar && !server.sidecar) return result(52, "", recorded("curl-exit52-empty-reply.txt") + terminated(52));
    return result(7, "", recorded("curl-exit7-connection-refused-new-format.txt") + terminated(7));
  }
  if (outcome === "answered-then-reset") {
    return result(1, '{"partial":\n200', `${recorded("curl-exit56-reset-istio-io-snip.txt").split("\n")[0]}\n${terminated(56)}`);
  }
  const count = (key: string) => {
    if (key !== REFUSED && (state.silentServers ?? []).includes(serverRef)) return;
    counters[serverRef] = { ...counters[serverRef], [key]: (counters[serverRef]?.[key] ?? 0) + 1 };
  };
  if (outcome === "refused") {
    if (server.sidecar) count(REFUSED);
    if (workload.sidecar) return result(0, `${recorded("envoy-503-body-connection-termination-strict-plaintext.txt")}\n503`);
    return result(56, "", recorded("curl-exit56-reset-istio-io-snip.txt"));
  }
  if ((state.answeredWithoutSidecar ?? []).includes(serverRef)) {
    // A pod outside the mesh: the client's sidecar (auto mTLS reads its endpoint's tlsMode label) sends plaintext.
    if (server.kind === "server-first") return result(1, "", recorded("curl-exit1-http09-mysql-3306-crossbow.txt") + terminated(1));
    if (server.kind === "httpbin")
      return result(0, `${recorded("httpbin-kennethreitz-headers-plaintext-workshop-lab06.json").replace(/\n$/, "")}\n200`);
    return result(0, "ok\n200");
  }
  // The server's sidecar counts the connection: from this client, or from "unknown" when it has no sidecar to say who it is.
  if (server.sidecar) count(`${workload.sidecar ? ref : "unknown/unknown"}|${outcome === "mtls" ? "mutual_tls" : "none"}`);
  if (server.kind === "server-first") {
    return result(1, "", recorded("curl-exit1-http09-mysql-3306-crossbow.txt") + terminated(1));
  }
  // An application that reads curl's request, finds it is not its protocol, and closes without a byte.
  if (server.kind === "closes") return result(52, "", recorded("curl-exit52-empty-reply.txt") + terminated(52));
  let body = "ok";
  let status = 200;
  if (server.kind === "httpbin") {
    body = recorded(
      outcome === "mtls"
        ? "httpbin-kennethreitz-headers-xfcc-string-workshop-lab06.json"
        : "httpbin-kennethreitz-headers-plaintext-workshop-lab06.json",
    );
  } else if (server.kind === "fake-service") {
    // The app calls what it calls, and each callee's sidecar counts it.
    const called = (from: string) => {
      for (const c of (state.chainCalls ?? []).filter((x) => x.from === from)) {
        if (state.workloads[c.to]?.sidecar && state.chain === "ok") {
          const key = `${c.from}|${c.policy}`;
          counters[c.to] = { ...counters[c.to], [key]: (counters[c.to]?.[key] ?? 0) + 1 };
        }
        called(c.to);
      }
    };
    called(serverRef);
    body = recorded(
      state.chain === "ok" ? "fake-service-v0.7.8-web-api-success-nested.json" : "fake-service-v0.7.8-web-api-upstream-503.json",
    );
    status = state.chain === "ok" ? 200 : 500;
  }
  return result(0, `${body.replace(/\n$/, "")}\n${status}`);
}
