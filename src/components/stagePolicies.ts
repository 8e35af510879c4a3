import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import {
  dormantPeerAuthenticationManifest,
  PeerAuthenticationManifest,
  peerAuthenticationManifest,
  PREFLIGHT_ANNOTATION,
} from "../manifests/kubernetes";
import type { PreflightGate } from "./preflight";
import type { PlannedPolicy } from "../model/plan";
import type { BrokenCallAcknowledgement } from "../model/rollout";
import type { DormantPolicy } from "../model/stages";

/** What the policy pack needs to know of the stage beyond its resources; the component's inputs and outputs. */
export interface StageSettings {
  stage: string;
  meshRootNamespace: string;
  acknowledgeBrokenCalls: BrokenCallAcknowledgement[];
}

export interface StagePoliciesArgs {
  settings: StageSettings;
  policies: PlannedPolicy[];
  /** The later stages' policies, declared without effect. */
  dormant: DormantPolicy[];
  /** The stage's pre-flight gate, when it tightens workloads to STRICT. */
  gate?: PreflightGate;
  /** What every policy waits for besides its workloads: Istio's CRDs when the stack installs Istio. */
  after: pulumi.Resource[];
  /** The namespace name for each policy's namespace; an Output where this stack creates the namespace. */
  namespaceOf: (namespace: string) => pulumi.Input<string>;
  /** The resources a policy must wait for: the workloads whose mode it sets. */
  dependenciesOf: (policy: PlannedPolicy) => pulumi.Resource[];
  provider: k8s.Provider;
}

/** The PeerAuthentications in force at one stage, as `security.istio.io/v1` custom resources. */
export class StagePolicies extends pulumi.ComponentResource {
  readonly peerAuthentications: k8s.apiextensions.CustomResource[];

  constructor(name: string, args: StagePoliciesArgs, opts?: pulumi.ComponentResourceOptions) {
    super("mtls-rollout:index:StagePolicies", name, { ...args.settings }, opts);
    // Named namespace/name, like Kubernetes objects, so a stage change updates the same resource.
    // With a pre-flight gate, every policy carries the gate's output: none changes before the gate passes.
    const gate = args.gate;
    const declare = (manifest: PeerAuthenticationManifest, dependsOn: pulumi.Resource[]) =>
      new k8s.apiextensions.CustomResource(
        `${manifest.metadata.namespace}/${manifest.metadata.name}`,
        {
          ...manifest,
          metadata: {
            ...manifest.metadata,
            namespace: args.namespaceOf(manifest.metadata.namespace),
            annotations: gate
              ? gate.passed.apply((passed) => ({ ...manifest.metadata.annotations, [PREFLIGHT_ANNOTATION]: passed }))
              : manifest.metadata.annotations,
          },
        },
        { parent: this, provider: args.provider, dependsOn: [...dependsOn, ...args.after, ...(gate ? [gate.command] : [])] },
      );
    this.peerAuthentications = [
      ...args.policies.map((policy) => declare(peerAuthenticationManifest(policy), args.dependenciesOf(policy))),
      ...args.dormant.map((policy) => declare(dormantPeerAuthenticationManifest(policy), [])),
    ];
    this.registerOutputs({ ...args.settings, peerAuthentications: this.peerAuthentications });
  }
}
