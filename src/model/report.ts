/**
 * What a stage changes against the one before it, for a reviewer: policies added, changed and
 * removed, the edges whose outcome changes (declared calls first, breaking ones marked), the mesh's
 * progress towards STRICT, and the graph of the stage. Pure: the CLI renders it as text, Markdown or JSON.
 */
import type { Coverage } from "./coverage";
import type { Edge, Outcome } from "./expectations";
import { buildPlan, Plan, PlannedPolicy } from "./plan";
import type { Rollout } from "./rollout";
import { isBlocking, Violation } from "./rules";
import type { ResolvedMode } from "./schema";

export interface PolicyChange {
  namespace: string;
  name: string;
  change: "added" | "changed" | "removed";
  before: PolicySpec | null;
  after: PolicySpec | null;
}

export interface PolicySpec {
  selector: Record<string, string> | null;
  mode: string;
  portLevelMtls: Record<string, string>;
}

export interface EdgeChange {
  kind: "call" | "probe";
  from: string;
  to: string;
  host: string;
  port: number;
  before: Outcome;
  after: Outcome;
  /** Traffic that worked and is now refused. */
  breaking: boolean;
  reason: string;
}

export type ModeCount = Record<ResolvedMode | "outside the mesh", number>;

export interface NamespaceProgress {
  namespace: string;
  workloads: ModeCount;
  ports: ModeCount;
  /** STRICT ports over all ports, in percent, one decimal. */
  coverage: number;
}

export interface StageReport {
  stage: string;
  description: string | null;
  /** null for a fresh mesh, with no PeerAuthentication at all. */
  previous: string | null;
  policyChanges: PolicyChange[];
  edgeChanges: EdgeChange[];
  progress: NamespaceProgress[];
  violations: Violation[];
  blockingViolations: number;
  /**
   * Workload ports the stage accepts something about: plaintext the pre-flight gate may find (this stage's
   * acknowledgePlaintext), edges verify may find unverifiable (acknowledgeUnverifiable, this stage's and earlier ones').
   */
  acknowledged: { kind: "plaintext" | "unverifiable"; target: string; reason: string }[];
  /** Ports of workloads with a sidecar that are STRICT after the stage, and what keeps each other one open. */
  coverage: Coverage;
  /** Every edge of the stage, for the graph: the expected outcome of each probe and declared call. */
  edges: (Edge & { kind: "call" | "probe" })[];
  commands: { apply: string[]; verify: string[]; rollback: string[] };
}

const specOf = (pa: PlannedPolicy): PolicySpec => ({ selector: pa.selector, mode: pa.mode, portLevelMtls: pa.portLevelMtls });

function policyChanges(before: Plan | null, after: Plan): PolicyChange[] {
  const key = (pa: PlannedPolicy) => `${pa.namespace}/${pa.name}`;
  const old = new Map((before?.peerAuthentications ?? []).map((pa) => [key(pa), pa]));
  const now = new Map(after.peerAuthentications.map((pa) => [key(pa), pa]));
  const changes: PolicyChange[] = [];
  for (const [k, pa] of now) {
    const prior = old.get(k);
    if (!prior) changes.push({ namespace: pa.namespace, name: pa.name, change: "added", before: null, after: specOf(pa) });
    else if (JSON.stringify(specOf(prior)) !== JSON.stringify(specOf(pa))) {
      changes.push({ namespace: pa.namespace, name: pa.name, change: "changed", before: specOf(prior), after: specOf(pa) });
    }
  }
  for (const [k, pa] of old) {
    if (!now.has(k)) changes.push({ namespace: pa.namespace, name: pa.name, change: "removed", before: specOf(pa), after: null });
  }
  return changes;
}

function edgeChanges(before: Plan, after: Plan): EdgeChange[] {
  const key = (e: Pick<Edge, "from" | "to" | "host" | "port">) => `${e.from}|${e.to}|${e.host}:${e.port}`;
  const changes = (kind: "call" | "probe", was: Edge[], now: Edge[]): EdgeChange[] => {
    const prior = new Map(was.map((e) => [key(e), e.expect]));
    return now.flatMap((e) => {
      const b = prior.get(key(e));
      if (b === undefined || b === e.expect) return [];
      return [
        {
          kind,
          from: e.from,
          to: e.to,
          host: e.host,
          port: e.port,
          before: b,
          after: e.expect,
          breaking: e.expect === "refused",
          reason: e.reason,
        },
      ];
    });
  };
  const calls = changes("call", before.calls, after.calls);
  // A probe along a declared call is the same edge: it is listed once, as the call.
  const called = new Set(calls.map(key));
  return [...calls, ...changes("probe", before.expectations, after.expectations).filter((e) => !called.has(key(e)))];
}

