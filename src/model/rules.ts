/**
 * The guardrails: PeerAuthentication mistakes Istio silently ignores or misreads, as rules with a name,
 * an enforcement level and a message that says how to fix them. One implementation, called by the
 * plan, the `check` command, the Pulumi program and the CrossGuard policy pack.
 */
import { describeValue } from "./errors";
import { groupBy } from "./groupBy";
import { edgesTo } from "./expectations";
import { clientTlsOf } from "./rollout";
import type { BrokenCallAcknowledgement, FindingAcknowledgement, MeshWorkload, PeerAuthentication, Rollout } from "./rollout";
import type { ResolvedMode } from "./schema";
import { EffectiveWorkload, inIstioOrder, PolicyIndex, scopeOf, SelectorGroup } from "./semantics";
import { acknowledgementsInForceAt, findingAcknowledgementsAt, policiesInForceAt } from "./stages";
import { coverageOf, decidingPolicy } from "./coverage";
import type { ClientTlsIndex } from "./clientTls";

export type EnforcementLevel = "mandatory" | "advisory";

export const RULES = {
  "no-mtls-disable": "mandatory",
  "one-default-per-scope": "mandatory",
  "one-policy-per-workload": "mandatory",
  "no-selector-in-root-namespace": "mandatory",
  "port-level-needs-selector": "mandatory",
  "port-level-uses-target-ports": "mandatory",
  "selector-matches-a-workload": "mandatory",
  "declared-calls-keep-working": "mandatory",
  "namespace-disable-breaks-strict-workloads": "mandatory",
  "partial-sidecar-not-strict": "mandatory",
  "client-tls-conflicts": "mandatory",
  "removed-without-retire": "mandatory",
  "adopts-an-owned-policy": "advisory",
  "stage-order": "advisory",
  "strict-protects-a-sidecar": "advisory",
  "last-stage-leaves-ports-open": "advisory",
} as const satisfies Record<string, EnforcementLevel>;

export type RuleName = keyof typeof RULES;

export interface Violation {
  rule: RuleName;
  level: EnforcementLevel;
  stage: string;
  /** `namespace/name` of the policy or workload, or `from -> to` for a call. */
  resource: string;
  message: string;
  /** The rollout file accepts this one, for this reason: reported, but it does not fail. */
  acknowledged?: string;
}

/** What one stage is: the policies in force and the workloads they apply to. */
export interface StageFacts<W extends MeshWorkload = MeshWorkload> {
  stage: string;
  meshRootNamespace: string;
  policies: readonly PeerAuthentication[];
  workloads: readonly W[];
  acknowledgeBrokenCalls: readonly BrokenCallAcknowledgement[];
  /** Findings the stage accepts (the cluster as found), by rule and resource. */
  acknowledgeFindings?: readonly FindingAcknowledgement[];
  /** What clients' sidecars send (the cluster's DestinationRules, the mesh's auto mTLS); none and on when absent. */
  clientTls?: ClientTlsIndex;
  /** Every workload of the mesh, where `workloads` is part of it: the clients a DestinationRule may apply to. */
  allWorkloads?: readonly MeshWorkload[];
}

const id = (pa: { namespace: string; name: string }) => `${pa.namespace}/${pa.name}`;

function violation(rule: RuleName, stage: string, resource: string, message: string, acknowledged?: string): Violation {
  return { rule, level: RULES[rule], stage, resource, message, ...(acknowledged ? { acknowledged } : {}) };
}

/** A violation that fails: mandatory and not acknowledged. */
export const isBlocking = (v: Violation) => v.level === "mandatory" && v.acknowledged === undefined;

/** Rules 1 to 7 (and one-policy-per-workload) on the policies in force at one stage. */
export function checkStage(facts: StageFacts): Violation[] {
  return evaluateStage(facts).violations;
}

