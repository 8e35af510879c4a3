import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import { createHash } from "node:crypto";
import type { PeerAuthentication } from "../model/rollout";
import { cliEnvironment } from "./verification";

/**
 * `mtls-rollout status` before any policy is adopted: adoption imports each policy and server-side-applies the stage's
 * spec over it, so a file the cluster has moved away from would rewrite live policies unseen. The program refuses an
 * adopted policy changed since the first stage found it; this gate holds the whole cluster (every workload's modes,
 * policies the rollout does not adopt) to a stage when the `up` runs, which a preview does not. Exit
 * 0 only where the cluster is at a stage of the rollout: on the first adoption, the first stage (the cluster as
 * discover found it); a stack that runs already is at the stage it applied, and going back is not stopped. `exit $?`
 * keeps the shell in place of node (see PREFLIGHT_COMMAND).
 */
export const ADOPTION_COMMAND =
  'node "$MTLS_ROLLOUT_CLI" status --rollout "$MTLS_ROLLOUT_FILE" ${MTLS_ROLLOUT_CONTEXT:+--context "$MTLS_ROLLOUT_CONTEXT"}; exit $?';

/** Changes exactly when the policies adopted as found change: not from stage to stage. */
export function adoptedHash(policies: readonly PeerAuthentication[]): string {
  const key = policies.map((p) => [p.namespace, p.name, p.selector, p.mode, p.portLevelMtls ?? null]);
  return createHash("sha256").update(JSON.stringify(key)).digest("hex").slice(0, 16);
}

export interface AdoptionGateArgs {
  /** The rollout's first stage: the cluster as found, which the live policies must be before they are adopted. */
  stage: string;
  /** Its adopted policies (`existing: true`). */
  adopted: PeerAuthentication[];
  rolloutFile: string;
  kubeContext?: string;
  clusterUid?: string;
  /** Every stage of the rollout: the Command keeps one name whatever the stage. */
  stageNames: string[];
}

/**
 * Runs once per set of policies adopted as found (its trigger), before any policy of the stage is written: the
 * `up` stops, with status's differences, where the cluster is not at the first stage.
 */
export class AdoptionGate extends pulumi.ComponentResource {
  readonly command: command.local.Command;

  constructor(name: string, args: AdoptionGateArgs, opts?: pulumi.ComponentResourceOptions) {
    super("mtls-rollout:index:AdoptionGate", name, { stage: args.stage }, opts);
    this.command = new command.local.Command(
      "adoption-status",
      {
        create: ADOPTION_COMMAND,
        update: "true",
        environment: {
          ...cliEnvironment(args),
        },
        // Only what is adopted as found: a renamed context or a later stage does not run it again.
        triggers: [args.stage, adoptedHash(args.adopted)],
        logging: "stdoutAndStderr",
      },
      { parent: this, customTimeouts: { create: "180s", update: "180s" } },
    );
    this.registerOutputs({});
  }
}
