import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import { createHash } from "node:crypto";
import type { Target } from "../model/preflight";
import { cliEnvironment } from "./verification";

// Constant: every value reaches the shell only as a quoted environment variable, never spliced in. The Prometheus
// access is not even that: its URL may carry a password, its token and headers are credentials, and a process's
// arguments are visible to every user of the machine (`ps`); the CLI reads them from its MTLS_ROLLOUT_PROMETHEUS_*
// variables itself. It ends with `exit $?` so that no shell (bash as /bin/sh) hands its place to node, whose kubectl
// children would then outlive a cancelled Command. The cluster's UID reaches the CLI the same way (its
// MTLS_ROLLOUT_CLUSTER_UID), which checks it before it reads anything.
export const PREFLIGHT_COMMAND =
  'node "$MTLS_ROLLOUT_CLI" preflight --stage "$MTLS_ROLLOUT_STAGE" --previous "$MTLS_ROLLOUT_PREVIOUS" ' +
  '--rollout "$MTLS_ROLLOUT_FILE" ${MTLS_ROLLOUT_WINDOW:+--window "$MTLS_ROLLOUT_WINDOW"} ' +
  '${MTLS_ROLLOUT_SINCE:+--since "$MTLS_ROLLOUT_SINCE"} ' +
  '${MTLS_ROLLOUT_CONTEXT:+--context "$MTLS_ROLLOUT_CONTEXT"}; exit $?';

/** Changes exactly when the set of workload ports the stage makes STRICT changes. */
export function targetsHash(targets: readonly Target[]): string {
  const key = targets.map((t) => `${t.workload}:${t.ports.join(",")}`).sort();
  return createHash("sha256").update(JSON.stringify(key)).digest("hex").slice(0, 16);
}

/** A Prometheus access (src/cluster/prometheus.ts) as the gate's Command gets it: each part in its own variable. */
export interface PrometheusGateAccess {
  url: pulumi.Input<string>;
  token?: pulumi.Input<string>;
  tokenFile?: string;
  /** `Name: value` lines. */
  headers?: pulumi.Input<string>;
  caFile?: string;
}

export interface PreflightGateArgs {
  stage: string;
  /** What the gate compares with: `live` (the cluster's policies when it runs), a stage, or `none`. */
  previous: string;
  targets: Target[];
  rolloutFile: string;
  /** Unset: the gate's default (60 s between sidecar reads, a 1 h look-back in Prometheus). */
  windowSeconds?: number;
  /**
   * The Prometheus the gate reads instead of the sidecars. Its URL, token and headers are secrets when the stack
   * config holds them as such: they stay secrets in the Command.
   */
  prometheus?: PrometheusGateAccess;
  /** With Prometheus: `recorded` (when the last verification ended, as the cluster records it), an RFC 3339 time, or empty. */
  since?: pulumi.Input<string>;
  kubeContext?: string;
  /** The UID of the cluster the stack is bound to (`mtls-rollout:clusterUid`): the gate reads no other. */
  clusterUid?: string;
  /** The workloads whose traffic the gate watches: they must exist first. */
  after: pulumi.Resource[];
  /** Every stage of the rollout: earlier versions named the Command after one of them (an alias each). */
  stageNames: string[];
}

/**
 * The pre-flight gate of a stage that tightens workloads to STRICT: `mtls-rollout preflight`, run
 * before the stage's PeerAuthentications change. When it finds plaintext (or no evidence) it fails,
 * and `pulumi up` stops with the cluster's policies as they were.
 */
export class PreflightGate extends pulumi.ComponentResource {
  readonly command: command.local.Command;
  /** The hash of the ports it gated, once it passed. */
  readonly passed: pulumi.Output<string>;

  constructor(name: string, args: PreflightGateArgs, opts?: pulumi.ComponentResourceOptions) {
    super("mtls-rollout:index:PreflightGate", name, { stage: args.stage }, opts);
    const timeout = `${(args.windowSeconds ?? (args.prometheus ? 0 : 60)) + 180}s`;
    this.command = new command.local.Command(
      "preflight",
      {
        create: PREFLIGHT_COMMAND,
        // Only a change of targets (a trigger) reruns the gate; a changed window or URL must not gate a
        // stage that is already applied.
        update: "true",
        environment: {
          ...cliEnvironment(args),
          MTLS_ROLLOUT_PREVIOUS: args.previous,
          // Every variable the script reads is set, empty when unset: a value the operator exported must not fill in
          // what the stack left out.
          MTLS_ROLLOUT_WINDOW: args.windowSeconds !== undefined ? String(args.windowSeconds) : "",
          MTLS_ROLLOUT_PROMETHEUS_URL: args.prometheus?.url ?? "",
          MTLS_ROLLOUT_PROMETHEUS_TOKEN: args.prometheus?.token ?? "",
          MTLS_ROLLOUT_PROMETHEUS_TOKEN_FILE: args.prometheus?.tokenFile ?? "",
          MTLS_ROLLOUT_PROMETHEUS_HEADERS: args.prometheus?.headers ?? "",
          MTLS_ROLLOUT_PROMETHEUS_CA_FILE: args.prometheus?.caFile ?? "",
          MTLS_ROLLOUT_SINCE: args.since ?? "",
        },
        // What it checks (the stage and the ports it tightens) and where (the context, the cluster): any change reruns it.
        triggers: [args.stage, targetsHash(args.targets), args.kubeContext ?? "", args.clusterUid ?? ""],
        logging: "stdoutAndStderr",
        addPreviousOutputInEnv: false,
      },
      {
        parent: this,
        dependsOn: args.after,
        customTimeouts: { create: timeout, update: timeout },
        aliases: args.stageNames.map((s) => ({ name: `preflight-${s}` })),
      },
    );
    this.passed = this.command.triggers.apply((t) => String(t?.[1] ?? ""));
    this.registerOutputs({ passed: this.passed });
  }
}
