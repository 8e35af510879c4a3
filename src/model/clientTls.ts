/**
 * What a client's sidecar sends to a Service port: the TLS of the DestinationRule that applies, else auto mTLS.
 * PeerAuthentication says what a sidecar accepts; DestinationRule says what a sidecar sends. Pure.
 *
 * What it follows (istio/istio 1.29 to 1.32; test/fixtures/SOURCES.md, "Client-side TLS"):
 * - Which rule (pilot/pkg/model/push_context.go, `setDestinationRules`, `destinationRule`): the client's namespace
 *   first, then the Service's namespace, then the mesh root, the first that has a rule for the host winning; in
 *   each, the most specific host (`MostSpecificHostMatch`: exact, else the longest wildcard); from the Service's
 *   namespace and the root only a rule exported to the client (`exportTo` empty, `*` or its namespace), the
 *   filter applied after the host is chosen. A rule in a fourth namespace never applies. A rule with a
 *   workloadSelector is private to its namespace and applies to the pods it selects there (pilot/pkg/model/
 *   sidecar.go, `SidecarScope.DestinationRule`); the last selector-less one is the catch-all.
 * - Rules for one host in one namespace merge (pilot/pkg/model/destination_rule.go, `mergeDestinationRule`):
 *   with the same exportTo, the older's trafficPolicy wins whole and subsets join by name, the older first.
 * - Which TLS (pilot/pkg/networking/util/util.go, `GetPortLevelTrafficPolicy`, `MergeSubsetTrafficPolicy`): a
 *   portLevelSettings entry for the Service port replaces the top level whole (an entry without tls leaves TLS to
 *   auto mTLS); a subset's port entry, else its tls, else the rule's.
 * - Auto mTLS (pilot/pkg/networking/core/cluster_tls.go, `buildUpstreamTLSSettings`; pilot/pkg/xds/endpoints/
 *   mtls_checker.go): a rule's tls, whatever its mode, is sent as it is; without one, plaintext when the mesh
 *   config turns auto mTLS off or the Service's namespace (or the mesh) is DISABLE, else Istio mTLS to each
 *   endpoint whose pod carries `security.istio.io/tlsMode: istio` and whose port is not DISABLE, plaintext to
 *   the others.
 */

export const CLIENT_TLS_MODES = ["DISABLE", "SIMPLE", "MUTUAL", "ISTIO_MUTUAL"] as const;
export type ClientTlsMode = (typeof CLIENT_TLS_MODES)[number];

/** A trafficPolicy's TLS: its own, and its portLevelSettings' by Service port (null: an entry without tls). Plain data. */
export interface TlsPolicy {
  tls?: ClientTlsMode;
  ports: Record<string, ClientTlsMode | null>;
}

const has = (ports: Record<string, unknown>, port: number) => Object.prototype.hasOwnProperty.call(ports, String(port));

/** A DestinationRule as far as TLS goes: a fact of the cluster, which the stack never owns. */
export interface DestinationRule {
  name: string;
  namespace: string;
  /** As written: a short name (`reviews`), a FQDN, or a wildcard (`*.shop.svc.cluster.local`, `*.local`, `*`). */
  host: string;
  /** Empty: the mesh's default (everywhere, unless the mesh config says otherwise). */
  exportTo: string[];
  workloadSelector: Record<string, string> | null;
  /** Absent when the rule has no trafficPolicy (then an older rule's, merged, may hold). */
  trafficPolicy?: TlsPolicy;
  subsets: { name: string; trafficPolicy?: TlsPolicy }[];
  /** Where it was declared, for messages. */
  origin: string;
}

/** What the client's sidecar sends, and which rule (and subset) says so; none: auto mTLS decides. */
export interface ClientTlsSetting {
  mode: ClientTlsMode;
  rule: DestinationRule;
  subset?: string;
}

/** One entry of Istio's index: the rules merged into it, the older first. */
interface Entry {
  namespace: string;
  exportTo: Set<string>;
  selector: Record<string, string> | null;
  rules: DestinationRule[];
  trafficPolicy?: TlsPolicy;
  subsets: Map<string, TlsPolicy | undefined>;
}

type HostIndex = Map<string, Entry[]>;

const PRIVATE = ".";
const PUBLIC = "*";

/** `ResolveShortnameToFQDN`: a name without a dot is the rule's namespace's Service; any other is as written. */
export function ruleHost(host: string, namespace: string, domain: string): string {
  if (host === PUBLIC || host.includes(".")) return host;
  return `${host}.${namespace}.svc.${domain}`;
}

const sameSet = (a: Set<string>, b: Set<string>) => a.size === b.size && [...a].every((x) => b.has(x));
const sameLabels = (a: Record<string, string>, b: Record<string, string>) =>
  Object.keys(a).length === Object.keys(b).length && Object.entries(a).every(([k, v]) => b[k] === v);
const selects = (selector: Record<string, string>, labels: Record<string, string>) =>
  Object.entries(selector).every(([k, v]) => labels[k] === v);

