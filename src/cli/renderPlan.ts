import type { Edge } from "../model/expectations";
import { groupBy } from "../model/groupBy";
import type { Plan } from "../model/plan";
import { isBlocking, Violation } from "../model/rules";
import { countsTable, firstScreen, namespaceOf, SUMMARY_ROWS, type TextOptions } from "../render/summary";
import { textTable, TextStyle, UNBOUNDED, wrapText } from "../render/textTable";

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

/** The Service a probe calls, as its name and port (its namespace is the target's). */
const serviceOf = (e: Edge) => `${e.host.split(".")[0]}:${e.port}`;

/** The edges from each probe workload, a table each: the client is the heading, so the rows fit a terminal. */
function edgesByClient(edges: readonly Edge[], style: TextStyle): string[] {
  return [...groupBy(edges, (e) => e.from)].flatMap(([from, own]) => [
    `From ${from}`,
    textTable(
      [{ head: "to" }, { head: "service" }, { head: "target" }, { head: "expect", coloured: true }, { head: "why", prose: true }],
      own.map((e) => [e.to, serviceOf(e), e.targetPort, e.expect, e.reason]),
      style,
    ),
  ]);
}

function policiesText(plan: Plan, { style, wide }: TextOptions): string[] {
  const policies = plan.peerAuthentications;
  const title = `PeerAuthentications in force (${policies.length})`;
  if (policies.length === 0) return [title, "  none: every workload is PERMISSIVE"];
  if (!wide && policies.length > SUMMARY_ROWS) {
    return [
      wrapText(`${title}, by scope and mode (--wide or --json for every policy)`, style.width),
      countsTable(
        policies,
        (p) => p.scope,
        (p) => p.mode,
        { groups: "scope", total: "policies" },
        style,
      ),
    ];
  }
  // The scope is what the selector says; port-level only where some policy sets ports.
  const selects = (pa: Plan["peerAuthentications"][number]) =>
    pa.scope === "workload" ? labelsText(pa.selector) : pa.scope === "ignored" ? `${labelsText(pa.selector)} (ignored)` : `(${pa.scope})`;
  const portLevel = policies.some((pa) => Object.keys(pa.portLevelMtls).length > 0);
  return [
    title,
    textTable(
      [
        { head: "namespace" },
        { head: "name" },
        { head: "mode", coloured: true },
        ...(portLevel ? [{ head: "port-level" }] : []),
        { head: "from stage" },
        { head: "selects", prose: true },
      ],
      policies.map((pa) => [
        pa.namespace,
        pa.name,
        pa.mode,
        ...(portLevel ? [portsText(pa.portLevelMtls)] : []),
        pa.definedIn,
        selects(pa),
      ]),
      style,
    ),
  ];
}

/** How many ports of workloads with a sidecar are STRICT, and what keeps each other one open. */
export function coverageLine(c: Plan["coverage"]): string {
  if (c.total === 0) return "Coverage: no workload with a sidecar has a port";
  const percent = Math.round((c.strict / c.total) * 1000) / 10;
  return `Coverage: ${c.strict} of ${c.total} ports of workloads with a sidecar are STRICT (${percent}%)`;
}

export const keptByText = (keptBy: string | null) => keptBy ?? "no policy: Istio's default";

function coverageText(plan: Plan, { style, wide }: TextOptions): string[] {
  const { open } = plan.coverage;
  const table = (shown: readonly Plan["coverage"]["open"][number][]) => [
    textTable(
      [{ head: "workload" }, { head: "port" }, { head: "mode", coloured: true }, { head: "kept open by", prose: true }],
      shown.map((p) => [p.workload, p.port, p.mode, keptByText(p.keptBy)]),
      style,
    ),
  ];
  if (open.length === 0) return [wrapText(coverageLine(plan.coverage), style.width)];
  if (!wide && plan.workloads.length > SUMMARY_ROWS) {
    // A large stage, summarised like its other sections: the open ports counted by what keeps them open.
    const byPolicy = [...groupBy(open, (p) => keptByText(p.keptBy))].sort((a, b) => b[1].length - a[1].length);
    const shown = byPolicy.slice(0, SUMMARY_ROWS / 6);
    return [
      wrapText(
        `${coverageLine(plan.coverage)}; the ${open.length} others, by what keeps them open (--wide or --json for every port)`,
        style.width,
      ),
      textTable(
        [{ head: "kept open by", prose: true }, { head: "ports" }],
        [
          ...shown.map(([by, ports]) => [by, ports.length]),
          ...(byPolicy.length > shown.length
            ? [[`${byPolicy.length - shown.length} more policies`, open.length - shown.reduce((n, [, p]) => n + p.length, 0)]]
            : []),
        ],
        style,
      ),
    ];
  }
  return [
    wrapText(coverageLine(plan.coverage), style.width),
    ...(wide ? [`Not STRICT (${open.length})`, ...table(open)] : firstScreen("Not STRICT", open, table, "ports")),
  ];
}

