/**
 * The cluster's DestinationRules as a rollout file holds them (facts the stack never owns), in Istio's order:
 * those with a workloadSelector first, then the older first, then by name, then by namespace
 * (pilot/pkg/model/push_context.go, `sortConfigBySelectorAndCreationTime`). Only what decides the TLS clients send
 * is kept; a rule a rollout file cannot hold is left out, with the reason.
 */
import { destinationRuleSchema } from "../model/schema";
import type { RolloutFile } from "../model/schema";
import type { DestinationRuleObject } from "./objects";

export type DestinationRuleFact = RolloutFile["destinationRules"][number];

type TrafficPolicyObject = NonNullable<NonNullable<DestinationRuleObject["spec"]>["trafficPolicy"]>;

function trafficPolicyFact(tp: TrafficPolicyObject | null | undefined): DestinationRuleFact["trafficPolicy"] {
  if (!tp) return undefined;
  const ports = (tp.portLevelSettings ?? []).flatMap((p) =>
    // An entry without a port number, or with one no Service port can have (the CRD takes any uint32), matches no port
    // (`GetPortLevelTrafficPolicy` compares numbers).
    p.port?.number && p.port.number <= 65535
      ? [{ port: { number: p.port.number }, ...(p.tls ? { tls: { mode: p.tls.mode ?? "DISABLE" } } : {}) }]
      : [],
  );
  return {
    ...(tp.tls ? { tls: { mode: tp.tls.mode ?? "DISABLE" } } : {}),
    ...(ports.length > 0 ? { portLevelSettings: ports } : {}),
  };
}

const order = (a: DestinationRuleObject, b: DestinationRuleObject) => {
  const sel = (o: DestinationRuleObject) => (o.spec?.workloadSelector ? 0 : 1);
  const created = (o: DestinationRuleObject) => Date.parse(o.metadata.creationTimestamp);
  const cmp = (x: string, y: string) => (x < y ? -1 : x > y ? 1 : 0);
  return (
    sel(a) - sel(b) || created(a) - created(b) || cmp(a.metadata.name, b.metadata.name) || cmp(a.metadata.namespace, b.metadata.namespace)
  );
};

/** The rules of `namespaces` (and of every namespace when undefined), as a rollout file holds them. */
export function destinationRuleFacts(
  objects: readonly DestinationRuleObject[],
  namespaces?: ReadonlySet<string>,
): { rules: DestinationRuleFact[]; leftOut: string[] } {
  const rules: DestinationRuleFact[] = [];
  const leftOut: string[] = [];
  for (const o of [...objects].sort(order)) {
    if (namespaces && !namespaces.has(o.metadata.namespace)) continue;
    const spec = o.spec;
    const id = `DestinationRule ${o.metadata.namespace}/${o.metadata.name}`;
    if (!spec) continue;
    const fact: DestinationRuleFact = {
      name: o.metadata.name,
      namespace: o.metadata.namespace,
      host: spec.host,
      ...(spec.exportTo && spec.exportTo.length > 0 ? { exportTo: [...spec.exportTo] } : {}),
      // A workloadSelector, even an empty one, makes the rule private to its namespace and selects its pods (all of
      // them when empty): Istio validates `{}` with a warning only (pilot/pkg/model/push_context.go keys on its presence).
      ...(spec.workloadSelector ? { workloadSelector: { matchLabels: { ...(spec.workloadSelector.matchLabels ?? {}) } } } : {}),
    };
    const tp = trafficPolicyFact(spec.trafficPolicy);
    if (tp) fact.trafficPolicy = tp;
    const subsets = (spec.subsets ?? []).map((s) => {
      const stp = trafficPolicyFact(s.trafficPolicy);
      return { name: s.name, ...(stp ? { trafficPolicy: stp } : {}) };
    });
    if (subsets.length > 0) fact.subsets = subsets;
    const checked = destinationRuleSchema.safeParse(fact);
    if (!checked.success) {
      const issue = checked.error.issues[0];
      leftOut.push(`${id}: its ${issue.path.join(".") || "spec"} ${issue.message}, which a rollout file does not accept`);
      continue;
    }
    rules.push(fact);
  }
  return { rules, leftOut };
}