/** `mergeDestinationRule`, as istiod indexes one rule for its host. */
function add(index: HostIndex, host: string, rule: DestinationRule, exportTo: Set<string>) {
  const list = index.get(host);
  const fresh = (): Entry => ({
    namespace: rule.namespace,
    exportTo,
    selector: rule.workloadSelector,
    rules: [rule],
    trafficPolicy: rule.trafficPolicy,
    subsets: new Map(rule.subsets.map((s) => [s.name, s.trafficPolicy])),
  });
  if (!list) {
    index.set(host, [fresh()]);
    return;
  }
  let separately = true;
  for (const e of list) {
    if (sameSet(exportTo, e.exportTo)) separately = false;
    else if (e.exportTo.size > 0 && [...e.exportTo].every((x) => exportTo.has(x))) separately = true;
    else {
      separately = true;
      continue;
    }
    if (rule.workloadSelector && e.selector && !sameLabels(rule.workloadSelector, e.selector)) {
      separately = true;
      continue;
    }
    if ((!rule.workloadSelector && !e.selector) || (rule.workloadSelector && e.selector)) separately = false;
    e.rules.push(rule);
    e.trafficPolicy ??= rule.trafficPolicy;
    for (const s of rule.subsets) if (!e.subsets.has(s.name)) e.subsets.set(s.name, s.trafficPolicy);
  }
  if (separately) list.push(fresh());
}

/** `MostSpecificHostMatch`: the exact host, else the longest wildcard that matches (ties by name). */
function mostSpecific(index: HostIndex | undefined, fqdn: string): Entry[] | undefined {
  if (!index) return undefined;
  const exact = index.get(fqdn);
  if (exact) return exact;
  let best: string | undefined;
  for (const h of index.keys()) {
    if (!h.startsWith("*")) continue;
    if (h !== PUBLIC && !fqdn.endsWith(h.slice(1))) continue;
    if (best === undefined || h.length > best.length || (h.length === best.length && h < best)) best = h;
  }
  return best === undefined ? undefined : index.get(best);
}

/** `GetPortLevelTrafficPolicy` then `MergeSubsetTrafficPolicy`: the TLS a cluster gets, undefined for auto. */
function tlsOf(entry: Entry, port: number, subset: string | undefined): ClientTlsMode | undefined {
  const top = entry.trafficPolicy;
  let tls = top && has(top.ports, port) ? (top.ports[String(port)] ?? undefined) : top?.tls;
  const sub = subset === undefined ? undefined : entry.subsets.get(subset);
  if (sub) {
    if (has(sub.ports, port)) tls = sub.ports[String(port)] ?? undefined;
    else if (sub.tls !== undefined) tls = sub.tls;
  }
  return tls;
}

export interface ClientTlsOptions {
  meshRootNamespace: string;
  /** The mesh config's `enableAutoMtls` (default true). */
  enableAutoMtls: boolean;
  /** The mesh config's `defaultDestinationRuleExportTo`; Istio honours only `.` and `*` there. */
  defaultExportTo?: string[];
  /** The cluster's DNS domain (`svc.cluster.local`). */
  domain?: string;
}

/** The cluster's DestinationRules, indexed the way istiod indexes them; the same for every stage. */
export class ClientTlsIndex {
  readonly enableAutoMtls: boolean;
  readonly domain: string;
  readonly meshRootNamespace: string;
  private readonly namespaceLocal = new Map<string, HostIndex>();
  private readonly exported = new Map<string, HostIndex>();
  private readonly rootLocal: HostIndex = new Map();
  /** Namespaces whose clients a lookup can tell apart: those with rules and those rules export to by name. */
  readonly namespacesThatMatter: Set<string>;
  /** Each rule's host (resolved) with its namespace and the namespaces it names in exportTo: who may see it apart. */
  private readonly hosts: { host: string; namespace: string; named: string[] }[] = [];

  constructor(
    /** In Istio's order: rules with a workloadSelector first, then the older first (as discover lists them). */
    readonly rules: readonly DestinationRule[],
    options: ClientTlsOptions,
  ) {
    this.enableAutoMtls = options.enableAutoMtls;
    this.domain = options.domain ?? "cluster.local";
    this.meshRootNamespace = options.meshRootNamespace;
    const defaultPrivate = (options.defaultExportTo ?? [PUBLIC]).includes(PRIVATE);
    this.namespacesThatMatter = new Set();
    for (const rule of rules) {
      this.namespacesThatMatter.add(rule.namespace);
      rule.exportTo.forEach((ns) => ns !== PRIVATE && ns !== PUBLIC && this.namespacesThatMatter.add(ns));
      const host = ruleHost(rule.host, rule.namespace, this.domain);
      this.hosts.push({ host, namespace: rule.namespace, named: rule.exportTo.filter((ns) => ns !== PRIVATE && ns !== PUBLIC) });
      const exportTo = rule.workloadSelector ? new Set([PRIVATE]) : new Set(rule.exportTo);
      const local = exportTo.size === 0 || exportTo.has(PUBLIC) || exportTo.has(PRIVATE) || exportTo.has(rule.namespace);
      if (local) add(this.indexOf(this.namespaceLocal, rule.namespace), host, rule, exportTo);
      const privateOnly =
        (exportTo.size === 0 && defaultPrivate) || (exportTo.size === 1 && (exportTo.has(PRIVATE) || exportTo.has(rule.namespace)));
      if (!privateOnly) add(this.indexOf(this.exported, rule.namespace), host, rule, exportTo);
      else if (rule.namespace === this.meshRootNamespace) add(this.rootLocal, host, rule, exportTo);
    }
  }

