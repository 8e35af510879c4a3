import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import { createHash } from "node:crypto";
import type { Edge } from "../model/expectations";
import type { Plan } from "../model/plan";
import type { Rollout } from "../model/rollout";

/**
 * The CLI entry the verification runs, the same code as `npx --no-install mtls-rollout verify`. Relative to the
 * project directory, where Pulumi runs its providers' commands, so that no machine's absolute paths
 * enter the Command's inputs (they would show as a diff, and rerun it, on every other checkout).
 */
export const CLI_ENTRY = "bin/mtls-rollout.js";

/**
 * What every Command that runs the CLI gives it: the entry, the stage, the rollout file and the cluster. Pulumi cancels
 * a Command by killing its shell: MTLS_ROLLOUT_END_WITH_PARENT makes the CLI then end its kubectl calls and itself.
 * The context and the UID are set even when empty: a value the operator exported (another cluster's context) must not
 * fill in what the stack left out.
 */
export function cliEnvironment(args: { stage: string; rolloutFile: string; kubeContext?: string; clusterUid?: string }) {
  return {
    MTLS_ROLLOUT_CLI: CLI_ENTRY,
    MTLS_ROLLOUT_END_WITH_PARENT: "1",
    MTLS_ROLLOUT_STAGE: args.stage,
    MTLS_ROLLOUT_FILE: args.rolloutFile,
    MTLS_ROLLOUT_CONTEXT: args.kubeContext ?? "",
    MTLS_ROLLOUT_CLUSTER_UID: args.clusterUid ?? "",
  };
}

// Constant: every value reaches the shell only as a quoted environment variable, never spliced in; `exit $?` keeps
// the shell in place (see PREFLIGHT_COMMAND); the cluster's UID reaches the CLI as MTLS_ROLLOUT_CLUSTER_UID.
export const VERIFY_COMMAND =
  'node "$MTLS_ROLLOUT_CLI" verify --stage "$MTLS_ROLLOUT_STAGE" --rollout "$MTLS_ROLLOUT_FILE" ' +
  '--timeout "$MTLS_ROLLOUT_VERIFY_TIMEOUT" --settle "$MTLS_ROLLOUT_VERIFY_SETTLE" ${MTLS_ROLLOUT_CONTEXT:+--context "$MTLS_ROLLOUT_CONTEXT"}; exit $?';

/**
 * Changes exactly when what the verification checks changes: the expected outcome of every probe
 * edge and declared call, and how each probe is made (client container, server path and sidecars).
 * The reasons, which are prose, do not count.
 */
export function expectationsHash(plan: Plan, rollout: Rollout): string {
  const edge = (e: Edge) => [e.from, e.to, e.host, e.port, e.targetPort, e.expect];
  const probing = rollout.workloads.map((w) => [w.ref, w.sidecar, w.container, w.probePath, w.probe]);
  return createHash("sha256")
    .update(JSON.stringify([plan.expectations.map(edge), plan.calls.map(edge), probing]))
    .digest("hex")
    .slice(0, 16);
}

export interface StageVerificationArgs {
  plan: Plan;
  rollout: Rollout;
  /** The rollout file the stack was built from, as the stack config names it (relative to the project). */
  rolloutFile: string;
  kubeContext?: string;
  /** The UID of the cluster the stack is bound to (`mtls-rollout:clusterUid`): the verification probes no other. */
  clusterUid?: string;
  /** The verifier's own deadline, in seconds; the Command's timeout leaves room for it to report. */
  timeoutSeconds: number;
  /** Seconds at the start whose rounds do not count, while istiod pushes the stage (the CLI's --settle). */
  settleSeconds: number;
  /** The stage's resources: the probes run only after all of them are applied. */
  after: pulumi.Resource[];
  /**
   * The resourceVersion of each of the stack's PeerAuthentications as the cluster has them (with `refresh: always`,
   * as read before the update): a policy changed on the cluster and put back by the update verifies again.
   */
  policyVersions?: pulumi.Input<string | undefined>[];
  /** Every stage of the rollout: earlier versions named the Command after one of them (an alias each). */
  stageNames: string[];
}

/**
 * What a changed input that reruns nothing (the deadline) runs instead: the previous output again, so the
 * stack output keeps the last verification's summary.
 */
export const VERIFY_KEEP_COMMAND = 'printf "%s\\n" "$PULUMI_COMMAND_STDOUT"';

/**
 * Runs `mtls-rollout verify` after the stage is applied and fails `pulumi up` when the cluster
 * contradicts the model. The triggers replace the Command, and so run it again, whenever the stage
 * or its expectations change; a failed run is not recorded, so the next `up` retries it.
 */
export class StageVerification extends pulumi.ComponentResource {
  readonly command: command.local.Command;
  /** The verifier's one-line summary. */
  readonly summary: pulumi.Output<string>;
  /** When it ended (RFC 3339), from its `Ended:` line; empty before it ran. */
  readonly endedAt: pulumi.Output<string>;

  constructor(name: string, args: StageVerificationArgs, opts?: pulumi.ComponentResourceOptions) {
    super("mtls-rollout:index:StageVerification", name, { stage: args.plan.stage }, opts);
    const environment: Record<string, string> = {
      ...cliEnvironment({ ...args, stage: args.plan.stage }),
      MTLS_ROLLOUT_VERIFY_TIMEOUT: String(args.timeoutSeconds),
      MTLS_ROLLOUT_VERIFY_SETTLE: String(args.settleSeconds),
      // A pass is recorded in the cluster (ConfigMap mtls-rollout-verified), where the next stage's gate reads it.
      MTLS_ROLLOUT_RECORD_VERIFIED: "1",
    };
    const commandTimeout = `${args.timeoutSeconds + 60}s`;
    this.command = new command.local.Command(
      "verify",
      {
        create: VERIFY_COMMAND,
        update: VERIFY_KEEP_COMMAND,
        environment,
        // What it checks (the stage, its expectations), where (the context, the cluster), and the policies as the cluster
        // holds them: any change reruns it. A new deadline alone does not.
        triggers: [
          args.plan.stage,
          expectationsHash(args.plan, args.rollout),
          args.kubeContext ?? "",
          args.clusterUid ?? "",
          pulumi.all(args.policyVersions ?? []).apply((versions) =>
            createHash("sha256")
              .update(JSON.stringify(versions.map((v) => v ?? "")))
              .digest("hex")
              .slice(0, 16),
          ),
        ],
        logging: "stdoutAndStderr",
        addPreviousOutputInEnv: true,
      },
      {
        parent: this,
        dependsOn: args.after,
        customTimeouts: { create: commandTimeout, update: commandTimeout },
        aliases: args.stageNames.map((s) => ({ name: `verify-${s}` })),
      },
    );
    // The last line the verifier prints is its summary; stdout is unset until the Command has run.
    this.summary = this.command.stdout.apply((out) => (out ?? "").trim().split("\n").pop() ?? "");
    this.endedAt = this.command.stdout.apply((out) => /^Ended: (\S+)$/m.exec(out ?? "")?.[1] ?? "");
    this.registerOutputs({ summary: this.summary, endedAt: this.endedAt });
  }
}