function expectationsText(plan: Plan, { style, wide }: TextOptions): string[] {
  const edges = plan.expectations;
  const title = `Expectations: probes to every service port (${edges.length})`;
  if (edges.length === 0) return [title, "  none: declare a workload with probe: true"];
  if (wide || edges.length <= SUMMARY_ROWS) return [title, ...edgesByClient(edges, style)];
  const refused = edges.filter((e) => e.expect === "refused");
  return [
    wrapText(`${title}, by the target's namespace (--wide or --json for every edge)`, style.width),
    countsTable(
      edges,
      (e) => namespaceOf(e.to),
      (e) => e.expect,
      { groups: "target namespaces", total: "edges each" },
      style,
    ),
    "",
    refused.length === 0 ? "No edge is refused at this stage." : `Refused at this stage (${refused.length})`,
    ...(refused.length === 0 ? [] : edgesByClient(refused, style)),
  ];
}

function workloadsText(plan: Plan, { style, wide }: TextOptions): string[] {
  const modeOf = (w: Plan["workloads"][number]) => w.mode ?? "outside the mesh";
  if (wide || plan.workloads.length <= SUMMARY_ROWS) {
    return [
      "Effective modes",
      textTable(
        [
          { head: "namespace" },
          { head: "workload" },
          { head: "sidecar" },
          { head: "mode", coloured: true },
          { head: "ports", prose: true },
        ],
        plan.workloads.map((w) => [w.namespace, w.name, w.partial ? "partial" : w.sidecar ? "yes" : "no", modeOf(w), portsText(w.ports)]),
        style,
      ),
    ];
  }
  return [
    wrapText(
      `Effective modes of ${plan.workloads.length} workloads, by namespace (--wide or --json for every workload and port)`,
      style.width,
    ),
    countsTable(plan.workloads, (w) => w.namespace, modeOf, { groups: "namespaces", total: "workloads each" }, style),
  ];
}

/** The plan as a reviewer reads it in a terminal: policies, effective modes, expected outcomes. */
export function renderPlanText(plan: Plan, options: TextOptions = { style: UNBOUNDED }): string {
  const { style } = options;
  const out: string[] = [];
  out.push(wrapText(`Stage: ${plan.stage}${plan.description ? ` - ${plan.description}` : ""}`, style.width), "");

  out.push(...policiesText(plan, options), "");

  if (plan.dormant.length > 0) {
    const shown = options.wide ? plan.dormant : plan.dormant.slice(0, SUMMARY_ROWS);
    out.push(
      wrapText(
        `Dormant until their stage, declared without effect (mode UNSET inherits; a dormant workload policy selects no pod): ${shown
          .map((d) => `${d.namespace}/${d.name} (${d.firstStage})`)
          .join(", ")}${shown.length < plan.dormant.length ? ` and ${plan.dormant.length - shown.length} more (--wide)` : ""}`,
        style.width,
      ),
      "",
    );
  }
  out.push(...workloadsText(plan, options), "");
  out.push(...coverageText(plan, options), "");
  out.push(...expectationsText(plan, options));
  if (plan.calls.length > 0) {
    out.push("", `Declared calls (${plan.calls.length})`, ...edgesByClient(plan.calls, style));
  }
  out.push("", renderViolations(plan.violations, `Guardrails for stage ${plan.stage}`, style));
  const acknowledged = [
    ...plan.acknowledgePlaintext.map((a) => [a.target, "plaintext (gate)", a.reason]),
    ...plan.acknowledgeUnverifiable.map((a) => [a.target, "unverifiable (verify)", a.reason]),
  ];
  if (acknowledged.length > 0) {
    out.push(
      "",
      `Acknowledged (${acknowledged.length})`,
      textTable([{ head: "workload port" }, { head: "accepted" }, { head: "reason", prose: true }], acknowledged, style),
    );
  }
  if (plan.warnings.length > 0) {
    out.push("", "Warnings");
    for (const w of plan.warnings) out.push(wrapText(`${w.path}: ${w.message}`, style.width, "  "));
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
    acknowledgePlaintext: plan.acknowledgePlaintext,
    acknowledgeUnverifiable: plan.acknowledgeUnverifiable,
    coverage: plan.coverage,
  };
}

/** The rules' findings: blocking ones first, then acknowledged and advisory ones. */
export function renderViolations(violations: readonly Violation[], title: string, style: TextStyle = UNBOUNDED): string {
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
  return `${title}: ${blocking} blocking of ${violations.length}\n${textTable(
    [{ head: "level", coloured: true }, { head: "rule" }, { head: "stage" }, { head: "resource" }, { head: "message", prose: true }],
    rows,
    style,
  )}`;
}