/** The rules' findings at one stage, with the index and effective modes they were found with. */
export function evaluateStage<W extends MeshWorkload>(
  facts: StageFacts<W>,
): { violations: Violation[]; index: PolicyIndex; effective: EffectiveWorkload<W>[] } {
  const { stage, meshRootNamespace, workloads } = facts;
  const policies = inIstioOrder(facts.policies);
  const out: Violation[] = [];

  for (const pa of policies) {
    const disabledPorts = Object.entries(pa.portLevelMtls ?? {})
      .filter(([, mode]) => mode === "DISABLE")
      .map(([port]) => port);
    if (pa.mode === "DISABLE" || disabledPorts.length > 0) {
      const where = [
        pa.mode === "DISABLE" ? "mode DISABLE" : "",
        disabledPorts.length ? `port-level DISABLE on ${disabledPorts.join(", ")}` : "",
      ]
        .filter(Boolean)
        .join(" and ");
      out.push(
        violation(
          "no-mtls-disable",
          stage,
          id(pa),
          `${id(pa)} sets ${where}, which switches mTLS off; use PERMISSIVE, or add allowDisable: "<reason>" to the policy to accept it`,
          pa.allowDisable,
        ),
      );
    }
  }

  // Rule 2: one selector-less policy per namespace (the mesh's in the root namespace), named default.
  const wide = groupBy(
    policies.filter((p) => p.selector === null),
    (p) => p.namespace,
  );

  for (const [namespace, list] of wide) {
    const scope = namespace === meshRootNamespace ? "mesh" : "namespace";
    list
      .slice(1)
      .forEach((pa) =>
        out.push(
          violation(
            "one-default-per-scope",
            stage,
            id(pa),
            `${id(pa)} is a second ${scope}-wide PeerAuthentication besides ${id(list[0])}; Istio ignores the newer one, so merge them into one policy named "default"`,
          ),
        ),
      );
    // An adopted policy keeps the name it was created with: renaming it would mean deleting it first.
    if (list.length === 1 && list[0].name !== "default" && !list[0].existing) {
      out.push(
        violation(
          "one-default-per-scope",
          stage,
          id(list[0]),
          `${id(list[0])} is ${scope}-wide but not named "default"; rename it to default, so a second one cannot slip in beside it`,
        ),
      );
    }
  }

  const index = new PolicyIndex(policies, meshRootNamespace, stage);
  if (facts.clientTls) index.clientTls = facts.clientTls;
  // Which workloads each selector picks, through the index: one pass over the workloads, not one per policy.
  const selectedBy = new Map<SelectorGroup, MeshWorkload[]>();
  for (const w of workloads) {
    for (const g of index.workloadPolicies.groupsSelecting(w.namespace, w.podLabels)) {
      const list = selectedBy.get(g);
      if (list) list.push(w);
      else selectedBy.set(g, [w]);
    }
  }

  for (const pa of policies) {
    const scope = scopeOf(pa, meshRootNamespace);
    if (scope === "ignored") {
      out.push(
        violation(
          "no-selector-in-root-namespace",
          stage,
          id(pa),
          `${id(pa)} has a selector in the mesh root namespace ${describeValue(meshRootNamespace)}, where Istio ignores selector policies; move it to the workloads' namespace`,
        ),
      );
      continue;
    }
    if (pa.portLevelMtls && Object.keys(pa.portLevelMtls).length > 0 && pa.selector === null) {
      out.push(
        violation(
          "port-level-needs-selector",
          stage,
          id(pa),
          `${id(pa)} has portLevelMtls without a selector, which Istio rejects; add a selector for the workloads whose ports these are`,
        ),
      );
    }
    if (scope !== "workload") continue;
    const group = index.workloadPolicies.groupOf(pa);
    const selected = (group && selectedBy.get(group)) ?? [];
    if (selected.length === 0) {
      out.push(
        violation(
          "selector-matches-a-workload",
          stage,
          id(pa),
          `${id(pa)} selects ${Object.entries(pa.selector!)
            .map(([k, v]) => `${k}=${v}`)
            .join(",")}, which matches no declared workload in ${pa.namespace}; fix the selector (a typo applies nothing)`,
        ),
      );
      continue;
    }
    const strict = pa.mode === "STRICT" || Object.values(pa.portLevelMtls ?? {}).includes("STRICT");
    if (strict && selected.every((w) => !w.sidecar)) {
      out.push(
        violation(
          "strict-protects-a-sidecar",
          stage,
          id(pa),
          `${id(pa)} is STRICT, but what it selects (${selected.map((w) => w.ref).join(", ")}) runs no sidecar, so it protects nothing: plaintext still reaches it; inject the sidecar, or drop the policy`,
        ),
      );
    }
    for (const port of Object.keys(pa.portLevelMtls ?? {}).map(Number)) {
      const targetPorts = new Set(selected.flatMap((w) => w.containerPorts));
      if (targetPorts.has(port)) continue;
      const asServicePort = selected.flatMap((w) =>
        w.services
          .flatMap((s) => s.ports)
          .filter((p) => p.port === port)
          .map((p) => ({ w, p })),
      )[0];
      const hint = asServicePort
        ? `${port} is the Service port of ${asServicePort.w.ref}; its workload port is ${asServicePort.p.targetPort}, so key the entry by ${asServicePort.p.targetPort}`
        : `the selected workloads listen on ${[...targetPorts].join(", ") || "no declared port"}`;
      out.push(
        violation(
          "port-level-uses-target-ports",
          stage,
          id(pa),
          `${id(pa)} sets port ${port}, which is no workload port of what it selects: ${hint}`,
        ),
      );
    }
  }

  // Every policy that selects a workload an older policy selects, once (at the first such workload): a policy
  // that shares its selector with others is reported with them, without walking them again for every workload.
  const reported = new Set<PeerAuthentication>();
  const groupsReported = new Set<SelectorGroup>();
  const report = (pa: PeerAuthentication, w: MeshWorkload, first: PeerAuthentication) => {
    if (reported.has(pa)) return;
    reported.add(pa);
    out.push(
      violation(
        "one-policy-per-workload",
        stage,
        id(pa),
        `${id(pa)} selects ${w.ref}, as ${id(first)} does; Istio applies only the older one, so merge them into one policy`,
      ),
    );
  };
  for (const w of workloads) {
    if (!w.sidecar) continue;
    const groups = index.workloadPolicies.groupsSelecting(w.namespace, w.podLabels);
    if (groups.length === 0) continue;
    const position = (g: SelectorGroup) => index.workloadPolicies.positionOf(g.policies[0]);
    const oldest = groups.reduce((a, b) => (position(b) < position(a) ? b : a));
    const first = oldest.policies[0];
    for (const g of groups) {
      if (!groupsReported.has(g)) {
        groupsReported.add(g);
        for (const pa of g.policies.slice(1)) report(pa, w, first);
      }
      if (g !== oldest) report(g.policies[0], w, first);
    }
  }

  const effective = workloads.map((w) => index.effective(w));

  // Rule 7: a namespace- or mesh-wide DISABLE turns auto mTLS off for the namespace's services. One finding per port,
  // so that accepting the port found STRICT on the cluster accepts no other a later stage makes STRICT.
  for (const e of effective) {
    if (index.serviceMode(e.workload.namespace) !== "DISABLE") continue;
    for (const [port, mode] of e.ports) {
      if (mode !== "STRICT") continue;
      out.push(
        violation(
          "namespace-disable-breaks-strict-workloads",
          stage,
          `${e.workload.ref}:${port}`,
          `${e.workload.ref} is STRICT on ${port}, but its namespace is DISABLE at namespace or mesh level, which turns auto mTLS off: clients with sidecars send plaintext and are refused; make the namespace PERMISSIVE or drop the STRICT`,
        ),
      );
    }
  }

  // A workload only some of whose pods run a sidecar: STRICT there refuses a plaintext client at some pods and not
  // at others, a connection at a time, and its pods without a sidecar answer a mesh client in plaintext.
  for (const e of effective) {
    if (!e.workload.partial) continue;
    const strictPorts = [...e.ports].filter(([, mode]) => mode === "STRICT").map(([port]) => port);
    // Its workload-wide mode counts too: a workload that declares no port still takes connections on its ports.
    if (strictPorts.length === 0 && e.mode !== "STRICT") continue;
    const controller = `${(e.workload.kind ?? "Deployment").toLowerCase()}/${e.workload.name}`;
    const where = strictPorts.length > 0 ? `on ${strictPorts.join(", ")}` : "(its workload-wide mode)";
    out.push(
      violation(
        "partial-sidecar-not-strict",
        stage,
        e.workload.ref,
        `${e.workload.ref} would be STRICT ${where}, but only some of its pods run a sidecar (sidecar: partial): plaintext clients would be refused by some pods and served by others. Restart it so that every pod gets the sidecar (kubectl rollout restart -n ${e.workload.namespace} ${controller}), then declare sidecar: true (discover reads it again)`,
      ),
    );
  }

  out.push(...clientTlsConflicts(stage, index.clientTls, effective, facts.allWorkloads));

  // Rule 6: declared traffic must keep working.
  const byRef = new Map(effective.map((e) => [e.workload.ref, e]));
  for (const client of workloads) {
    for (const to of client.calls) {
      const server = byRef.get(to);
      if (!server) continue;
      const refused = edgesTo(client, server, index).filter((edge) => edge.expect === "refused");
      if (refused.length === 0) continue;
      const ack = facts.acknowledgeBrokenCalls.find((a) => a.from === client.ref && a.to === to);
      out.push(
        violation(
          "declared-calls-keep-working",
          stage,
          `${client.ref} -> ${to}`,
          `${client.ref} calls ${to}, which this stage refuses (${refused[0].reason}); keep the call working, or acknowledge it in acknowledgeBrokenCalls with a reason`,
          ack?.reason,
        ),
      );
    }
  }
  const accepted = new Map((facts.acknowledgeFindings ?? []).map((a) => [`${a.rule} ${a.resource}`, a.reason]));
  const violations =
    accepted.size === 0
      ? out
      : out.map((v) => {
          const reason = v.acknowledged === undefined ? accepted.get(`${v.rule} ${v.resource}`) : undefined;
          return reason === undefined ? v : { ...v, acknowledged: reason };
        });
  return { violations, index, effective };
}

