/**
 * A rollout for a mesh that runs already: stage `current` is the cluster's policies as they are, then
 * proposed stages that break nothing discover knows of (an explicit mesh PERMISSIVE, one namespace at a
 * time, then the mesh), each checked against the model and its guardrails. Pure.
 */
import { InputError } from "../model/errors";
import { buildPlan } from "../model/plan";
import { podLabels } from "../model/pods";
import { PROBE_NAME } from "../model/probeKit";
import { parseRollout, Rollout } from "../model/rollout";
import { isBlocking, Violation } from "../model/rules";
import type { FilePolicy, FileWorkload, Inventory } from "./inventory";
import type { TrafficEdge } from "./traffic";

export const CURRENT_STAGE = "current";
/** Where the probe kit puts its client without a sidecar. */
export const OUTSIDE_PROBE_NAMESPACE = "mtls-rollout-probes";

export interface FileStage {
  name: string;
  description: string;
  peerAuthentications: (FilePolicy | Omit<FilePolicy, "existing">)[];
}

export interface DiscoveredFile {
  meshRootNamespace: string;
  namespaces: Inventory["namespaces"];
  workloads: FileWorkload[];
  probes: { namespaces: string[]; outsideMesh: { namespace: string } };
  stages: FileStage[];
}

export type CommentPath = (string | number)[];

export interface Discovered {
  file: DiscoveredFile;
  /** Comments for a reviewer, before the node at each path. */
  comments: { path: CommentPath; lines: string[] }[];
  /** What the file leaves out, and why. */
  leftOut: string[];
}

export interface ProposeOptions {
  meshRootNamespace: string;
  traffic?: { edges: TrafficEdge[]; windowSeconds: number };
}

const refOf = (w: { namespace: string; name: string }) => `${w.namespace}/${w.name}`;

function parse(file: DiscoveredFile): Rollout {
  return parseRollout(JSON.parse(JSON.stringify(file)), "discovered rollout");
}

/** Blocking findings of the guardrails at one stage of the file. */
function blockingAt(file: DiscoveredFile, stage: string): Violation[] {
  return buildPlan(parse(file), stage).violations.filter(isBlocking);
}

/** A namespace's stage name: a DNS label that no other stage has (a namespace named `mesh` must not look mesh-wide). */
function stageName(namespace: string, taken: Set<string>): string {
  const base = (suffix: string) => `${namespace.slice(0, 63 - suffix.length).replace(/-+$/, "")}${suffix}`;
  let name = base("-strict");
  if (taken.has(name)) name = base("-namespace-strict");
  for (let i = 2; taken.has(name); i++) name = base(`-strict-${i}`);
  taken.add(name);
  return name;
}

