/**
 * The discovered rollout as a YAML file for a reviewer: the same format as stages/lab.yaml, compact
 * (one line per namespace, label set, port and policy), with comments where a human has to look.
 */
import * as YAML from "yaml";
import { terminalSafe } from "../model/text";
import type { Discovered } from "./propose";

/**
 * Comment lines as written: what comes from the cluster or Prometheus (names, labels of metrics, a kube context)
 * may hold characters a terminal or an editor would obey (escapes, bidirectional overrides); each is written as
 * `\uXXXX` instead, and a line break inside a value starts no line of its own.
 */
function commentLines(lines: readonly string[], escaped: { count: number }): string {
  return lines
    .map((l) => {
      const flat = l.replace(/\r\n|\r|\n/g, " ");
      const safe = terminalSafe(flat);
      if (safe !== flat || flat !== l) escaped.count++;
      return ` ${safe}`;
    })
    .join("\n");
}

function flow(doc: YAML.Document, path: (string | number)[]) {
  const node = doc.getIn(path, true);
  if (YAML.isCollection(node)) node.flow = true;
}

export interface RenderOptions {
  /** What was read, for the header: the kube context, the namespaces, Prometheus. */
  source: string;
  /** A first comment line for editors (yaml-language-server's `$schema=`). */
  modeline?: string;
}

