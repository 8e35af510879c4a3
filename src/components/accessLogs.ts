import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { accessLogTelemetryManifest, type AccessLogScope } from "../manifests/telemetry";
import type { AccessLogTarget } from "../model/accessLogs";

export interface AccessLogsArgs {
  /** The workloads whose refusals only their access log can show at this stage (src/model/accessLogs.ts). */
  targets: AccessLogTarget[];
  /** `all`: every inbound connection and request of those workloads; `refusals`: the refused connections only. */
  scope: AccessLogScope;
  provider: k8s.Provider;
  /** Istio's CRDs, when the stack installs Istio. */
  after: pulumi.Resource[];
}

/**
 * Envoy's access log, switched on with Istio's Telemetry API for the sidecars of workloads the stack does not own,
 * so that the verifier can read a STRICT refusal on a port that is not HTTP. A stage that needs none declares none,
 * and Pulumi removes the ones an earlier stage declared.
 */
export class AccessLogs extends pulumi.ComponentResource {
  readonly telemetries: k8s.apiextensions.CustomResource[];
  /** `namespace/workload` of each workload whose access log is on. */
  readonly workloads: string[];

  constructor(name: string, args: AccessLogsArgs, opts?: pulumi.ComponentResourceOptions) {
    super("mtls-rollout:index:AccessLogs", name, { scope: args.scope }, opts);
    this.workloads = args.targets.map((t) => t.workload.ref);
    // Named namespace/workload: the same resource at every stage that needs it.
    this.telemetries = args.targets.map(
      (t) =>
        new k8s.apiextensions.CustomResource(t.workload.ref, accessLogTelemetryManifest(t.workload, args.scope), {
          parent: this,
          provider: args.provider,
          dependsOn: args.after,
        }),
    );
    this.registerOutputs({ workloads: this.workloads });
  }
}
