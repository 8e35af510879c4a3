import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import { cliEnvironment } from "./verification";

/** What the refusal says first, for whoever reads a failed destroy (and the e2e walk). */
export const DESTROY_REFUSAL = "pulumi destroy is refused";

/**
 * Runs when the guard is deleted, which `pulumi destroy` does before any policy or probe it depends on: exit 0 only
 * where the context reaches the stack's cluster (status checks MTLS_ROLLOUT_CLUSTER_UID first, exit 2 otherwise) and
 * its policies are exactly the first stage's (`--policies-only`, exit 4 otherwise), or, handed over, whatever stage
 * they are at: only status's own answers count, never a crash (node exits 1). A destroy does not run the program
 * (unless --run-program), so this is the one check of the cluster it makes; and with --run-program the policies'
 * `protect` comes from the configured stage, not the applied one, which this reads live.
 */
export const DESTROY_GUARD_COMMAND = [
  'node "$MTLS_ROLLOUT_CLI" status --rollout "$MTLS_ROLLOUT_FILE" --stage "$MTLS_ROLLOUT_STAGE" --policies-only --written-by "$MTLS_ROLLOUT_STACKS" --stage-digest "$MTLS_ROLLOUT_STAGE_DIGEST" ${MTLS_ROLLOUT_CONTEXT:+--context "$MTLS_ROLLOUT_CONTEXT"}',
  "code=$?",
  'if [ "$code" -eq 0 ] || { [ -n "$MTLS_ROLLOUT_HANDOVER" ] && [ "$code" -eq 4 ]; }; then exit 0; fi',
  `if [ "$code" -eq 4 ]; then echo "${DESTROY_REFUSAL}: the cluster's policies are not stage $MTLS_ROLLOUT_STAGE's (see above), and deleting the stack's would drop exceptions and keep what is STRICT, ungated. Go back first: pulumi config set mtls-rollout:stage $MTLS_ROLLOUT_STAGE && pulumi up, then pulumi destroy; or keep them: pulumi config set mtls-rollout:handover true && pulumi up, then pulumi destroy." >&2`,
  `else echo "${DESTROY_REFUSAL}: status could not tell that the context reaches the stack's cluster and what its policies are (exit $code, see above): nothing is deleted." >&2; fi`,
  "exit 1",
].join("\n");

/** Why the guard's stored cluster (its last `up`'s) is not the config's, or undefined when it is (or none was stored). */
export function storedClusterProblem(stored: string | undefined, configured: string | undefined): string | undefined {
  if (configured === undefined || stored === undefined || stored === "" || stored === configured) return undefined;
  return (
    `mtls-rollout:clusterUid is ${configured}, but the stack's resources are on the cluster ${stored}, as its last up left them: ` +
    `a refresh or destroy that runs the program would check that cluster and act on the other. Point the config back at ${stored}; ` +
    `to move the stack, run pulumi up --refresh=false --run-program=false`
  );
}

export interface DestroyGuardArgs {
  /** The rollout's first stage: the only one a destroy may delete the stack's policies at. */
  firstStage: string;
  /** Its policies' digest (stagePoliciesDigest): the guard judges the cluster only against that first stage. */
  firstStageDigest: string;
  rolloutFile: string;
  kubeContext?: string;
  clusterUid?: string;
  /** This stack and the names it had (`organization/project/stack`): only the extra policies they wrote count. */
  stacks: string[];
  /** `mtls-rollout:handover`: the policies stay, so any stage will do; the cluster is still checked. */
  handover: boolean;
  /** Everything a destroy would delete on the cluster: it waits for the guard's check. */
  guards: pulumi.Resource[];
}

/**
 * The check a `pulumi destroy` of a stack on a mesh it does not own makes before it deletes anything on the cluster.
 * Its Command does nothing when created or updated (no trigger: it is never replaced, which would run the check);
 * it depends on every resource the stack has on the cluster, so that a destroy deletes it, and runs the check, first.
 */
export class DestroyGuard extends pulumi.ComponentResource {
  readonly command: command.local.Command;
  /**
   * Fails the program where the guard's stored cluster is not the config's: a `destroy` or `refresh` that runs the
   * program gets the Command's stored outputs back, while the providers take the config's context (pulumi
   * step_generator.go, continueStepsFromRefresh), so the guard would check one cluster and the deletes go to another.
   */
  readonly bound: pulumi.Output<void>;

  constructor(name: string, args: DestroyGuardArgs, opts?: pulumi.ComponentResourceOptions) {
    super("mtls-rollout:index:DestroyGuard", name, { firstStage: args.firstStage, handover: args.handover }, opts);
    this.command = new command.local.Command(
      "destroy-guard",
      {
        create: "true",
        delete: DESTROY_GUARD_COMMAND,
        environment: {
          ...cliEnvironment({ ...args, stage: args.firstStage }),
          MTLS_ROLLOUT_HANDOVER: args.handover ? "1" : "",
          MTLS_ROLLOUT_STACKS: args.stacks.join(","),
          MTLS_ROLLOUT_STAGE_DIGEST: args.firstStageDigest,
        },
        // pulumi-command's error carries the output already (a refusal printed once).
        logging: "none",
      },
      { parent: this, dependsOn: args.guards, customTimeouts: { delete: "180s" } },
    );
    // In the component's outputs, so that a failure fails the program (before a destroy deletes anything).
    this.bound = this.command.environment.apply((env) => {
      const problem = storedClusterProblem(env?.MTLS_ROLLOUT_CLUSTER_UID, args.clusterUid);
      if (problem) throw new pulumi.RunError(problem);
    });
    this.registerOutputs({ firstStage: args.firstStage, handover: args.handover, bound: this.bound });
  }
}
