import Table from "cli-table3";
import type { Plan } from "../model/plan";
import { isBlocking, Violation } from "../model/rules";

function table(head: string[], rows: (string | number)[][]): string {
  // No colours: the output goes into pull requests and logs as often as to a terminal.
  const t = new Table({
    head,
    style: { head: [], border: [] },
    chars: { mid: "", "left-mid": "", "mid-mid": "", "right-mid": "" },
  });
  t.push(...rows.map((r) => r.map(String)));
  return t.toString();
}

function labelsText(labels: Record<string, string> | null): string {
  return labels === null
    ? "(all)"
    : Object.entries(labels)
        .map(([k, v]) => `${k}=${v}`)
        .join(",");
}

function portsText(ports: Record<string, string>): string {
  const entries = Object.entries(ports);
  return entries.length === 0 ? "-" : entries.map(([port, mode]) => `${port}:${mode}`).join(" ");
}

/** The plan as a reviewer reads it in a terminal: policies, effective modes, expected outcomes. */
export function renderPlanText(plan: Plan): string {
  const out: string[] = [];
  out.push(`Stage: ${plan.stage}${plan.description ? ` - ${plan.description}` : ""}`, "");

  out.push(`PeerAuthentications in force (${plan.peerAuthentications.length})`);
  out.push(
    plan.peerAuthentications.length === 0
      ? "  none: every workload is PERMISSIVE"
      : table(
          ["namespace", "name", "scope", "selector", "mode", "port-level", "from stage"],
          plan.peerAuthentications.map((pa) => [
            pa.namespace,
            pa.name,
            pa.scope,
            labelsText(pa.selector),
            pa.mode,
            portsText(pa.portLevelMtls),
            pa.definedIn,
          ]),
        ),
    "",
  );

  if (plan.dormant.length > 0) {
    out.push(
      `Dormant until their stage, declared without effect (mode UNSET inherits; a dormant workload policy selects no pod): ${plan.dormant
        .map((d) => `${d.namespace}/${d.name} (${d.firstStage})`)
        .join(", ")}`,
      "",
    );
  }
  out.push("Effective modes");
  out.push(
    table(
      ["namespace", "workload", "sidecar", "mode", "ports"],
      plan.workloads.map((w) => [w.namespace, w.name, w.sidecar ? "yes" : "no", w.mode ?? "outside the mesh", portsText(w.ports)]),
    ),
    "",
  );

  const edgeRows = (edges: Plan["expectations"]) =>
    edges.map((e) => [e.from, e.to, `${e.host}:${e.port}`, e.targetPort, e.expect, e.reason]);
  out.push(`Expectations: probes to every service port (${plan.expectations.length})`);
  out.push(
    plan.expectations.length === 0
      ? "  none: declare a workload with probe: true"
      : table(["from", "to", "host:port", "target port", "expect", "why"], edgeRows(plan.expectations)),
  );
  if (plan.calls.length > 0) {
    out.push("", `Declared calls (${plan.calls.length})`);
    out.push(table(["from", "to", "host:port", "target port", "expect", "why"], edgeRows(plan.calls)));
  }
  out.push("", renderViolations(plan.violations, `Guardrails for stage ${plan.stage}`));
  if (plan.warnings.length > 0) {
    out.push("", "Warnings");
    for (const w of plan.warnings) out.push(`  ${w.path}: ${w.message}`);
  }
  return out.join("\n") + "\n";
}

/** The plan as one JSON object: the contract other tools and later stages read. */
export function planJson(plan: Plan) {
  return {
    stage: plan.stage,
    description: plan.description ?? null,
    meshRootNamespace: plan.meshRootNamespace,
    peerAuthentications: plan.peerAuthentications,
    workloads: plan.workloads,
    expectations: plan.expectations,
    calls: plan.calls,
    warnings: plan.warnings,
    violations: plan.violations,
    dormant: plan.dormant,
  };
}

/** The rules' findings: blocking ones first, then acknowledged and advisory ones. */
export function renderViolations(violations: readonly Violation[], title: string): string {
  if (violations.length === 0) return `${title}: no rule violated`;
  const blocking = violations.filter(isBlocking).length;
  const rows = [...violations]
    .sort((a, b) => Number(isBlocking(b)) - Number(isBlocking(a)))
    .map((v) => [
      v.acknowledged !== undefined ? "acknowledged" : v.level,
      v.rule,
      v.stage,
      v.resource,
      v.acknowledged !== undefined ? `${v.message} (acknowledged: ${v.acknowledged})` : v.message,
    ]);
  return `${title}: ${blocking} blocking of ${violations.length}\n${table(["level", "rule", "stage", "resource", "message"], rows)}`;
}
