import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import { createHash } from "node:crypto";
import * as path from "node:path";
import type { Plan } from "../model/plan";

/** The CLI entry the verification runs, from this checkout: the same code as `npx mtls-rollout verify`. */
export const CLI_PATH = path.resolve(__dirname, "..", "..", "bin", "mtls-rollout.js");

// Constant: every value reaches the shell only as a quoted environment variable, never spliced in.
export const VERIFY_COMMAND =
  '"$MTLS_ROLLOUT_NODE" "$MTLS_ROLLOUT_CLI" verify --stage "$MTLS_ROLLOUT_STAGE" --rollout "$MTLS_ROLLOUT_FILE" ' +
  '--timeout "$MTLS_ROLLOUT_VERIFY_TIMEOUT" ${MTLS_ROLLOUT_CONTEXT:+--context "$MTLS_ROLLOUT_CONTEXT"}';

/** Changes exactly when what the stage is expected to do changes. */
export function expectationsHash(plan: Plan): string {
  const edges = plan.expectations.map((e) => [e.from, e.to, e.host, e.port, e.targetPort, e.expect]);
  return createHash("sha256").update(JSON.stringify(edges)).digest("hex").slice(0, 16);
}

export interface StageVerificationArgs {
  plan: Plan;
  /** Absolute path of the rollout file the stack was built from. */
  rolloutFile: string;
  kubeContext?: string;
  /** The verifier's own deadline, in seconds; the Command's timeout leaves room for it to report. */
  timeoutSeconds: number;
  /** The stage's resources: the probes run only after all of them are applied. */
  after: pulumi.Resource[];
}

/**
 * Runs `mtls-rollout verify` after the stage is applied and fails `pulumi up` when the cluster
 * contradicts the model. The triggers replace the Command, and so run it again, whenever the stage
 * or its expectations change; a failed run is not recorded, so the next `up` retries it.
 */
export class StageVerification extends pulumi.ComponentResource {
  readonly command: command.local.Command;
  /** The verifier's one-line summary. */
  readonly summary: pulumi.Output<string>;

  constructor(name: string, args: StageVerificationArgs, opts?: pulumi.ComponentResourceOptions) {
    super("mtls-rollout:index:StageVerification", name, { stage: args.plan.stage }, opts);
    const environment: Record<string, string> = {
      MTLS_ROLLOUT_NODE: process.execPath,
      MTLS_ROLLOUT_CLI: CLI_PATH,
      MTLS_ROLLOUT_STAGE: args.plan.stage,
      MTLS_ROLLOUT_FILE: args.rolloutFile,
      MTLS_ROLLOUT_VERIFY_TIMEOUT: String(args.timeoutSeconds),
      ...(args.kubeContext ? { MTLS_ROLLOUT_CONTEXT: args.kubeContext } : {}),
    };
    const commandTimeout = `${args.timeoutSeconds + 60}s`;
    this.command = new command.local.Command(
      `verify-${args.plan.stage}`,
      {
        create: VERIFY_COMMAND,
        environment,
        triggers: [args.plan.stage, expectationsHash(args.plan)],
        logging: "stdoutAndStderr",
        addPreviousOutputInEnv: false,
      },
      { parent: this, dependsOn: args.after, customTimeouts: { create: commandTimeout, update: commandTimeout } },
    );
    // The last line the verifier prints is its summary; stdout is unset until the Command has run.
    this.summary = this.command.stdout.apply((out) => (out ?? "").trim().split("\n").pop() ?? "");
    this.registerOutputs({ summary: this.summary });
  }
}