const STRENGTH: Record<ResolvedMode, number> = { DISABLE: 0, PERMISSIVE: 1, STRICT: 2 };

/**
 * An adopted policy another tool manages (Helm, Argo CD, Flux, another Pulumi stack), taken over without a reason:
 * advisory for `check` (the file holds the cluster as found), refused by the program before anything changes.
 */
export function ownedPoliciesAdopted(rollout: Rollout): Violation[] {
  const first = rollout.stages[0];
  if (!first) return [];
  return first.peerAuthentications
    .filter((p) => p.existing && p.managedBy !== undefined && p.takeOver === undefined)
    .map((p) =>
      violation(
        "adopts-an-owned-policy",
        first.name,
        id(p),
        `${id(p)} is managed by ${p.managedBy}: adopting it would fight that owner over it (each would put back its own spec); have that owner stop managing it, then add takeOver: "<reason>" to the policy, or leave it out of the rollout`,
      ),
    );
}

/** The namespace a finding is about: its policy's or workload's, or its call's callee's. */
export function namespaceOfFinding(v: Pick<Violation, "resource">): string {
  const subject = v.resource.includes(" -> ") ? v.resource.split(" -> ")[1] : v.resource;
  return subject.split("/")[0];
}

/** What a policy does, as text: two declarations with the same text are the same policy to the rules. */
const policyTexts = new WeakMap<PeerAuthentication, string>();
function policyText(p: PeerAuthentication): string {
  let text = policyTexts.get(p);
  if (text === undefined)
    policyTexts.set(p, (text = JSON.stringify([p.selector, p.mode, p.portLevelMtls ?? null, p.allowDisable ?? null, p.existing ?? false])));
  return text;
}

