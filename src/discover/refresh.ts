/**
 * `discover --rollout FILE` on a cluster an mtls-rollout stack manages: the stack's own rollout, written back as it
 * is (its stages, workloads, comments), with the facts of the cluster refreshed (its DestinationRules and the mesh
 * config's auto mTLS) and a header saying which stage the cluster is at, as status computes it, and what the cluster
 * has that the rollout does not. Never a proposal, never a rename: the stack's policies stay the stack's. Pure:
 * run.ts reads the cluster.
 */
import * as YAML from "yaml";
import { destinationRuleOf, type Rollout } from "../model/rollout";
import { terminalSafe } from "../model/text";
import type { Status } from "../status/compare";
import type { Inventory } from "./inventory";

/** The first line of the block this refresh writes in the header, so that the next one replaces it. */
export const REFRESH_MARK = "mtls-rollout discover --rollout:";
/** Its last line: what follows it is the team's again. */
export const REFRESH_END = "(end of what mtls-rollout discover --rollout wrote)";

export interface Refreshed {
  yaml: string;
  summary: string;
}

const list = (xs: readonly string[], most = 8) =>
  xs.length > most ? `${xs.slice(0, most).join(", ")}, and ${xs.length - most} more` : xs.join(", ");

/** The header lines: where the cluster stands, and what it has that the rollout does not say. */
function headerLines(rollout: Rollout, inventory: Inventory, status: Status, source: string): string[] {
  const lines = [`${REFRESH_MARK} refreshed from ${source}.`];
  if (status.inSync) lines.push(`The cluster is at stage ${status.stage}: IN SYNC (its policies and every workload's live modes).`);
  else {
    const modes = status.workloads.filter((w) => !w.matches && !w.notYet).length;
    lines.push(
      `The cluster is at no stage of this rollout. Nearest: ${status.comparedWith}, with ${status.differences.length} policy difference${status.differences.length === 1 ? "" : "s"} and ${modes} workload${modes === 1 ? "" : "s"} whose live modes differ: run \`npx --no-install mtls-rollout status\` for them.`,
      ...status.differences.slice(0, 8).map((d) => `  - ${d.kind} ${d.namespace}/${d.name}: ${d.detail}`),
    );
  }
  const declared = new Set(rollout.workloads.map((w) => w.ref));
  const namespaces = new Set(rollout.namespaces.map((n) => n.name));
  const undeclared = inventory.workloads.filter((w) => namespaces.has(w.namespace) && !declared.has(`${w.namespace}/${w.name}`));
  if (undeclared.length > 0)
    lines.push(
      `On the cluster in this rollout's namespaces, not declared in it: ${list(undeclared.map((w) => `${w.kind} ${w.namespace}/${w.name}`))}.`,
    );
  const byRef = new Map(rollout.workloads.map((w) => [w.ref, w]));
  const sidecarChanged = inventory.workloads.flatMap((w) => {
    const mine = byRef.get(`${w.namespace}/${w.name}`);
    if (!mine || mine.deploy) return [];
    const said = mine.partial ? "partial" : mine.sidecar;
    return said === w.sidecar ? [] : [`${w.namespace}/${w.name} (sidecar: ${String(said)} here, ${String(w.sidecar)} on the cluster)`];
  });
  if (sidecarChanged.length > 0) lines.push(`Declared with a sidecar the cluster's pods no longer have: ${list(sidecarChanged)}.`);
  if (inventory.stack?.dormant.length) lines.push(`Dormant policies of the stack on the cluster: ${list(inventory.stack.dormant)}.`);
  lines.push(...status.warnings.map((w) => `Warning: ${w}`));
  return lines;
}

/**
 * `text`: the rollout file as the team keeps it; `rollout`: that file, loaded. The facts of the cluster replace the
 * file's where they differ; everything else is kept as written.
 */
export function refreshRollout(text: string, rollout: Rollout, inventory: Inventory, status: Status, source: string): Refreshed {
  const doc = YAML.parseDocument(text);
  const changed: string[] = [];
  if (rollout.enableAutoMtls !== inventory.enableAutoMtls) {
    if (inventory.enableAutoMtls) doc.delete("enableAutoMtls");
    else doc.set("enableAutoMtls", false);
    changed.push(`enableAutoMtls: ${inventory.enableAutoMtls}`);
  }
  if (rollout.destinationRulesPrivateByDefault !== inventory.destinationRulesPrivateByDefault) {
    if (inventory.destinationRulesPrivateByDefault) doc.set("destinationRulesPrivateByDefault", true);
    else doc.delete("destinationRulesPrivateByDefault");
    changed.push(`destinationRulesPrivateByDefault: ${inventory.destinationRulesPrivateByDefault}`);
  }
  // Compared as the model reads them, not as written: a team's own key order or comments are no change.
  const asModel = (rules: readonly Rollout["destinationRules"][number][]) =>
    JSON.stringify(rules.map((r) => ({ ...r, origin: undefined })));
  const before = asModel(rollout.destinationRules);
  const after = asModel(inventory.destinationRules.map((r, i) => destinationRuleOf(r, `destinationRules[${i}]`)));
  if (before !== after) {
    if (inventory.destinationRules.length === 0) doc.delete("destinationRules");
    else doc.set("destinationRules", doc.createNode(inventory.destinationRules));
    changed.push(`${inventory.destinationRules.length} DestinationRules`);
  }
  // The file's header (the document's comment, or the first key's): the block a previous refresh wrote goes, the rest
  // is the team's, and the editor's modeline stays first.
  const firstKey = YAML.isMap(doc.contents) && YAML.isNode(doc.contents.items[0]?.key) ? doc.contents.items[0].key : undefined;
  const own = [doc.commentBefore, firstKey?.commentBefore]
    .filter((c): c is string => !!c)
    .join("\n")
    .split("\n");
  if (firstKey) firstKey.commentBefore = undefined;
  const start = own.findIndex((l) => l.trim().startsWith(REFRESH_MARK));
  const end = start < 0 ? -1 : own.findIndex((l, i) => i > start && l.trim() === REFRESH_END);
  // A block without its end line (edited by hand) is left as it is: nothing of the team's is taken for it.
  const kept = start < 0 || end < 0 ? own : [...own.slice(0, start), ...own.slice(end + 1)];
  const modeline = kept.find((l) => l.includes("yaml-language-server:"));
  const rest = kept.filter((l) => l !== modeline);
  while (rest.length > 0 && rest[0].trim() === "") rest.shift();
  while (rest.length > 0 && rest[rest.length - 1].trim() === "") rest.pop();
  const block = [...headerLines(rollout, inventory, status, source), REFRESH_END].map(
    (l) => ` ${terminalSafe(l.replace(/\r\n|\r|\n/g, " "))}`,
  );
  doc.commentBefore = [...(modeline !== undefined ? [modeline] : []), ...block, ...(rest.length > 0 ? ["", ...rest] : [])].join("\n");
  const where = status.inSync ? `the cluster is at stage ${status.stage}` : `the cluster is at no stage (nearest: ${status.comparedWith})`;
  return {
    yaml: doc.toString({ lineWidth: 0 }),
    summary: `refreshed the rollout: ${where}; ${changed.length > 0 ? `updated ${changed.join(", ")}` : "its facts of the cluster unchanged"} (see the file's header)`,
  };
}
