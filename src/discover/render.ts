/**
 * The discovered rollout as a YAML file for a reviewer: the same format as stages/lab.yaml, compact
 * (one line per namespace, label set, port and policy), with comments where a human has to look.
 */
import * as YAML from "yaml";
import type { Discovered } from "./propose";

const comment = (lines: string[]) => lines.map((l) => ` ${l}`).join("\n");

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
  const doc = new YAML.Document(file);
  const policies = file.stages.reduce((n, s) => n + s.peerAuthentications.length, 0);
  const header = [
    ...(options.modeline ? [options.modeline] : []),
    `mtls-rollout rollout discovered from ${options.source}.`,
    `${file.namespaces.length} namespaces, ${file.workloads.length} workloads, ${file.stages[0].peerAuthentications.length} PeerAuthentications on the cluster; ${file.stages.length} stages (${policies} policy declarations).`,
    "",
    "Workloads have deploy: false: the stack never creates, changes or deletes them. It deploys the probe kit",
    "(probes:) and manages the PeerAuthentications; those marked existing: true are on the cluster already and",
    "are adopted on the first `pulumi up`, never deleted. Stage `current` is the cluster as it is; the stages",
    "after it are proposals: review every comment, then `npx --no-install mtls-rollout check --rollout FILE`.",
  ];
  if (discovered.leftOut.length > 0) {
    header.push(
      "",
      "Not in this file (a PeerAuthentication left out stays on the cluster: `status` reports it as extra until it is deleted):",
    );
    header.push(...discovered.leftOut.map((l) => `  - ${l}`));
  }
  doc.commentBefore = comment(header);
  file.namespaces.forEach((_, i) => flow(doc, ["namespaces", i]));
  file.workloads.forEach((w, i) => {
    flow(doc, ["workloads", i, "labels"]);
    flow(doc, ["workloads", i, "ports"]);
    flow(doc, ["workloads", i, "calls"]);
    if (w.service) {
      flow(doc, ["workloads", i, "service", "selector"]);
      w.service.ports.forEach((_, j) => flow(doc, ["workloads", i, "service", "ports", j]));
    }
  });
  flow(doc, ["probes", "namespaces"]);
  file.stages.forEach((s, i) => s.peerAuthentications.forEach((_, j) => flow(doc, ["stages", i, "peerAuthentications", j])));
  for (const { path, lines } of discovered.comments) {
    const node = doc.getIn(path, true);
    if (YAML.isNode(node)) node.commentBefore = comment(lines);
  }
  return doc.toString({ lineWidth: 0 });
}