/**
 * Every stage of a rollout, plus stage-order (a stage that loosens what an earlier stage tightened) and, at the end,
 * last-stage-leaves-ports-open. A stage is evaluated on what it changes: a namespace's findings and modes depend on
 * its own policies, the mesh root's and the calls into it (src/model/semantics.ts: a workload's mode is mesh, then
 * namespace, then workload; a call's outcome is its server's), so where the root's policies and the acknowledgements
 * are those of the stage before, only the namespaces whose policies changed are evaluated again, with the callers
 * into them; the others keep their findings. The same findings as evaluating every stage whole, in one order: by
 * namespace, as the rollout first names them.
 */
export function checkRollout(rollout: Rollout): Violation[] {
  const out: Violation[] = [];
  const clientTls = clientTlsOf(rollout);
  const root = rollout.meshRootNamespace;
  const byNamespace = groupBy(rollout.workloads, (w) => w.namespace);
  const callersInto = new Map<string, Set<Rollout["workloads"][number]>>();
  for (const w of rollout.workloads) {
    for (const to of w.calls) {
      const ns = to.split("/")[0];
      callersInto.set(ns, (callersInto.get(ns) ?? new Set()).add(w));
    }
  }
  const namespaceOrder = new Map<string, number>();
  const place = (ns: string) => {
    if (!namespaceOrder.has(ns)) namespaceOrder.set(ns, namespaceOrder.size);
    return namespaceOrder.get(ns)!;
  };
  place(root);
  rollout.namespaces.forEach((n) => place(n.name));
  rollout.workloads.forEach((w) => place(w.namespace));

  let findings = new Map<string, Violation[]>();
  const effective = new Map<string, EffectiveWorkload<Rollout["workloads"][number]>>();
  // The policies in force, kept from stage to stage as policiesInForceAt computes them (a later declaration replaces
  // an earlier one in its place; adoption belongs to the object), by namespace too.
  const inForce = new Map<string, PeerAuthentication>();
  const inNamespace = new Map<string, Map<string, PeerAuthentication>>();
  const everAdopted = new Set<string>();
  rollout.stages.forEach((stage, i) => {
    const changed = new Set<string>();
    for (const r of stage.retire ?? []) {
      const id = `${r.namespace}/${r.name}`;
      if (inForce.delete(id)) changed.add(r.namespace);
      inNamespace.get(r.namespace)?.delete(id);
    }
    for (const declared of stage.peerAuthentications) {
      const id = `${declared.namespace}/${declared.name}`;
      const was = inForce.get(id);
      if (declared.existing) everAdopted.add(id);
      const policy = everAdopted.has(id) && !declared.existing ? { ...declared, existing: true as const } : declared;
      if (!was || policyText(was) !== policyText(policy)) changed.add(policy.namespace);
      inForce.set(id, policy);
      let ns = inNamespace.get(policy.namespace);
      if (!ns) inNamespace.set(policy.namespace, (ns = new Map()));
      ns.set(id, policy);
    }
    const acknowledgeBrokenCalls = acknowledgementsInForceAt(rollout, i);
    const acknowledgeFindings = findingAcknowledgementsAt(rollout, i);
    // The first stage, one that changes the mesh root's policies or what is acknowledged: every namespace again.
    const whole = i === 0 || changed.has(root) || stage.acknowledgeBrokenCalls.length > 0 || (stage.acknowledgeFindings ?? []).length > 0;
    const policies = whole ? [...inForce.values()] : [root, ...changed].flatMap((ns) => [...(inNamespace.get(ns)?.values() ?? [])]);
    const evaluated = evaluateStage({
      stage: stage.name,
      meshRootNamespace: root,
      policies,
      workloads: whole
        ? rollout.workloads
        : [...new Set([...changed].flatMap((ns) => [...(byNamespace.get(ns) ?? []), ...(callersInto.get(ns) ?? [])]))],
      acknowledgeBrokenCalls,
      acknowledgeFindings,
      clientTls,
      allWorkloads: rollout.workloads,
    });
    const fresh = groupBy(
      evaluated.violations.filter((v) => whole || changed.has(namespaceOfFinding(v))),
      (v) => namespaceOfFinding(v),
    );
    // A namespace not evaluated again keeps its findings, at this stage.
    const next = new Map<string, Violation[]>();
    if (!whole)
      for (const [ns, list] of findings)
        if (!changed.has(ns))
          next.set(
            ns,
            list.map((v) => ({ ...v, stage: stage.name })),
          );
    for (const [ns, list] of fresh) next.set(ns, list);
    findings = next;
    for (const ns of [...findings.keys()].sort((a, b) => place(a) - place(b))) out.push(...findings.get(ns)!);

    for (const e of evaluated.effective) {
      if (!whole && !changed.has(e.workload.namespace)) continue;
      const before = effective.get(e.workload.ref);
      if (before && i > 0) {
        for (const [port, mode] of e.ports) {
          const was = before.ports.get(port);
          if (was && STRENGTH[mode] < STRENGTH[was]) {
            const key = `${e.workload.ref}:${port}`;
            out.push(
              violation(
                "stage-order",
                stage.name,
                key,
                `${key} goes from ${was} at stage ${describeValue(rollout.stages[i - 1].name)} to ${mode}: this stage loosens what an earlier one tightened; reorder the stages if that is not meant`,
              ),
            );
          }
        }
      }
      effective.set(e.workload.ref, e);
    }
  });
  out.push(...ownedPoliciesAdopted(rollout));
  // Where the rollout ends: a port of a workload with a sidecar left open is a choice a reviewer should see made.
  if (rollout.stages.length > 0) {
    const last = rollout.stages[rollout.stages.length - 1].name;
    // A port kept open on purpose is accepted by name (`namespace/workload:port`), with the reason, and not counted.
    const meant = new Set(
      findingAcknowledgementsAt(rollout, rollout.stages.length - 1)
        .filter((a) => a.rule === "last-stage-leaves-ports-open")
        .map((a) => a.resource),
    );
    const open = coverageOf(rollout.workloads.map((w) => effective.get(w.ref)!)).open.filter((p) => !meant.has(`${p.workload}:${p.port}`));
    if (open.length > 0) {
      const shown = open.slice(0, 5).map((p) => `${p.workload}:${p.port} (${p.mode}, ${p.keptBy ?? "no policy"})`);
      out.push(
        violation(
          "last-stage-leaves-ports-open",
          last,
          open[0].workload,
          `the last stage leaves ${open.length} port${open.length === 1 ? "" : "s"} of workloads with a sidecar open: ${shown.join(", ")}${open.length > shown.length ? `, and ${open.length - shown.length} more` : ""}; add a stage that makes them STRICT, or accept each you mean in acknowledgeFindings (rule last-stage-leaves-ports-open, resource namespace/workload:port) with the reason`,
        ),
      );
    }
  }
  return out;
}

