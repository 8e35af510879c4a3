import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { deploymentManifest, serviceManifests } from "../manifests/kubernetes";
import type { Workload as RolloutWorkload } from "../model/rollout";

export interface WorkloadArgs {
  /** The validated workload from the rollout. */
  workload: RolloutWorkload;
  /** The workload's namespace name; an Output of the Namespace resource when this stack creates it. */
  namespace: pulumi.Input<string>;
  /** The workload's ServiceAccount when this stack manages it (not for `default`, which Kubernetes owns). */
  serviceAccount?: k8s.core.v1.ServiceAccount;
  /** What must be ready before the pods start (Istio's injection webhook for a sidecar workload). */
  after?: pulumi.Resource[];
  provider: k8s.Provider;
}

/** One workload the stack deploys (a lab app, a probe of the kit): its Deployment and its Services. */
export class Workload extends pulumi.ComponentResource {
  readonly deployment: k8s.apps.v1.Deployment;
  /** Its Services, each named namespace/name as before there could be several. */
  readonly services: k8s.core.v1.Service[];
  /** Its first Service, if any. */
  readonly service?: k8s.core.v1.Service;

  constructor(name: string, args: WorkloadArgs, opts?: pulumi.ComponentResourceOptions) {
    super("mtls-rollout:index:Workload", name, {}, opts);
    const child = { parent: this, provider: args.provider };
    const { workload } = args;

    const deployment = deploymentManifest(workload);
    this.deployment = new k8s.apps.v1.Deployment(
      name,
      { metadata: { ...deployment.metadata, namespace: args.namespace }, spec: deployment.spec },
      // The pod's identity, which its mTLS certificate carries, must exist before the pod.
      { ...child, dependsOn: [...(args.serviceAccount ? [args.serviceAccount] : []), ...(args.after ?? [])] },
    );

    this.services = serviceManifests(workload).map(
      (service) =>
        new k8s.core.v1.Service(
          `${workload.namespace}/${service.metadata.name}`,
          { metadata: { ...service.metadata, namespace: args.namespace }, spec: service.spec },
          child,
        ),
    );
    this.service = this.services[0];

    this.registerOutputs({ deployment: this.deployment, service: this.service, services: this.services });
  }
}
