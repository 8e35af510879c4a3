import { countsTable, SUMMARY_ROWS, type TextOptions } from "../render/summary";
import { textTable, TextStyle, UNBOUNDED, wrapText } from "../render/textTable";
import { inStep, type Status } from "./compare";
import { liveModeJson, liveModeText, modeText } from "../render/liveModes";

/** One line: where the cluster stands. */
export function statusSummary(s: Status): string {
  const differing = s.workloads.filter((w) => !inStep(w)).length;
  const modes =
    differing === 0
      ? "every workload's live mode is as expected"
      : `${differing} workload${differing === 1 ? "'s" : "s'"} live mode differs`;
  if (s.inSync)
    return `IN SYNC: the cluster's PeerAuthentications are exactly stage ${s.stage}${s.expectedStage !== null ? ", the stage expected" : ""}; ${modes}`;
  if (s.expectedStage !== null && s.stage !== null)
    return `DRIFT: the cluster is at stage ${s.stage}, not at stage ${s.expectedStage}, the stage expected; against ${s.expectedStage}: ${s.differences.length} difference${s.differences.length === 1 ? "" : "s"}, ${modes}`;
  if (s.policiesAt !== null && s.policiesAt === s.comparedWith)
    return `DRIFT: the cluster's PeerAuthentications are exactly stage ${s.policiesAt}, but ${modes} (see the warnings)`;
  const n = s.differences.length;
  if (s.expectedStage !== null)
    return `DRIFT: the cluster is not at stage ${s.expectedStage}, the stage expected: ${n} difference${n === 1 ? "" : "s"}; ${modes}`;
  return `DRIFT: the cluster is at no stage of the rollout; nearest is ${s.comparedWith}, ${n} difference${n === 1 ? "" : "s"}; ${modes}`;
}

function workloadsTable(workloads: readonly Status["workloads"][number][], style: TextStyle): string {
  return textTable(
    [
      { head: "namespace" },
      { head: "workload" },
      { head: "live", coloured: true, prose: true },
      { head: "expected", coloured: true, prose: true },
      { head: "", coloured: true },
    ],
    workloads.map((w) => [
      w.namespace,
      w.name,
      liveModeText(w),
      modeText(w.expected.mode, w.expected.ports),
      w.matches ? "=" : inStep(w) ? "not yet" : "DIFFERS",
    ]),
    style,
  );
}

/**
 * Where the cluster stands, for a person: the differences from the nearest stage, every workload's live mode
 * beside the expected one, the summary last. Beyond SUMMARY_ROWS workloads, unless `wide`, the modes are counted
 * by namespace and only the workloads whose live mode differs are listed.
 */
export function renderStatusText(s: Status, context: string, { style, wide }: TextOptions = { style: UNBOUNDED }): string {
  const out = [`Cluster: ${context}`, statusSummary(s), ""];
  if (s.differences.length > 0) {
    out.push(`Differences from stage ${s.comparedWith} (dormant policies count as absent)`);
    out.push(
      textTable(
        [{ head: "difference" }, { head: "policy" }, { head: "detail", prose: true }],
        s.differences.map((d) => [d.kind, `${d.namespace}/${d.name}`, d.detail]),
        style,
      ),
      "",
    );
  }
  const title =
    `Effective modes: live (as Istio computes them, the oldest of competing policies winning) and expected at ${s.comparedWith}; ` +
    "a port is named where its mode differs from its workload's";
  if (wide || s.workloads.length <= SUMMARY_ROWS) out.push(wrapText(title, style.width), workloadsTable(s.workloads, style));
  else {
    const differing = s.workloads.filter((w) => !inStep(w));
    out.push(
      wrapText(title, style.width),
      wrapText(`${s.workloads.length} workloads, by namespace and live mode (--wide or --json for every workload)`, style.width),
      countsTable(
        s.workloads,
        (w) => w.namespace,
        (w) =>
          `${w.missing ? "not on the cluster" : w.groups ? "pods differ" : (w.mode ?? "outside the mesh")}${inStep(w) ? "" : " (differs)"}`,
        { groups: "namespaces", total: "workloads each" },
        style,
      ),
      differing.length === 0 ? "Every workload's live mode is as expected." : `Live mode differs (${differing.length})`,
      ...(differing.length === 0 ? [] : [workloadsTable(differing, style)]),
    );
  }
  if (s.warnings.length > 0) out.push("", "Warnings", ...s.warnings.map((w) => wrapText(w, style.width, "  ")));
  out.push("", statusSummary(s));
  return out.join("\n") + "\n";
}

/** The documented JSON: stage, inSync, differences, workloads; and what the text shows besides. */
export function statusJson(s: Status) {
  return {
    stage: s.stage,
    expectedStage: s.expectedStage,
    inSync: s.inSync,
    comparedWith: s.comparedWith,
    policiesAt: s.policiesAt,
    differences: s.differences.map(({ kind, namespace, name, detail }) => ({ kind, namespace, name, detail })),
    workloads: s.workloads.map(liveModeJson),
    dormant: s.dormant,
    warnings: s.warnings,
    summary: statusSummary(s),
  };
}
