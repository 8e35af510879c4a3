import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import {
  dormantPeerAuthenticationManifest,
  PeerAuthenticationManifest,
  peerAuthenticationManifest,
  STACK_ANNOTATION,
} from "../manifests/kubernetes";

/** pulumi-kubernetes: take over fields another field manager owns, instead of failing on the conflict. */
const PATCH_FORCE_ANNOTATION = "pulumi.com/patchForce";
import type { PreflightGate } from "./preflight";
import type { PlannedPolicy } from "../model/plan";
import type { BrokenCallAcknowledgement, FindingAcknowledgement, MeshWorkload } from "../model/rollout";
import type { DormantPolicy } from "../model/stages";
import type { DestinationRule } from "../model/clientTls";

/** What the policy pack needs to know of the stage beyond its resources; the component's inputs and outputs. */
export interface StageSettings {
  stage: string;
  meshRootNamespace: string;
  acknowledgeBrokenCalls: BrokenCallAcknowledgement[];
  /** Guardrail findings the stage accepts (the cluster as discover found it). */
  acknowledgeFindings: FindingAcknowledgement[];
  /** The cluster's DestinationRules and the mesh's auto mTLS: what clients' sidecars send. */
  destinationRules: DestinationRule[];
  enableAutoMtls: boolean;
  destinationRulesPrivateByDefault: boolean;
  /** `namespace/name` of the policies in force, in the order Istio applies competing ones (the older first). */
  policyOrder: string[];
  /** The workloads that run without the stack (`deploy: false`): the pack sees no Deployment of theirs. */
  existingWorkloads: MeshWorkload[];
}

export interface StagePoliciesArgs {
  settings: StageSettings;
  policies: PlannedPolicy[];
  /** The later stages' policies, declared without effect. */
  dormant: DormantPolicy[];
  /** The stage's pre-flight gate, when it tightens workloads to STRICT. */
  gate?: PreflightGate;
  /** The adoption gate, when the stack adopts policies: none is written before the cluster is shown to be as found. */
  adoptionGate?: { command: pulumi.Resource };
  /** What every policy waits for besides its workloads: Istio's CRDs when the stack installs Istio. */
  after: pulumi.Resource[];
  /** The namespace name for each policy's namespace; an Output where this stack creates the namespace. */
  namespaceOf: (namespace: string) => pulumi.Input<string>;
  /** The resources a policy must wait for: the workloads whose mode it sets. */
  dependenciesOf: (policy: PlannedPolicy) => pulumi.Resource[];
  provider: k8s.Provider;
  /** The stack, `organization/project/stack`, which every policy names (STACK_ANNOTATION). */
  stack: string;
  /** The adopted policies (`namespace/name`) declared with Pulumi's `import`. */
  imported: ReadonlySet<string>;
  /**
   * `delete`: a destroy deletes the stack's policies (the first stage, whose policies change no mode of a mesh that
   * had none, or the lab); `refuse`: every policy is protected, so `pulumi destroy` stops before it changes a mode
   * (past the first stage, a destroy would drop the exceptions and keep STRICT, ungated); `handover`: every policy is
   * left on the cluster as the stage has it, and forgotten by the stack.
   */
  onDestroy: PolicyDestroy;
}

export type PolicyDestroy = "delete" | "refuse" | "handover";

/** The PeerAuthentications in force at one stage, as `security.istio.io/v1` custom resources. */
export class StagePolicies extends pulumi.ComponentResource {
  readonly peerAuthentications: k8s.apiextensions.CustomResource[];

  constructor(name: string, args: StagePoliciesArgs, opts?: pulumi.ComponentResourceOptions) {
    super("mtls-rollout:index:StagePolicies", name, { ...args.settings }, opts);
    // Named namespace/name, like Kubernetes objects, so a stage change updates the same resource.
    // With a pre-flight gate, every policy waits for it (dependsOn, not an input: a policy the stage does not
    // change must not show a diff): none changes before the gate passes, and none when it fails.
    const gate = args.gate;
    const declare = (manifest: PeerAuthenticationManifest, dependsOn: pulumi.Resource[], adopted: boolean, inForce: boolean) => {
      // Every policy is the stack's to write: server-side apply with force (patchForce), so that the stack's spec wins
      // over a field another manager owns, a `kubectl edit` of drift included (pulumi-kubernetes applies without force
      // otherwise, and the update fails on the conflict); an adopted one is left on the cluster when the stack lets go.
      const annotations = { ...manifest.metadata.annotations, [STACK_ANNOTATION]: args.stack, [PATCH_FORCE_ANNOTATION]: "true" };
      const id = `${manifest.metadata.namespace}/${manifest.metadata.name}`;
      return new k8s.apiextensions.CustomResource(
        id,
        {
          ...manifest,
          metadata: {
            ...manifest.metadata,
            namespace: args.namespaceOf(manifest.metadata.namespace),
            annotations,
          },
        },
        {
          parent: this,
          provider: args.provider,
          // An adopted policy is imported (the Kubernetes id, namespace/name): the preview shows `= import`, then the
          // update to the stage's spec. Pulumi imports only what its state does not hold under that id, so every later
          // `up` is a plain update; and an import reads the object, so a policy that is gone fails the `up`.
          ...(adopted && args.imported.has(id) ? { import: id } : {}),
          dependsOn: [
            ...dependsOn,
            ...args.after,
            ...(gate ? [gate.command] : []),
            ...(args.adoptionGate ? [args.adoptionGate.command] : []),
          ],
          // Handed over: the policies in force stay as the stage has them; dormant ones, inert, go (left behind, an
          // older selector-less one would hold its namespace's place against a policy the team makes later).
          ...(adopted || (args.onDestroy === "handover" && inForce) ? { retainOnDelete: true } : {}),
          // Only what is in force changes a mode when deleted: a dormant policy may go (dropped from a later stage).
          ...(args.onDestroy === "refuse" && inForce ? { protect: true } : {}),
        },
      );
    };
    this.peerAuthentications = [
      ...args.policies.map((policy) =>
        declare(peerAuthenticationManifest(policy), args.dependenciesOf(policy), policy.existing === true, true),
      ),
      // An adopted policy stays the adopted object when it is retired: imported if need be, never deleted.
      ...args.dormant.map((policy) => declare(dormantPeerAuthenticationManifest(policy), [], policy.adopted === true, false)),
    ];
    this.registerOutputs({ ...args.settings, peerAuthentications: this.peerAuthentications });
  }
}