/**
 * Client-side TLS against what the servers accept: a DestinationRule that sends plaintext or a TLS of its own to a
 * STRICT port, or Istio mTLS to a workload without a sidecar, and auto mTLS turned off towards a STRICT port, break
 * every call their clients make (the retired analyzers IST0113 and IST0115 of istio/istio, and `istioctl authn
 * tls-check`, reported these). Each client namespace a rule can treat differently is asked once: those with
 * rules, those rules export to by name, the server's own, and one other that stands for the rest.
 */
export function clientTlsConflicts<W extends MeshWorkload>(
  stage: string,
  tls: ClientTlsIndex,
  effective: readonly EffectiveWorkload<W>[],
  /** Every workload that may be a client (the whole mesh, where `effective` is part of it). */
  clientWorkloads: readonly MeshWorkload[] = effective.map((e) => e.workload),
): Violation[] {
  if (tls.rules.length === 0 && tls.enableAutoMtls) return [];
  const out: Violation[] = [];
  const seen = new Set<string>();
  const clientNamespaces = [...new Set(clientWorkloads.filter((w) => w.sidecar).map((w) => w.namespace))].sort();
  // Clients a selector rule treats apart: the pods it selects in its namespace.
  const selected = tls
    .selectorRules()
    .flatMap((r) =>
      clientWorkloads.filter(
        (w) => w.sidecar && w.namespace === r.namespace && Object.entries(r.workloadSelector!).every(([k, v]) => w.podLabels[k] === v),
      ),
    )
    .map((w) => ({ namespace: w.namespace, podLabels: w.podLabels, who: w.ref }));
  for (const e of effective) {
    const w = e.workload;
    if (w.services.length === 0) continue;
    const withoutSidecar = e.mode === null || w.partial === true;
    for (const service of w.services) {
      // The namespaces a lookup for this Service can tell apart, and one that stands for every other.
      const apart = tls.namespacesThatMatterFor({ name: service.name, namespace: w.namespace });
      const standIn = clientNamespaces.find((ns) => ns !== w.namespace && !apart.has(ns));
      const clients = [
        ...clientNamespaces
          .filter((ns) => ns === w.namespace || ns === standIn || apart.has(ns))
          .map((ns) => ({ namespace: ns, podLabels: {} as Record<string, string>, who: `clients in ${ns}` })),
        ...selected,
      ];
      for (const p of service.ports) {
        const portMode = e.mode === null ? null : (e.ports.get(p.targetPort) ?? e.mode);
        if (portMode !== "STRICT" && portMode !== "DISABLE" && !withoutSidecar) continue;
        const target = `${w.ref}:${p.targetPort}`;
        const strictBy = portMode === "STRICT" ? decidingPolicy(e.appliedPolicies, p.targetPort) : undefined;
        const strictText = `${target} is STRICT${strictBy ? ` (PeerAuthentication ${strictBy.namespace}/${strictBy.name})` : ""}`;
        for (const client of clients) {
          for (const subset of [undefined, ...tls.subsetsFor(client, { name: service.name, namespace: w.namespace })]) {
            const setting = tls.settingFor(client, { name: service.name, namespace: w.namespace }, p.port, subset);
            const host = `${service.name}.${w.namespace}:${p.port}${subset !== undefined ? ` (subset ${subset})` : ""}`;
            // Named by the workload port it breaks: an acceptance at one stage covers that port, not a new one later.
            const report = (cause: string, message: string) => {
              const resource = target;
              const key = `${cause} ${resource} ${host}`;
              if (seen.has(key)) return;
              seen.add(key);
              out.push(violation("client-tls-conflicts", stage, resource, message));
            };
            if (!setting) {
              if (portMode === "STRICT" && !tls.enableAutoMtls)
                report(
                  w.ref,
                  `the mesh config turns auto mTLS off (enableAutoMtls: false) and no DestinationRule sends ISTIO_MUTUAL to ${host} for ${client.who}, but ${strictText}: their sidecars send plaintext, which it refuses; add a DestinationRule with tls ISTIO_MUTUAL for the host, or keep the port PERMISSIVE`,
                );
              continue;
            }
            const rule = `${setting.rule.namespace}/${setting.rule.name}`;
            if (portMode === "STRICT" && setting.mode !== "ISTIO_MUTUAL") {
              const what = setting.mode === "DISABLE" ? "plaintext (tls DISABLE)" : `its own TLS (${setting.mode})`;
              report(
                rule,
                `DestinationRule ${rule} sends ${what} to ${host} for ${client.who}, but ${strictText}: every such call is refused (503); set its tls to ISTIO_MUTUAL or remove it (auto mTLS), or keep the port PERMISSIVE`,
              );
            }
            if (withoutSidecar && setting.mode === "ISTIO_MUTUAL") {
              report(
                rule,
                `DestinationRule ${rule} sends Istio mTLS (ISTIO_MUTUAL) to ${host} for ${client.who}, but ${w.ref} ${e.mode === null ? "runs no sidecar" : "runs pods without a sidecar"}: the application gets a TLS handshake and the call fails; remove its tls (auto mTLS sends plaintext there), or inject the sidecar`,
              );
            } else if (portMode === "DISABLE" && setting.mode === "ISTIO_MUTUAL") {
              // A DISABLE port's sidecar does not terminate mTLS (TestInbound: TLS bytes reach the application).
              report(
                rule,
                `DestinationRule ${rule} sends Istio mTLS (ISTIO_MUTUAL) to ${host} for ${client.who}, but ${target} is DISABLE: its sidecar passes the handshake to the application and the call fails; remove its tls (auto mTLS sends plaintext to a DISABLE port), or drop the DISABLE`,
              );
            }
          }
        }
      }
    }
  }
  return out;
}

