/**
 * A rollout for a mesh that runs already: stage `current` is the cluster's policies as Istio applies them, then
 * proposed stages that break nothing discover knows of (an explicit mesh PERMISSIVE, one namespace at a time, then
 * the mesh), each checked against the model's guardrails. Pure, and near-linear in the mesh: a namespace's stage
 * changes only what its namespace-wide policy reaches (its workloads, and the calls into them), so it is checked
 * on that part of the mesh alone; only the stages that span the mesh are checked on all of it.
 */
import { InputError } from "../model/errors";
import { groupBy } from "../model/groupBy";
import { PROBE_NAME } from "../model/probeKit";
import { clientTlsOf, FindingAcknowledgement, parseRollout, PeerAuthentication, Rollout, ROLLOUT_LIMITS, Workload } from "../model/rollout";
import { ACKNOWLEDGEABLE_RULES } from "../model/schema";
import { evaluateStage, isBlocking, Violation } from "../model/rules";
import { edgesTo } from "../model/expectations";
import { coverageOf } from "../model/coverage";
import { count } from "../model/text";
import { servicesOf, type Client, type FilePolicy, type FileWorkload, type Inventory } from "./inventory";
import type { TrafficEdge } from "./traffic";
import type { DestinationRuleFact } from "../cluster/destinationRules";

export const CURRENT_STAGE = "current";
/** Where the probe kit puts its client without a sidecar. */
export const OUTSIDE_PROBE_NAMESPACE = "mtls-rollout-probes";

export interface FileStage {
  name: string;
  description: string;
  peerAuthentications: (FilePolicy | Omit<FilePolicy, "existing">)[];
  /** Stage current's guardrail findings: the cluster as found, accepted so that the file holds it whole. */
  acknowledgeFindings?: FindingAcknowledgement[];
}

/** Why stage current accepts a guardrail finding. */
export const FOUND_ON_THE_CLUSTER = "on the cluster before this rollout (found by discover); the header says how to fix it";

export interface DiscoveredFile {
  meshRootNamespace: string;
  /** Written only when the mesh config turns auto mTLS off. */
  enableAutoMtls?: false;
  /** Written only when the mesh config makes DestinationRules without exportTo private. */
  destinationRulesPrivateByDefault?: true;
  /** Written only when the cluster has some. */
  destinationRules?: DestinationRuleFact[];
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
  /** Guardrail findings on the cluster as it is, which stage current accepts: each for a human to fix. */
  findings: string[];
  /** An mtls-rollout stack's policies on the cluster, when there are. */
  stack?: Inventory["stack"];
  /** Pods the file cannot declare, which still call its workloads. */
  clients: Client[];
  /** The live PeerAuthentications of the file's namespaces and the mesh root. */
  livePolicies: number;
  /** Plaintext Prometheus saw arriving at the file's workloads over `windowSeconds`, every sender with its count. */
  plaintext?: { windowSeconds: number; into: { destination: string; sources: { source: string; count: number }[] }[] };
}

export interface ProposeOptions {
  meshRootNamespace: string;
  traffic?: { edges: TrafficEdge[]; windowSeconds: number };
  /** Ends the proposal early (Ctrl-C): the result is then undefined. */
  signal?: AbortSignal;
}

/** A mesh larger than a rollout can hold: what discover can say instead of a file. */
export class TooLargeForRollout extends Error {}

const refOf = (w: { namespace: string; name: string }) => `${w.namespace}/${w.name}`;
const idOf = (p: { namespace: string; name: string }) => `${p.namespace}/${p.name}`;

/** Lets a signal in between two steps of a long proposal. */
const tick = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * The file as the model reads it. Everything in it came from a cluster the API server validated, within the limits
 * checked before: a problem here is a mesh the rollout format cannot hold, said as such (exit 3), never "bad input"
 * the user did not give.
 */
function parse(file: DiscoveredFile): Rollout {
  try {
    return parseRollout(JSON.parse(JSON.stringify(file)), "discovered rollout");
  } catch (err) {
    if (err instanceof InputError) throw new TooLargeForRollout(`the mesh does not fit a rollout file: ${err.lines()[0]}`);
    throw err;
  }
}

/** A namespace's stage name: a DNS label that no other stage has (a namespace named `mesh` must not look mesh-wide). */
/** The name of the PERMISSIVE policy that holds back a workload only some of whose pods run a sidecar. */
const UNTIL_RESTART = "-until-restart";

function stageName(namespace: string, taken: Set<string>): string {
  const base = (suffix: string) => `${namespace.slice(0, 63 - suffix.length).replace(/-+$/, "")}${suffix}`;
  let name = base("-strict");
  if (taken.has(name)) name = base("-namespace-strict");
  for (let i = 2; taken.has(name); i++) name = base(`-strict-${i}`);
  taken.add(name);
  return name;
}