function progress(plan: Plan, rollout: Rollout): NamespaceProgress[] {
  const portsOf = new Map(rollout.workloads.map((w) => [w.ref, w.containerPorts.length]));
  const zero = (): ModeCount => ({ STRICT: 0, PERMISSIVE: 0, DISABLE: 0, "outside the mesh": 0 });
  const byNamespace = new Map<string, NamespaceProgress>();
  for (const w of plan.workloads) {
    const row = byNamespace.get(w.namespace) ?? { namespace: w.namespace, workloads: zero(), ports: zero(), coverage: 0 };
    byNamespace.set(w.namespace, row);
    row.workloads[w.mode ?? "outside the mesh"]++;
    // A workload without sidecar has no effective port modes: all its ports are outside the mesh.
    if (w.mode === null) row.ports["outside the mesh"] += portsOf.get(`${w.namespace}/${w.name}`) ?? 0;
    for (const mode of Object.values(w.ports)) row.ports[mode]++;
  }
  for (const row of byNamespace.values()) {
    const total = Object.values(row.ports).reduce((a, b) => a + b, 0);
    row.coverage = total === 0 ? 0 : Math.round((row.ports.STRICT / total) * 1000) / 10;
  }
  return [...byNamespace.values()];
}

/** A mesh with the rollout's workloads and no PeerAuthentication: where a fresh rollout starts. */
function freshMesh(rollout: Rollout): Plan {
  const name = "fresh-mesh";
  return buildPlan(
    {
      ...rollout,
      stages: [
        {
          name,
          peerAuthentications: [],
          acknowledgeFindings: [],
          retire: [],
          acknowledgeBrokenCalls: [],
          acknowledgePlaintext: [],
          acknowledgeUnverifiable: [],
        },
      ],
    },
    name,
  );
}

/**
 * The report of `stage` against `previous` (a stage name, or null for a fresh mesh). `previous`
 * defaults, in the CLI, to the stage before it in the rollout.
 */
export function buildStageReport(rollout: Rollout, stage: string, previous: string | null, rolloutFile?: string): StageReport {
  const after = buildPlan(rollout, stage);
  // A first stage of policies the cluster holds already (discover's `current`) is the cluster as found: before it
  // is that cluster, not an empty mesh, so it changes nothing.
  const first = rollout.stages[0];
  const asFound = first.name === stage && first.peerAuthentications.length > 0 && first.peerAuthentications.every((p) => p.existing);
  const before = previous === null ? (asFound ? after : freshMesh(rollout)) : buildPlan(rollout, previous);
  const backTo = previous ?? rollout.stages[0].name;
  // Stage names and paths are one shell word each: names are DNS labels, a path with spaces is quoted.
  const fileFlag = rolloutFile
    ? ` --rollout ${/^[\w./-]+$/.test(rolloutFile) ? rolloutFile : `'${rolloutFile.replace(/'/g, "'\\''")}'`}`
    : "";
  return {
    stage,
    description: after.description ?? null,
    previous,
    policyChanges: policyChanges(previous === null ? null : before, after),
    edgeChanges: edgeChanges(before, after),
    progress: progress(after, rollout),
    violations: after.violations,
    blockingViolations: after.violations.filter(isBlocking).length,
    coverage: after.coverage,
    acknowledged: [
      ...after.acknowledgePlaintext.map((a) => ({ kind: "plaintext" as const, ...a })),
      ...after.acknowledgeUnverifiable.map((a) => ({ kind: "unverifiable" as const, ...a })),
    ],
    edges: [
      ...after.calls.map((e) => ({ ...e, kind: "call" as const })),
      ...after.expectations.map((e) => ({ ...e, kind: "probe" as const })),
    ],
    commands: {
      apply: [
        `npx --no-install mtls-rollout preflight --stage ${stage} --previous live${fileFlag}   # optional: pulumi up runs the same gate`,
        `pulumi config set mtls-rollout:stage ${stage}`,
        "pulumi up",
      ],
      verify: [`npx --no-install mtls-rollout verify --stage ${stage}${fileFlag}`],
      rollback:
        previous === null
          ? ["pulumi destroy   # no earlier stage: remove the stack's policies and workloads"]
          : [`pulumi config set mtls-rollout:stage ${backTo}`, "pulumi up"],
    },
  };
}