export function renderDiscovered(discovered: Discovered, options: RenderOptions): string {
  const { file } = discovered;
  const escaped = { count: 0 };
  const comment = (lines: readonly string[]) => commentLines(lines, escaped);
  const doc = new YAML.Document(file);
  const policies = file.stages.reduce((n, s) => n + s.peerAuthentications.length, 0);
  const header = [
    ...(options.modeline ? [options.modeline] : []),
    `mtls-rollout rollout discovered from ${options.source}.`,
    `${file.namespaces.length} namespaces, ${file.workloads.length} workloads; ${file.stages[0].peerAuthentications.length} PeerAuthentications in stage current, of ${discovered.livePolicies} on the cluster in these namespaces and the mesh root; ${file.stages.length} stages (${policies} policy declarations).`,
    "",
    "Workloads have deploy: false: the stack never creates, changes or deletes them. It deploys the probe kit",
    "(probes:) and manages the PeerAuthentications; those marked existing: true are on the cluster already and",
    "are adopted on the first `pulumi up`, never deleted. Stage `current` is the cluster as it is; the stages",
    "after it are proposals: review every comment, then `npx --no-install mtls-rollout check --rollout FILE`.",
  ];
  if (discovered.stack) {
    const { inForce, adopted, dormant, stacks } = discovered.stack;
    const list = (xs: string[]) => (xs.length > 6 ? `${xs.slice(0, 6).join(", ")}, and ${xs.length - 6} more` : xs.join(", "));
    header.push(
      "",
      "WARNING: an mtls-rollout stack manages PeerAuthentications here. Its rollout file is the one to run: refresh it",
      "from the cluster with `npx --no-install mtls-rollout discover --rollout THAT_FILE`, which keeps its stages and says",
      "which one the cluster is at. This file takes the stack's policies for the cluster's (existing: true): a second",
      "stack running it would adopt them and fight the first one over them (its `pulumi up` refuses those that name",
      "their stack, without takeOver).",
      ...(stacks.length > 0 ? [`  - written by the stack${stacks.length > 1 ? "s" : ""} ${stacks.join(", ")}`] : []),
      ...(inForce.length > 0 ? [`  - in force, created by the stack (the stage that declares each): ${list(inForce)}`] : []),
      ...(adopted.length > 0 ? [`  - in force, adopted by the stack: ${list(adopted)}`] : []),
      ...(dormant.length > 0 ? [`  - dormant, for later stages of its rollout (the first that declares each): ${list(dormant)}`] : []),
    );
  }
  const owned = file.stages[0].peerAuthentications.filter((p): p is typeof p & { managedBy: string } => "managedBy" in p && !!p.managedBy);
  if (owned.length > 0) {
    header.push(
      "",
      "WARNING: another tool manages these PeerAuthentications (managedBy). A stack that adopted them would fight it over",
      "them, each putting back its own spec: `pulumi up` refuses until that tool lets go and the policy says",
      'takeOver: "<reason>" (or the policy leaves the rollout):',
      ...owned.map((p) => `  - ${p.namespace}/${p.name}: ${p.managedBy}`),
    );
  }
  if (discovered.findings.length > 0) {
    header.push(
      "",
      "WARNING: the cluster breaks guardrails today. Stage current holds it as it is and accepts these findings",
      "(acknowledgeFindings); later stages inherit that acceptance. Fix each (a proposed stage does where it can):",
      ...discovered.findings.map((f) => `  - ${f}`),
    );
  }
  if (discovered.leftOut.length > 0) {
    header.push(
      "",
      "Not in this file (a PeerAuthentication left out stays on the cluster: `status` reports it as extra until it is deleted):",
    );
    header.push(...discovered.leftOut.map((l) => `  - ${l}`));
  }
  if (discovered.clients.length > 0) {
    header.push(
      "",
      "Clients: pods no Deployment, StatefulSet or DaemonSet owns, which a rollout file cannot declare. Those without a sidecar",
      "lose access to every port a stage makes STRICT (each stage's comment names them):",
      ...discovered.clients.map(
        (c) =>
          `  - ${c.ref} (${c.kind}, ${c.pods} pod${c.pods === 1 ? "" : "s"}, ${c.withSidecar === c.pods ? "with a sidecar" : c.withSidecar === 0 ? "no sidecar" : `${c.withSidecar} with a sidecar`})`,
      ),
    );
  }
  if (discovered.plaintext && discovered.plaintext.into.length > 0) {
    header.push(
      "",
      `Plaintext that reached workloads of this file in the last ${discovered.plaintext.windowSeconds}s (Prometheus, counted by the receiving sidecar;`,
      "unknown is a client without a sidecar). Each must move to mTLS, or be acknowledged, before its target goes STRICT:",
      ...discovered.plaintext.into.map((p) => `  - ${p.destination} from ${p.sources.map((s) => `${s.source} (${s.count})`).join(", ")}`),
    );
  }
  // The comments below are written before the header is, so that it can say whether any was escaped.
  const nodeComments = discovered.comments.map(({ path, lines }) => ({ path, text: comment(lines) }));
  const headerText = comment(header);
  doc.commentBefore =
    escaped.count > 0
      ? `${headerText}\n${comment(["", `Characters a terminal would obey, found in names or labels read, are written as \\uXXXX in ${escaped.count} comment line${escaped.count === 1 ? "" : "s"}.`])}`
      : headerText;
  file.namespaces.forEach((_, i) => flow(doc, ["namespaces", i]));
  file.workloads.forEach((w, i) => {
    flow(doc, ["workloads", i, "labels"]);
    flow(doc, ["workloads", i, "ports"]);
    flow(doc, ["workloads", i, "calls"]);
    if (w.service) {
      flow(doc, ["workloads", i, "service", "selector"]);
      w.service.ports.forEach((_, j) => flow(doc, ["workloads", i, "service", "ports", j]));
    }
    (w.services ?? []).forEach((s, k) => {
      flow(doc, ["workloads", i, "services", k, "selector"]);
      s.ports.forEach((_, j) => flow(doc, ["workloads", i, "services", k, "ports", j]));
    });
  });
  flow(doc, ["probes", "namespaces"]);
  file.stages.forEach((s, i) => s.peerAuthentications.forEach((_, j) => flow(doc, ["stages", i, "peerAuthentications", j])));
  for (const { path, text } of nodeComments) {
    const node = doc.getIn(path, true);
    if (YAML.isNode(node)) node.commentBefore = text;
  }
  return doc.toString({ lineWidth: 0 });
}