/** The namespace a guardrail finding is about: its policy's, its workload's, or its call's callee's. */
function namespaceOfFinding(v: Violation): string {
  const subject = v.resource.includes(" -> ") ? v.resource.split(" -> ")[1] : v.resource;
  return subject.split("/")[0];
}

/** The model's policy for a proposed one, so that the guardrails can judge it before it is written. */
function modelPolicy(p: FileStage["peerAuthentications"][number], origin: string): PeerAuthentication {
  return {
    name: p.name,
    namespace: p.namespace,
    selector: p.selector ?? null,
    mode: p.mode,
    ...(p.portLevelMtls ? { portLevelMtls: Object.fromEntries(Object.entries(p.portLevelMtls).map(([k, m]) => [Number(k), m])) } : {}),
    origin,
    ...(p.allowDisable ? { allowDisable: p.allowDisable } : {}),
    ...("existing" in p && p.existing ? { existing: true as const } : {}),
  };
}

/**
 * Probe clients with a sidecar in as many namespaces as the rollout's limit on expected outcomes allows (every probe
 * calls every Service port): the namespaces with the most Service ports first. One probe per class stands for the
 * others (`verify --matrix classes`), so fewer namespaces cost only the network-policy view of the others.
 */
function probeNamespaces(workloads: FileWorkload[], sidecarNamespaces: string[], leftOut: string[]): string[] {
  const portsByNamespace = new Map<string, number>();
  for (const w of workloads)
    portsByNamespace.set(w.namespace, (portsByNamespace.get(w.namespace) ?? 0) + servicesOf(w).reduce((n, s) => n + s.ports.length, 0));
  const servicePorts = [...portsByNamespace.values()].reduce((a, b) => a + b, 0);
  // Every probe is a workload of the rollout too, and the probe outside the mesh is one of them.
  const workloadRoom = ROLLOUT_LIMITS.workloads - workloads.length - 1;
  const edgeRoom = servicePorts === 0 ? Infinity : Math.floor(ROLLOUT_LIMITS.edges / servicePorts) - 1;
  const room = Math.min(workloadRoom, edgeRoom);
  if (workloadRoom < 0) {
    throw new TooLargeForRollout(
      `the cluster has ${count(workloads.length)} workloads in these namespaces; with the probe kit's client outside the mesh a rollout holds at most ${count(ROLLOUT_LIMITS.workloads - 1)}: discover part of the mesh with --namespace`,
    );
  }
  if (room < 0) {
    throw new TooLargeForRollout(
      `these namespaces have ${count(servicePorts)} Service ports: even one probe would make more than the ${count(ROLLOUT_LIMITS.edges)} expected outcomes per stage a rollout may have; discover part of the mesh with --namespace`,
    );
  }
  if (sidecarNamespaces.length <= room) return sidecarNamespaces;
  const chosen = [...sidecarNamespaces]
    .sort((a, b) => (portsByNamespace.get(b) ?? 0) - (portsByNamespace.get(a) ?? 0) || a.localeCompare(b))
    .slice(0, room)
    .sort();
  const why =
    room === edgeRoom
      ? `every probe calls every one of the ${count(servicePorts)} Service ports, and a rollout holds at most ${count(ROLLOUT_LIMITS.edges)} expected outcomes per stage`
      : `every probe is a workload of the rollout, which holds at most ${count(ROLLOUT_LIMITS.workloads)}`;
  leftOut.push(
    `probes: a probe with a sidecar in ${count(chosen.length)} of the ${count(sidecarNamespaces.length)} namespaces with sidecars (those with the most Service ports): ${why}; a probe stands for the others of its class`,
  );
  return chosen;
}