export function proposeRollout(inventory: Inventory, options: ProposeOptions): Discovered {
  const { meshRootNamespace } = options;
  const leftOut = [...inventory.leftOut];
  const comments: Discovered["comments"] = [];
  const workloads = inventory.workloads.map((w) => ({ ...w }));
  const byRef = new Map(workloads.map((w) => [refOf(w), w]));
  const workloadNotes = new Map<string, string[]>(inventory.notes.filter((n) => n.at?.list === "workloads").map((n) => [n.at!.name, []]));
  for (const n of inventory.notes) if (n.at?.list === "workloads") workloadNotes.get(n.at.name)!.push(n.text);
  const noteOn = (ref: string, text: string) => workloadNotes.set(ref, [...(workloadNotes.get(ref) ?? []), text]);

  // Observed traffic: calls between workloads of the file, and who sends plaintext where.
  const plaintextInto = new Map<string, string[]>();
  for (const edge of options.traffic?.edges ?? []) {
    const to = byRef.get(edge.destination);
    if (!to) continue;
    if (edge.plaintext > 0)
      plaintextInto.set(edge.destination, [...(plaintextInto.get(edge.destination) ?? []), `${edge.source} (${edge.plaintext})`]);
    if (edge.source === "unknown") continue;
    const from = byRef.get(edge.source);
    if (!from) noteOn(edge.destination, `called by ${edge.source}, which is not in this file`);
    else if (from !== to && to.service) from.calls = [...new Set([...(from.calls ?? []), edge.destination])].sort();
  }

  const sidecarNamespaces = [...new Set(workloads.filter((w) => w.sidecar).map((w) => w.namespace))].sort();
  const declared = new Set(inventory.namespaces.map((n) => n.name));
  const file: DiscoveredFile = {
    meshRootNamespace,
    namespaces: inventory.namespaces,
    workloads,
    probes: { namespaces: sidecarNamespaces.filter((ns) => declared.has(ns)), outsideMesh: { namespace: OUTSIDE_PROBE_NAMESPACE } },
    stages: [
      {
        name: CURRENT_STAGE,
        description: "The cluster's PeerAuthentications as discovered: applying this stage changes nothing",
        peerAuthentications: [...inventory.policies],
      },
    ],
  };

  // Stage current must pass the guardrails as it is: each finding is resolved the way that keeps the
  // cluster's behaviour, else what breaks them is left out, with the reason.
  const current = file.stages[0];
  const selecting = (w: FileWorkload) =>
    current.peerAuthentications.find(
      (p) =>
        p.namespace === w.namespace &&
        p.selector &&
        Object.entries(p.selector).every(([k, v]) => podLabels(w.name, w.labels, w.sidecar, false)[k] === v),
    );
  for (let round = 0; round < 1000; round++) {
    const blocking = blockingAt(file, CURRENT_STAGE);
    if (blocking.length === 0) break;
    const v = blocking[0];
    if (v.rule === "declared-calls-keep-working") {
      const [from, to] = v.resource.split(" -> ");
      const w = byRef.get(from)!;
      w.calls = (w.calls ?? []).filter((c) => c !== to);
      noteOn(from, `calls ${to} (seen in the traffic), but the model says the cluster refuses it today; check both sidecars`);
      continue;
    }
    if (v.rule === "port-level-uses-target-ports") {
      // A container need not declare every port it listens on: the policy names one, so the workload has it.
      const port = Number(/ sets port (\d+),/.exec(v.message)?.[1]);
      const policy = current.peerAuthentications.find((p) => refOf(p) === v.resource)!;
      for (const w of workloads.filter((x) => selecting(x) === policy)) {
        w.ports = [...(w.ports ?? []), port];
        noteOn(refOf(w), `port ${port}: no container declares it, but ${v.resource} sets it in portLevelMtls, so it is listed`);
      }
      continue;
    }
    const governing =
      v.rule === "namespace-disable-breaks-strict-workloads"
        ? selecting(byRef.get(v.resource)!)
        : current.peerAuthentications.find((p) => refOf(p) === v.resource);
    if (!governing) throw new InputError([{ path: "discover", message: `cannot resolve ${v.rule} on ${v.resource}: ${v.message}` }]);
    current.peerAuthentications = current.peerAuthentications.filter((p) => p !== governing);
    leftOut.push(`PeerAuthentication ${refOf(governing)}: breaks ${v.rule}: ${v.message}`);
  }
  for (const w of workloads) if (w.calls && w.calls.length === 0) delete w.calls;

  const taken = new Set([CURRENT_STAGE, "mesh-permissive", "mesh-strict"]);
  const stageComments: { stage: string; lines: string[] }[] = [];
  /** The name of the scope's selector-less policy: the one on the cluster, else `default` if no live policy holds it. */
  const wideName = (namespace: string) =>
    current.peerAuthentications.find((p) => p.namespace === namespace && !p.selector)?.name ??
    (inventory.liveNames.get(namespace)?.has("default") ? undefined : "default");
  const nameTaken = (stage: string, namespace: string) =>
    leftOut.push(
      `proposed stage ${stage}: not proposed: ${namespace}/default is taken by a policy that is not selector-less, and a ${namespace === meshRootNamespace ? "mesh" : "namespace"}-wide policy must be named default (one-default-per-scope); rename that one first`,
    );
  const tryStage = (stage: FileStage, lines: string[]): boolean => {
    file.stages.push(stage);
    const blocking = blockingAt(file, stage.name);
    if (blocking.length > 0) {
      file.stages.pop();
      leftOut.push(
        `proposed stage ${stage.name}: not proposed, it would break ${blocking.map((b) => `${b.rule} (${b.message})`).join("; ")}`,
      );
      return false;
    }
    taken.add(stage.name);
    if (lines.length > 0) stageComments.push({ stage: stage.name, lines });
    return true;
  };
  const withoutSidecar = workloads.filter((w) => !w.sidecar).map(refOf);
  const refusedLines = (where: string, except: string[] = []) => {
    const others = withoutSidecar.filter((r) => !except.includes(r));
    return others.length > 0 ? [`would refuse these workloads without a sidecar if they call ${where}: ${others.join(", ")}`] : [];
  };
  const plaintextLines = (refs: string[]) => {
    const seen = refs.flatMap((r) => (plaintextInto.get(r) ?? []).map((c) => `${r} from ${c}`));
    if (seen.length === 0) return [];
    return [
      `received plaintext in the last ${options.traffic!.windowSeconds}s: ${seen.join(", ")}`,
      "the pre-flight gate stops this stage until those callers use mTLS (or the stage acknowledges them in acknowledgePlaintext)",
    ];
  };

  const mesh = current.peerAuthentications.find((p) => p.namespace === meshRootNamespace && !p.selector);
  const meshName = wideName(meshRootNamespace);
  if (mesh?.mode === "STRICT") {
    leftOut.push("proposed stages: none, the mesh-wide policy is STRICT already");
  } else if (sidecarNamespaces.length === 0) {
    leftOut.push("proposed stages: none, no workload found here has a sidecar");
  } else {
    if (mesh?.mode !== "PERMISSIVE") {
      if (meshName === undefined) nameTaken("mesh-permissive", meshRootNamespace);
      else {
        tryStage(
          {
            name: "mesh-permissive",
            description:
              mesh?.mode === "DISABLE"
                ? "Mesh-wide PERMISSIVE instead of DISABLE: servers with a sidecar accept mTLS and plaintext, and clients with one send mTLS"
                : "Explicit mesh-wide PERMISSIVE: what Istio does without a policy, now written down",
            peerAuthentications: [{ name: meshName, namespace: meshRootNamespace, mode: "PERMISSIVE" }],
          },
          [],
        );
      }
    }
    // Namespaces whose workloads all have sidecars and receive no plaintext go first.
    const candidates = sidecarNamespaces
      .map((ns) => {
        const members = workloads.filter((w) => w.namespace === ns);
        const risky = members.some((w) => !w.sidecar) || members.some((w) => plaintextInto.has(refOf(w)));
        return { ns, members, risky };
      })
      .sort((a, b) => Number(a.risky) - Number(b.risky) || a.ns.localeCompare(b.ns));
    for (const { ns, members } of candidates) {
      const plan = buildPlan(parse(file), file.stages[file.stages.length - 1].name);
      const open = plan.workloads.filter(
        (w) =>
          w.namespace === ns &&
          w.name !== PROBE_NAME &&
          w.mode !== null &&
          (w.mode !== "STRICT" || Object.values(w.ports).some((m) => m !== "STRICT")),
      );
      if (open.length === 0) continue; // STRICT already
      const name = stageName(ns, taken);
      const policyName = wideName(ns);
      if (policyName === undefined) {
        nameTaken(name, ns);
        continue;
      }
      const lines = [
        ...members
          .filter((w) => !w.sidecar)
          .map((w) => `${refOf(w)} has no sidecar: no policy applies to it, and it cannot call this namespace's workloads once STRICT`),
        ...refusedLines(`into ${ns}`, members.map(refOf)),
        ...plaintextLines(members.map(refOf)),
      ];
      tryStage(
        {
          name,
          description: `STRICT for namespace ${ns}: ${members.filter((w) => w.sidecar).length} workloads with a sidecar`,
          peerAuthentications: [{ name: policyName, namespace: ns, mode: "STRICT" }],
        },
        lines,
      );
    }
    if (meshName === undefined) nameTaken("mesh-strict", meshRootNamespace);
    else {
      const ambient = inventory.ambientNamespaces;
      tryStage(
        {
          name: "mesh-strict",
          description: "STRICT mesh-wide: only clients with a sidecar reach workloads with a sidecar",
          peerAuthentications: [{ name: meshName, namespace: meshRootNamespace, mode: "STRICT" }],
        },
        [
          ...refusedLines("any workload with a sidecar"),
          ...plaintextLines(workloads.map(refOf)),
          "mesh-wide STRICT applies to every namespace with sidecars, also those this file does not list",
          ...(ambient.length > 0
            ? [`and ztunnel enforces it in the ambient namespaces too, which this file does not model: ${ambient.join(", ")}`]
            : []),
        ],
      );
    }
  }

  workloads.forEach((w, i) => {
    const lines = workloadNotes.get(refOf(w));
    if (lines && lines.length > 0) comments.push({ path: ["workloads", i], lines });
  });
  inventory.notes
    .filter((n) => n.at?.list === "namespaces")
    .forEach((n) => comments.push({ path: ["namespaces", file.namespaces.findIndex((x) => x.name === n.at!.name)], lines: [n.text] }));
  for (const { stage, lines } of stageComments) comments.push({ path: ["stages", file.stages.findIndex((s) => s.name === stage)], lines });
  return { file, comments, leftOut };
}