/**
 * A policy this version of the rollout no longer has in force at a stage where the previous version had it, without
 * retiring it: Pulumi deletes a resource the program stops declaring only after the whole program ran, after the
 * stage's verification, which then fails on the policy still there, and the delete never runs (issue 21). Retiring
 * it (`retire:`) makes the removal an update of the same object, verified in the same `up`.
 */
export function removedWithoutRetire(previous: Rollout, current: Rollout, runningStage?: string): Violation[] {
  const out: Violation[] = [];
  const idsAt = (r: Rollout, i: number) => new Set(policiesInForceAt(r, i).map((p) => `${p.policy.namespace}/${p.policy.name}`));
  const retired = new Set<string>();
  const declaredAnywhere = new Set(current.stages.flatMap((st) => st.peerAuthentications.map((p) => `${p.namespace}/${p.name}`)));
  const reported = new Set<string>();
  // A stack runs the stages up to the one it is at: a later stage's policies are dormant there, and may go.
  const upTo = runningStage === undefined ? previous.stages.length - 1 : previous.stages.findIndex((st) => st.name === runningStage);
  current.stages.forEach((stage, i) => {
    for (const r of stage.retire) retired.add(`${r.namespace}/${r.name}`);
    const before = previous.stages.findIndex((st) => st.name === stage.name);
    if (before < 0 || before > upTo) return;
    const now = idsAt(current, i);
    for (const id of idsAt(previous, before)) {
      if (now.has(id) || retired.has(id) || reported.has(id)) continue;
      reported.add(id);
      out.push(
        violation(
          "removed-without-retire",
          stage.name,
          id,
          `${id} was in force at stage ${describeValue(stage.name)} in the previous version of the rollout, and is ${declaredAnywhere.has(id) ? "not now" : "gone"}: a stack already running it would delete it only after the verification, which then fails and wedges the stack; retire it in a stage (retire: [{ namespace: ${id.split("/")[0]}, name: ${id.split("/")[1]} }]) instead of dropping it`,
        ),
      );
    }
  });
  return out;
}