export async function proposeRollout(inventory: Inventory, options: ProposeOptions): Promise<Discovered | undefined> {
  const { meshRootNamespace, signal } = options;
  const leftOut = [...inventory.leftOut];
  const comments: Discovered["comments"] = [];
  for (const [what, n, limit] of [
    ["namespaces", inventory.namespaces.length, ROLLOUT_LIMITS.namespaces],
    ["workloads", inventory.workloads.length, ROLLOUT_LIMITS.workloads],
    ["PeerAuthentications", inventory.policies.length, ROLLOUT_LIMITS.peerAuthentications],
  ] as const) {
    if (n > limit) {
      throw new TooLargeForRollout(
        `the cluster has ${count(n)} ${what} in these namespaces; a rollout holds at most ${count(limit)}: discover part of the mesh with --namespace`,
      );
    }
  }
  const workloads = inventory.workloads.map((w) => ({ ...w }));
  const byRef = new Map(workloads.map((w) => [refOf(w), w]));
  const workloadNotes = new Map<string, string[]>();
  const noteOn = (ref: string, text: string) => {
    const notes = workloadNotes.get(ref) ?? [];
    if (!notes.includes(text)) workloadNotes.set(ref, [...notes, text]);
  };
  for (const n of inventory.notes) if (n.at?.list === "workloads") noteOn(n.at.name, n.text);

  // Observed traffic: calls between workloads of the file, and who sends plaintext where.
  const plaintextInto = new Map<string, string[]>();
  const plaintextSenders = new Map<string, { source: string; count: number }[]>();
  for (const edge of options.traffic?.edges ?? []) {
    const to = byRef.get(edge.destination);
    if (!to) continue;
    if (edge.plaintext > 0) {
      plaintextInto.set(edge.destination, [...(plaintextInto.get(edge.destination) ?? []), `${edge.source} (${edge.plaintext})`]);
      plaintextSenders.set(edge.destination, [
        ...(plaintextSenders.get(edge.destination) ?? []),
        { source: edge.source, count: edge.plaintext },
      ]);
    }
    if (edge.source === "unknown") continue;
    const from = byRef.get(edge.source);
    if (!from) noteOn(edge.destination, `called by ${edge.source}, which is not in this file`);
    else if (from !== to && servicesOf(to).length > 0) from.calls = [...new Set([...(from.calls ?? []), edge.destination])].sort();
  }

  const sidecarNamespaces = [...new Set(workloads.filter((w) => w.sidecar).map((w) => w.namespace))].sort();
  const declared = new Set(inventory.namespaces.map((n) => n.name));
  const file: DiscoveredFile = {
    meshRootNamespace,
    ...(inventory.enableAutoMtls ? {} : { enableAutoMtls: false as const }),
    ...(inventory.destinationRulesPrivateByDefault ? { destinationRulesPrivateByDefault: true as const } : {}),
    ...(inventory.destinationRules.length > 0 ? { destinationRules: inventory.destinationRules } : {}),
    namespaces: inventory.namespaces,
    workloads,
    probes: {
      namespaces: probeNamespaces(
        workloads,
        sidecarNamespaces.filter((ns) => declared.has(ns)),
        leftOut,
      ),
      outsideMesh: { namespace: OUTSIDE_PROBE_NAMESPACE },
    },
    stages: [
      {
        name: CURRENT_STAGE,
        description: "The cluster's PeerAuthentications as discovered: applying this stage changes nothing",
        peerAuthentications: [...inventory.policies],
      },
    ],
  };

  // Stage current is the cluster as it is, every live policy in it: a guardrail finding on it is resolved where that
  // keeps the cluster's behaviour (a port listed, a call dropped), else accepted at stage current with the reason and
  // said in the header, never by leaving a policy out. All findings of a round at once: a cluster with hundreds of
  // them takes a few rounds, not hundreds.
  const current = file.stages[0];
  const findings: string[] = [];
  const accepted: FindingAcknowledgement[] = [];
  current.acknowledgeFindings = accepted;
  let rollout = parse(file);
  /** Stage current of the file as it stands, evaluated whole. */
  const evaluateCurrent = () =>
    evaluateStage({
      stage: CURRENT_STAGE,
      meshRootNamespace,
      policies: rollout.stages[0].peerAuthentications,
      workloads: rollout.workloads,
      acknowledgeBrokenCalls: [],
      clientTls: clientTlsOf(rollout),
      acknowledgeFindings: accepted,
    });
  for (let round = 0; ; round++) {
    const evaluation = evaluateCurrent();
    const blocking = evaluation.violations.filter(isBlocking);
    if (blocking.length === 0) break;
    if (round === 20) {
      throw new TooLargeForRollout(`stage current still breaks ${blocking[0].rule} after ${round} rounds of fixes: ${blocking[0].message}`);
    }
    const selectedBy = new Map<string, FileWorkload[]>();
    evaluation.effective.forEach((e) => {
      const policy = e.appliedPolicies.find((p) => p.selector !== null);
      const w = byRef.get(e.workload.ref);
      if (!policy || !w) return;
      const list = selectedBy.get(idOf(policy));
      if (list) list.push(w);
      else selectedBy.set(idOf(policy), [w]);
    });
    for (const v of blocking) {
      if (v.rule === "declared-calls-keep-working") {
        const [from, to] = v.resource.split(" -> ");
        const w = byRef.get(from)!;
        w.calls = (w.calls ?? []).filter((c) => c !== to);
        const seen = options.traffic?.edges.find((e) => e.source === from && e.destination === to);
        noteOn(
          from,
          `calls ${to} (Prometheus saw ${seen ? `${seen.mtls} mTLS and ${seen.plaintext} plaintext` : "it"}), but the model says the cluster refuses it today, so it is not declared: check both sidecars and the DestinationRules`,
        );
        continue;
      }
      const port = v.rule === "port-level-uses-target-ports" ? Number(/ sets port (\d+),/.exec(v.message)?.[1]) : NaN;
      // A Service port of what the policy selects, that forwards elsewhere, is the mistake the rule is there for:
      // accepted as found (and said), never taken for a port the container listens on.
      const servicePortMixUp = (selectedBy.get(v.resource) ?? []).some((w) =>
        servicesOf(w).some((svc) => svc.ports.some((p) => p.port === port && p.targetPort !== undefined && p.targetPort !== port)),
      );
      if (v.rule === "port-level-uses-target-ports" && (selectedBy.get(v.resource) ?? []).length > 0 && !servicePortMixUp) {
        // A container need not declare every port it listens on: the policy names one, so the workload has it.
        for (const w of selectedBy.get(v.resource) ?? []) {
          if ((w.ports ?? []).some((p) => (typeof p === "number" ? p : p.containerPort) === port)) continue;
          w.ports = [...(w.ports ?? []), port];
          noteOn(refOf(w), `port ${port}: no container declares it, but ${v.resource} sets it in portLevelMtls, so it is listed`);
        }
        continue;
      }
      const rule = ACKNOWLEDGEABLE_RULES.find((r) => r === v.rule);
      if (!rule) throw new TooLargeForRollout(`stage current breaks ${v.rule}, which a rollout cannot accept: ${v.message}`);
      accepted.push({ rule, resource: v.resource, reason: FOUND_ON_THE_CLUSTER });
      findings.push(`${v.rule}: ${v.message}`);
    }
    rollout = parse(file);
    await tick();
    if (signal?.aborted) return undefined;
  }
  if (accepted.length === 0) delete current.acknowledgeFindings;
  for (const w of workloads) if (w.calls && w.calls.length === 0) delete w.calls;
  rollout = parse(file);

  // What Prometheus saw of each declared call against what the model expects of it at stage current: where they
  // disagree, the model lacks something of this cluster (a policy or rule outside these namespaces, a sidecar that
  // differs from its template), and the caller's comment says so with the counts.
  const observedCalls = new Map<string, { observed: "mtls" | "plaintext"; requests: number }>();
  if (options.traffic) {
    const observed = new Map(options.traffic.edges.map((e) => [`${e.source} -> ${e.destination}`, e]));
    // The calls' edges alone: a plan would also build every probe's, which a large mesh has hundreds of thousands of.
    const { index, effective } = evaluateCurrent();
    const serverOf = new Map(effective.map((e) => [e.workload.ref, e]));
    const calls = rollout.workloads.flatMap((client) => client.calls.flatMap((to) => edgesTo(client, serverOf.get(to)!, index)));
    for (const call of calls) {
      const seen = observed.get(`${call.from} -> ${call.to}`);
      if (!seen) continue;
      const saw = seen.mtls > 0 && seen.plaintext === 0 ? "mtls" : seen.plaintext > 0 && seen.mtls === 0 ? "plaintext" : undefined;
      if (saw === undefined || saw === call.expect) continue;
      noteOn(
        call.from,
        `calls ${call.to} (${call.host}:${call.port}): Prometheus saw ${saw === "mtls" ? `mTLS (${seen.mtls})` : `plaintext (${seen.plaintext})`} in the last ${options.traffic.windowSeconds}s, where the model expects ${call.expect} (${call.reason}): written as observed, which stage current expects; something of this cluster is not in this file: check both sides before a stage relies on it`,
      );
      observedCalls.set(`${call.from} -> ${call.to}`, { observed: saw, requests: saw === "mtls" ? seen.mtls : seen.plaintext });
    }
  }

  const taken = new Set([CURRENT_STAGE, "mesh-permissive", "mesh-strict"]);
  const stageComments: { stage: string; lines: string[] }[] = [];
  /** The name of the scope's selector-less policy: the one on the cluster, else `default` if no live policy holds it. */
  const wideName = (namespace: string) =>
    current.peerAuthentications.find((p) => p.namespace === namespace && !p.selector)?.name ??
    (inventory.liveNames.get(namespace)?.has("default") ? undefined : "default");
  const nameTaken = (stage: string, namespace: string) => {
    const holder = inventory.liveNames.get(namespace)?.get("default");
    const scopeWord = namespace === meshRootNamespace ? "mesh" : "namespace";
    leftOut.push(
      holder?.dormant
        ? `proposed stage ${stage}: not proposed: ${namespace}/default is a dormant policy of an mtls-rollout stack (a later stage of its rollout, mode UNSET); that stack's rollout file proposes this namespace's stages: run it, or delete the stack's policies first`
        : `proposed stage ${stage}: not proposed: ${namespace}/default is taken by a policy that is not selector-less, and a ${scopeWord}-wide policy must be named default (one-default-per-scope); rename that one first`,
    );
  };

  // The policies in force after the last stage proposed so far: by namespace, then namespace/name.
  const inForce = new Map<string, Map<string, PeerAuthentication>>();
  // Adoption belongs to the object, as in policiesInForceAt: a later declaration of an adopted policy is still the
  // older one where policies compete.
  const adopted = (p: PeerAuthentication, was: PeerAuthentication | undefined) =>
    was?.existing && !p.existing ? { ...p, existing: true as const } : p;
  const putInForce = (p: PeerAuthentication) => {
    const ns = inForce.get(p.namespace) ?? new Map<string, PeerAuthentication>();
    inForce.set(p.namespace, ns.set(idOf(p), adopted(p, ns.get(idOf(p)))));
  };
  rollout.stages[0].peerAuthentications.forEach(putInForce);
  const inForceIn = (namespaces: Iterable<string>) => [...new Set(namespaces)].flatMap((ns) => [...(inForce.get(ns)?.values() ?? [])]);
  const callersInto = new Map<string, Set<Workload>>();
  for (const w of rollout.workloads) {
    for (const to of w.calls) {
      const ns = to.split("/")[0];
      callersInto.set(ns, (callersInto.get(ns) ?? new Set<Workload>()).add(w));
    }
  }
  const byNamespace = groupBy(rollout.workloads, (w) => w.namespace);
  /**
   * The guardrails' blocking findings for `stage` on top of what is in force: on the whole mesh, or, for a stage of
   * namespace-wide policies, on those namespaces' workloads and their callers, with the policies of those namespaces
   * and the mesh root, which is all such a stage changes.
   */
  const blockingFor = (stage: FileStage, namespaces?: ReadonlySet<string>): Violation[] => {
    const policies = new Map(
      (namespaces ? inForceIn([...namespaces, meshRootNamespace]) : inForceIn(inForce.keys())).map((p) => [idOf(p), p]),
    );
    stage.peerAuthentications.forEach((p, j) =>
      policies.set(idOf(p), adopted(modelPolicy(p, `stages[${file.stages.length}].peerAuthentications[${j}]`), policies.get(idOf(p)))),
    );
    const workloads = namespaces
      ? [...new Set([...namespaces].flatMap((ns) => [...(byNamespace.get(ns) ?? []), ...(callersInto.get(ns) ?? [])]))]
      : rollout.workloads;
    const rewritten = new Set([...file.stages.slice(1), stage].flatMap((st) => st.peerAuthentications.map(idOf)));
    const { violations } = evaluateStage({
      stage: stage.name,
      meshRootNamespace,
      policies: [...policies.values()],
      workloads,
      acknowledgeBrokenCalls: [],
      clientTls: clientTlsOf(rollout),
      // Clients a DestinationRule may apply to are the whole mesh, whatever part of it is evaluated.
      allWorkloads: rollout.workloads,
      // What stage current accepts stays accepted (findingAcknowledgementsAt): the live policies stay in force, until
      // a stage declares one again.
      acknowledgeFindings: accepted.filter((a) => !rewritten.has(a.resource)),
    });
    return violations.filter((v) => isBlocking(v) && (!namespaces || namespaces.has(namespaceOfFinding(v))));
  };
  /** Ports of workloads with a sidecar (in `namespaces`, or anywhere) that what is in force leaves open. */
  const openPorts = (namespaces?: ReadonlySet<string>) => {
    const { effective } = evaluateStage({
      stage: "open",
      meshRootNamespace,
      policies: namespaces ? inForceIn([...namespaces, meshRootNamespace]) : inForceIn(inForce.keys()),
      workloads: namespaces ? [...namespaces].flatMap((ns) => byNamespace.get(ns) ?? []) : rollout.workloads,
      acknowledgeBrokenCalls: [],
      clientTls: clientTlsOf(rollout),
      // Clients a DestinationRule may apply to are the whole mesh, whatever part of it is evaluated.
      allWorkloads: rollout.workloads,
    });
    return coverageOf(effective).open;
  };
  const accept = (stage: FileStage, lines: string[], namespaces?: ReadonlySet<string>) => {
    file.stages.push(stage);
    stage.peerAuthentications.forEach((p, j) => putInForce(modelPolicy(p, `stages[${file.stages.length - 1}].peerAuthentications[${j}]`)));
    taken.add(stage.name);
    // Said as the model finds it: a stage that leaves ports open does not claim to close them.
    const open = stage.peerAuthentications.some((p) => p.mode === "STRICT") ? openPorts(namespaces) : [];
    if (open.length > 0) {
      const shown = open.slice(0, 3).map((o) => `${o.workload}:${o.port} (${o.keptBy ?? "no policy"})`);
      // Its claim ("only clients with a sidecar reach …") would not hold: the stage says what it leaves instead.
      const head = stage.description.split(": ")[0];
      stage.description = `${head}, but ${open.length} port${open.length === 1 ? "" : "s"} of workloads with a sidecar stay${open.length === 1 ? "s" : ""} open: ${shown.join(", ")}${open.length > shown.length ? ", …" : ""}`;
    }
    if (lines.length > 0) stageComments.push({ stage: stage.name, lines });
  };
  const refuse = (stage: string, blocking: Violation[]) =>
    leftOut.push(`proposed stage ${stage}: not proposed, it would break ${blocking.map((b) => `${b.rule} (${b.message})`).join("; ")}`);
  /**
   * `stage` with a workload-level PERMISSIVE for each workload only some of whose pods run a sidecar that it would
   * make STRICT (partial-sidecar-not-strict): the rest of its namespaces move on, and those workloads wait for a
   * restart, said in the stage's comments.
   */
  const holdingPartial = (stage: FileStage, lines: string[], namespaces?: ReadonlySet<string>): { stage: FileStage; lines: string[] } => {
    const partial = blockingFor(stage, namespaces)
      .filter((v) => v.rule === "partial-sidecar-not-strict")
      .map((v) => byRef.get(v.resource))
      .filter((w): w is FileWorkload => w !== undefined && Object.keys(w.labels).length > 0);
    // A hold selects by the workload's labels: only where no other workload's pods carry them all (else it would
    // hold those back too, unsaid), and under a name no policy of the cluster or the file has.
    const alsoSelected = (w: FileWorkload) =>
      workloads.filter((o) => o !== w && o.namespace === w.namespace && Object.entries(w.labels).every(([k, v]) => o.labels[k] === v));
    const held = partial
      .filter((w) => alsoSelected(w).length === 0)
      .map((w) => ({
        w,
        name: freePolicyName(w.namespace, `${w.name.slice(0, 63 - UNTIL_RESTART.length - 3).replace(/-+$/, "")}${UNTIL_RESTART}`),
      }));
    for (const w of partial.filter((x) => alsoSelected(x).length > 0)) {
      noteOn(
        refOf(w),
        `cannot be held PERMISSIVE alone while its namespace goes STRICT: its labels also select ${alsoSelected(w).map(refOf).join(", ")}; restart it (kubectl rollout restart ${w.kind.toLowerCase()}/${w.name} -n ${w.namespace}) so that every pod has a sidecar`,
      );
    }
    if (held.length === 0) return { stage, lines };
    return {
      stage: {
        ...stage,
        peerAuthentications: [
          ...stage.peerAuthentications,
          ...held.map(({ w, name }) => ({ name, namespace: w.namespace, selector: { ...w.labels }, mode: "PERMISSIVE" as const })),
        ],
      },
      lines: [
        ...lines,
        ...held.map(
          ({ w, name }) =>
            `${refOf(w)} stays PERMISSIVE (${w.namespace}/${name}): only some of its pods run a sidecar; restart it (kubectl rollout restart ${w.kind.toLowerCase()}/${w.name} -n ${w.namespace}), declare sidecar: true, and drop that policy in a later stage`,
        ),
      ],
    };
  };
  /** `base`, or `base-2`, `base-3`…: the first name no live policy of the namespace and no policy of the file has. */
  const freePolicyName = (namespace: string, base: string) => {
    const used = (name: string) =>
      inventory.liveNames.get(namespace)?.has(name) === true ||
      file.stages.some((st) => st.peerAuthentications.some((p) => p.namespace === namespace && p.name === name));
    let name = base;
    for (let i = 2; used(name); i++) name = `${base}-${i}`;
    return name;
  };
  const tryStage = (proposed: FileStage, proposedLines: string[], namespaces?: ReadonlySet<string>): boolean => {
    const { stage, lines } = holdingPartial(proposed, proposedLines, namespaces);
    const blocking = blockingFor(stage, namespaces);
    if (blocking.length > 0) {
      refuse(stage.name, blocking);
      return false;
    }
    accept(stage, lines, namespaces);
    return true;
  };

  const clientsWithoutSidecar = inventory.clients.filter((c) => c.withSidecar < c.pods);
  const withoutSidecar = [
    ...workloads
      .filter((w) => w.sidecar !== true)
      .map((w) => ({ ref: refOf(w), text: w.sidecar === "partial" ? `${refOf(w)} (some pods without a sidecar)` : refOf(w) })),
    ...clientsWithoutSidecar.map((c) => ({
      ref: c.ref,
      text: `${c.ref} (${c.kind}${c.withSidecar > 0 ? `, ${c.withSidecar} of ${c.pods} pods with a sidecar` : ""})`,
    })),
  ];
  const refusedLines = (where: string, except: ReadonlySet<string> = new Set()) => {
    const others = withoutSidecar.filter((r) => !except.has(r.ref)).map((r) => r.text);
    return others.length > 0 ? [`would refuse these workloads without a sidecar if they call ${where}: ${others.join(", ")}`] : [];
  };
  const plaintextLines = (refs: readonly string[]) => {
    const seen = refs.flatMap((r) => (plaintextInto.get(r) ?? []).map((c) => `${r} from ${c}`));
    if (seen.length === 0) return [];
    return [
      `received plaintext in the last ${options.traffic!.windowSeconds}s: ${seen.join(", ")}`,
      "the pre-flight gate stops this stage until those callers use mTLS (or the stage acknowledges them in acknowledgePlaintext)",
    ];
  };

  // A proposed fix for what the cluster breaks today where one keeps every call working: a namespace-wide DISABLE
  // under which a workload is STRICT (auto mTLS sends it plaintext, which it refuses) becomes PERMISSIVE. A mesh-wide
  // DISABLE is mesh-permissive's to fix; the other findings need a human (the header says which).
  const disabledNamespaces = [
    ...new Set(accepted.filter((a) => a.rule === "namespace-disable-breaks-strict-workloads").map((a) => a.resource.split("/")[0])),
  ].filter((ns) => ns !== meshRootNamespace && inForce.get(ns)?.get(`${ns}/${wideName(ns)}`)?.mode === "DISABLE");
  if (disabledNamespaces.length > 0) {
    const fixName = "permissive-instead-of-disable";
    taken.add(fixName);
    tryStage(
      {
        name: fixName,
        description: `Namespace-wide PERMISSIVE instead of DISABLE in ${disabledNamespaces.join(", ")}: clients with a sidecar send mTLS again, which their STRICT workloads accept`,
        peerAuthentications: disabledNamespaces.map((ns) => ({ name: wideName(ns)!, namespace: ns, mode: "PERMISSIVE" as const })),
      },
      ["fixes what the cluster breaks today (namespace-disable-breaks-strict-workloads, accepted at stage current)"],
    );
    await tick();
    if (signal?.aborted) return undefined;
  }

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
      await tick();
      if (signal?.aborted) return undefined;
    }

    // A namespace is still open when a workload with a sidecar in it has a port that is not STRICT.
    const open = (ns: string) => {
      const index = evaluateStage({
        stage: "before",
        meshRootNamespace,
        policies: inForceIn([ns, meshRootNamespace]),
        workloads: byNamespace.get(ns) ?? [],
        acknowledgeBrokenCalls: [],
        clientTls: clientTlsOf(rollout),
        // Clients a DestinationRule may apply to are the whole mesh, whatever part of it is evaluated.
        allWorkloads: rollout.workloads,
      });
      return index.effective.some(
        (e) =>
          e.workload.name !== PROBE_NAME && e.mode !== null && (e.mode !== "STRICT" || [...e.ports.values()].some((m) => m !== "STRICT")),
      );
    };
    // Namespaces whose workloads all have sidecars and receive no plaintext go first.
    const fileByNamespace = groupBy(workloads, (w) => w.namespace);
    const candidates = sidecarNamespaces
      .map((ns) => {
        const members = fileByNamespace.get(ns) ?? [];
        const risky = members.some((w) => w.sidecar !== true) || members.some((w) => plaintextInto.has(refOf(w)));
        return { ns, members, risky };
      })
      .sort((a, b) => Number(a.risky) - Number(b.risky) || a.ns.localeCompare(b.ns))
      .filter(({ ns }) => open(ns))
      .filter(({ ns }) => {
        if (wideName(ns) !== undefined) return true;
        nameTaken(stageName(ns, new Set(taken)), ns);
        return false;
      });

    // One namespace a stage, unless there are more namespaces than a rollout holds stages: then a few a stage.
    const room = ROLLOUT_LIMITS.stages - file.stages.length - 1;
    const perStage = Math.max(1, Math.ceil(candidates.length / room));
    if (perStage > 1) {
      leftOut.push(
        `proposed stages: ${count(candidates.length)} namespaces to make STRICT, more than the ${count(room)} stages a rollout has room for: ${perStage} namespaces a stage, those with sidecars only and no plaintext first`,
      );
    }
    for (let start = 0, batch = 1; start < candidates.length; start += perStage, batch++) {
      let group = candidates.slice(start, start + perStage);
      for (;;) {
        const namespaces = new Set(group.map((g) => g.ns));
        const members = group.flatMap((g) => g.members);
        const memberRefs = new Set(members.map(refOf));
        const single = group.length === 1;
        const name = single ? stageName(group[0].ns, taken) : `namespaces-strict-${batch}`;
        const proposed: FileStage = {
          name,
          description: single
            ? `STRICT for namespace ${group[0].ns}: ${members.filter((w) => w.sidecar === true).length} workloads with a sidecar`
            : `STRICT for ${group.length} namespaces (${[...namespaces].join(", ")}): ${members.filter((w) => w.sidecar === true).length} workloads with a sidecar`,
          peerAuthentications: group.map((g) => ({ name: wideName(g.ns)!, namespace: g.ns, mode: "STRICT" as const })),
        };
        const proposedLines = [
          ...members
            .filter((w) => w.sidecar === false)
            .map((w) => `${refOf(w)} has no sidecar: no policy applies to it, and it cannot call this namespace's workloads once STRICT`),
          ...clientsWithoutSidecar
            .filter((c) => namespaces.has(c.ref.split("/")[0]))
            .map((c) => `${c.ref} (${c.kind}) runs pods without a sidecar here: they cannot call this namespace's workloads once STRICT`),
          ...refusedLines(`into ${[...namespaces].join(", ")}`, memberRefs),
          ...plaintextLines([...memberRefs]),
        ];
        const { stage, lines } = holdingPartial(proposed, proposedLines, namespaces);
        const blocking = blockingFor(stage, namespaces);
        if (blocking.length === 0) {
          accept(stage, lines, namespaces);
          break;
        }
        if (single) {
          taken.delete(name);
          refuse(name, blocking);
          break;
        }
        // A stage of several namespaces: the ones that break a guardrail leave it, each said why; the rest go on.
        const breaking = new Set(blocking.map(namespaceOfFinding));
        for (const g of group.filter((x) => breaking.has(x.ns))) {
          refuse(
            `for namespace ${g.ns}`,
            blocking.filter((b) => namespaceOfFinding(b) === g.ns),
          );
        }
        group = group.filter((g) => !breaking.has(g.ns));
        if (group.length === 0) break;
      }
      await tick();
      if (signal?.aborted) return undefined;
    }

    // The adopted exceptions (a workload policy, or its port-level entry, that keeps a port of a workload with a
    // sidecar open) go STRICT before the mesh does: each workload policy inherits again (UNSET) where its namespace is
    // STRICT by then, else says STRICT itself. A reviewer who means one keeps it by dropping it from this stage; a
    // stage the guardrails refuse leaves them, said in the header, and check's last-stage-leaves-ports-open names them.
    const current0 = new Map(current.peerAuthentications.map((p) => [idOf(p), p]));
    const exceptions = [...new Set(openPorts().flatMap((o) => (o.keptBy && current0.get(o.keptBy)?.selector ? [o.keptBy] : [])))]
      .map((id) => current0.get(id)!)
      .filter((p) => inForce.get(p.namespace)?.get(idOf(p)) !== undefined);
    if (exceptions.length > 0) {
      const inherited = (ns: string) => {
        const wide = (namespace: string) => [...(inForce.get(namespace)?.values() ?? [])].find((p) => p.selector === null);
        const nsMode = wide(ns)?.mode;
        return nsMode !== undefined && nsMode !== "UNSET" ? nsMode : (wide(meshRootNamespace)?.mode ?? "UNSET");
      };
      const exceptionStage = "exceptions-strict";
      taken.add(exceptionStage);
      tryStage(
        {
          name: exceptionStage,
          description: `STRICT for the ${exceptions.length === 1 ? "exception" : `${exceptions.length} exceptions`} the cluster had: ${exceptions
            .slice(0, 3)
            .map(idOf)
            .join(", ")}${exceptions.length > 3 ? ", …" : ""}`,
          peerAuthentications: exceptions.map((p) => ({
            name: p.name,
            namespace: p.namespace,
            selector: { ...p.selector! },
            mode: inherited(p.namespace) === "STRICT" ? ("UNSET" as const) : ("STRICT" as const),
          })),
        },
        [
          "each of these policies kept ports open on the cluster (found by discover); to keep one as an exception you mean, drop it from this stage and accept its ports in the last stage's acknowledgeFindings (rule last-stage-leaves-ports-open, resource namespace/workload:port) with the reason",
          ...refusedLines("the workloads of these policies"),
        ],
      );
      await tick();
      if (signal?.aborted) return undefined;
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

  // The calls Prometheus saw otherwise than the model expects, as seen (the first stage's expectation follows them).
  for (const w of workloads) {
    if (!w.calls) continue;
    w.calls = w.calls.map((to) => {
      const seen = typeof to === "string" ? observedCalls.get(`${refOf(w)} -> ${to}`) : undefined;
      return seen && typeof to === "string" ? { to, ...seen } : to;
    });
  }
  // Every plaintext sender, on the workload it reaches, whether or not a proposed stage names it.
  for (const [ref, senders] of plaintextInto)
    noteOn(ref, `received plaintext in the last ${options.traffic!.windowSeconds}s from ${senders.join(", ")}`);
  workloads.forEach((w, i) => {
    const lines = workloadNotes.get(refOf(w));
    if (lines && lines.length > 0) comments.push({ path: ["workloads", i], lines });
  });
  const namespaceIndex = new Map(file.namespaces.map((n, i) => [n.name, i]));
  inventory.notes
    .filter((n) => n.at?.list === "namespaces")
    .forEach((n) => comments.push({ path: ["namespaces", namespaceIndex.get(n.at!.name)!], lines: [n.text] }));
  if (current.peerAuthentications.length > 1) {
    comments.push({
      path: ["stages", 0],
      lines: [
        "the cluster's policies, the oldest first: where two compete, Istio applies the older one, as the model does reading this list",
      ],
    });
  }
  const stageIndex = new Map(file.stages.map((s, i) => [s.name, i]));
  for (const { stage, lines } of stageComments) comments.push({ path: ["stages", stageIndex.get(stage)!], lines });
  return {
    file,
    comments,
    leftOut,
    findings,
    ...(inventory.stack ? { stack: inventory.stack } : {}),
    clients: inventory.clients,
    livePolicies: inventory.livePolicies,
    ...(options.traffic
      ? {
          plaintext: {
            windowSeconds: options.traffic.windowSeconds,
            into: [...plaintextSenders].map(([destination, sources]) => ({ destination, sources })),
          },
        }
      : {}),
  };
}