  private indexOf(map: Map<string, HostIndex>, namespace: string): HostIndex {
    let index = map.get(namespace);
    if (!index) map.set(namespace, (index = new Map()));
    return index;
  }

  /** The Service's FQDN, as clients reach it. */
  hostOf(service: string, namespace: string): string {
    return `${service}.${namespace}.svc.${this.domain}`;
  }

  /** The entry that applies to a client in `clientNamespace` with `clientLabels` calling `fqdn` in `serviceNamespace`. */
  private entryFor(
    clientNamespace: string,
    clientLabels: Record<string, string>,
    fqdn: string,
    serviceNamespace: string,
  ): Entry | undefined {
    let list = mostSpecific(clientNamespace === this.meshRootNamespace ? this.rootLocal : this.namespaceLocal.get(clientNamespace), fqdn);
    if (!list) {
      for (const ns of [serviceNamespace, this.meshRootNamespace]) {
        const found = mostSpecific(this.exported.get(ns), fqdn);
        const visible = found?.filter((e) => e.exportTo.size === 0 || e.exportTo.has(PUBLIC) || e.exportTo.has(clientNamespace));
        if (visible && visible.length > 0) {
          list = visible;
          break;
        }
      }
    }
    let catchAll: Entry | undefined;
    for (const e of list ?? []) {
      if (!e.selector) catchAll = e;
      else if (e.namespace === clientNamespace && selects(e.selector, clientLabels)) return e;
    }
    return catchAll;
  }

  /**
   * What a client's sidecar sends to `service.namespace:port` (the Service port) through its default route (no
   * subset) or through `subset`; undefined where no rule sets TLS, so auto mTLS decides.
   */
  settingFor(
    client: { namespace: string; podLabels: Record<string, string> },
    service: { name: string; namespace: string },
    port: number,
    subset?: string,
  ): ClientTlsSetting | undefined {
    if (this.rules.length === 0) return undefined;
    const entry = this.entryFor(client.namespace, client.podLabels, this.hostOf(service.name, service.namespace), service.namespace);
    if (!entry) return undefined;
    const mode = tlsOf(entry, port, subset);
    if (mode === undefined) return undefined;
    // The rule the setting came from: the older one merged in that has a trafficPolicy, or a subset of that name.
    const rule =
      subset !== undefined
        ? (entry.rules.find((r) => r.subsets.some((s) => s.name === subset)) ?? entry.rules[0])
        : (entry.rules.find((r) => r.trafficPolicy !== undefined) ?? entry.rules[0]);
    return { mode, rule, ...(subset !== undefined ? { subset } : {}) };
  }

  /** The subsets any rule declares for the Service: each is a route of its own where a VirtualService sends traffic. */
  subsetsFor(client: { namespace: string; podLabels: Record<string, string> }, service: { name: string; namespace: string }): string[] {
    if (this.rules.length === 0) return [];
    const entry = this.entryFor(client.namespace, client.podLabels, this.hostOf(service.name, service.namespace), service.namespace);
    return entry ? [...entry.subsets.keys()] : [];
  }

  /**
   * The client namespaces a lookup for `service` can answer differently for: those holding a rule whose host matches
   * it, and those such a rule exports to by name. Any other client namespace gets what the Service's namespace's and
   * the root's rules give everyone.
   */
  namespacesThatMatterFor(service: { name: string; namespace: string }): Set<string> {
    const fqdn = this.hostOf(service.name, service.namespace);
    const out = new Set<string>();
    for (const h of this.hosts) {
      const matches = h.host === fqdn || h.host === PUBLIC || (h.host.startsWith("*") && fqdn.endsWith(h.host.slice(1)));
      if (!matches) continue;
      out.add(h.namespace);
      for (const ns of h.named) out.add(ns);
    }
    return out;
  }

  /** Selector rules: the namespace and labels of the clients they apply to. */
  selectorRules(): DestinationRule[] {
    return this.rules.filter((r) => r.workloadSelector !== null);
  }
}

/** No DestinationRule, auto mTLS on: what the model assumed before it read any. */
export const noClientTls = (meshRootNamespace: string) => new ClientTlsIndex([], { meshRootNamespace, enableAutoMtls: true });
