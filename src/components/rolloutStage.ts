import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { namespaceManifest, serviceAccountManifest } from "../manifests/kubernetes";
import type { Plan, PlannedPolicy } from "../model/plan";
import { meshWorkloadOf, Rollout } from "../model/rollout";
import { selects } from "../model/semantics";
import type { IstioControlPlane } from "./istio";
import { PreflightGate, PreflightGateArgs } from "./preflight";
import { Workload } from "./workload";
import { StagePolicies, type PolicyDestroy } from "./stagePolicies";
import { AdoptionGate, type AdoptionGateArgs } from "./adoptionGate";
import { AccessLogs } from "./accessLogs";
import { accessLogTargets } from "../model/accessLogs";
import type { AccessLogScope } from "../manifests/telemetry";

/**
 * The name of the components inside a stage. The stage itself is an input (and the Commands' trigger), not
 * part of a name: a name that changed with the stage would delete and recreate them at every stage.
 */
export const STAGE_COMPONENT = "mtls-rollout";

/** Earlier versions named these components after the stage: any stage's name is an alias of the fixed one. */
export const stageNameAliases = (rollout: Rollout): pulumi.Alias[] => rollout.stages.map((s) => ({ name: s.name }));

export interface RolloutStageArgs {
  rollout: Rollout;
  /** The plan of the chosen stage: what the model says this stage means. */
  plan: Plan;
  provider: k8s.Provider;
  /** The stack, `organization/project/stack`: every policy names it (STACK_ANNOTATION). */
  stack: string;
  /** The adopted policies (`namespace/name`) to declare with Pulumi's `import`. */
  imported?: ReadonlySet<string>;
  /** The pre-flight gate to run between the workloads and the policies, when the stage tightens any. */
  preflight?: Omit<PreflightGateArgs, "after" | "stageNames">;
  /** Istio, when the stack installs it: its CRDs before any policy, its injection webhook before any sidecar. */
  istio?: IstioControlPlane;
  /** Envoy's access log for the workloads whose refusals only it can show (`mtls-rollout:accessLogs`); none when absent. */
  accessLogs?: AccessLogScope;
  /** What `pulumi destroy` may do to the policies (see StagePoliciesArgs.onDestroy); deletes them when absent. */
  onDestroy?: PolicyDestroy;
  /** Where the adoption gate runs `status` (the stack's rollout file and cluster), when the stack adopts policies. */
  adoption?: Omit<AdoptionGateArgs, "stage" | "adopted" | "stageNames">;
}

/**
 * Everything one stage of a rollout declares: the namespaces it creates, the workloads it deploys (the
 * lab's apps and the probe kit; never a `deploy: false` workload), and the stage's PeerAuthentications.
 */
export class RolloutStage extends pulumi.ComponentResource {
  readonly namespaces: Map<string, k8s.core.v1.Namespace>;
  /** One per namespace/name, shared by the workloads that run as it. */
  readonly serviceAccounts: Map<string, k8s.core.v1.ServiceAccount>;
  readonly workloads: Map<string, Workload>;
  readonly policies: StagePolicies;
  readonly preflight?: PreflightGate;
  readonly accessLogs?: AccessLogs;
  readonly adoptionGate?: AdoptionGate;

  constructor(name: string, args: RolloutStageArgs, opts?: pulumi.ComponentResourceOptions) {
    super("mtls-rollout:index:RolloutStage", name, { stage: args.plan.stage }, opts);
    const { rollout, plan, provider } = args;
    const child = { parent: this, provider };

    this.namespaces = new Map(
      rollout.namespaces
        .filter((ns) => !ns.existing)
        .map((ns) => [ns.name, new k8s.core.v1.Namespace(ns.name, namespaceManifest(ns), child)]),
    );
    // Children reference the Namespace's output, so Pulumi creates the namespace first and deletes it last.
    const namespaceOf = (namespace: string): pulumi.Input<string> => this.namespaces.get(namespace)?.metadata.name ?? namespace;

    const deployed = rollout.workloads.filter((w) => w.deploy);
    this.serviceAccounts = new Map();
    for (const w of deployed) {
      const key = `${w.namespace}/${w.serviceAccount}`;
      // Every namespace has its own `default` account, owned by Kubernetes: never manage (or destroy) it.
      if (w.serviceAccount === "default" || this.serviceAccounts.has(key)) continue;
      const manifest = serviceAccountManifest(w.namespace, w.serviceAccount);
      this.serviceAccounts.set(
        key,
        new k8s.core.v1.ServiceAccount(
          key,
          { ...manifest, metadata: { ...manifest.metadata, namespace: namespaceOf(w.namespace) } },
          child,
        ),
      );
    }

    this.workloads = new Map(
      deployed.map((w) => [
        w.ref,
        new Workload(
          w.ref,
          {
            workload: w,
            namespace: namespaceOf(w.namespace),
            serviceAccount: this.serviceAccounts.get(`${w.namespace}/${w.serviceAccount}`),
            // A pod created before istiod's webhook would run without the sidecar it is declared with.
            after: w.sidecar && args.istio ? [args.istio.istiod] : [],
            provider,
          },
          child,
        ),
      ]),
    );

    const dependenciesOf = (policy: PlannedPolicy): pulumi.Resource[] =>
      deployed
        .filter((w) => {
          if (policy.scope === "mesh") return true;
          if (w.namespace !== policy.namespace) return false;
          return policy.selector === null || selects(policy.selector, w.podLabels);
        })
        .map((w) => this.workloads.get(w.ref)!);

    if (args.preflight) {
      this.preflight = new PreflightGate(
        STAGE_COMPONENT,
        { ...args.preflight, after: [...this.workloads.values()], stageNames: rollout.stages.map((s) => s.name) },
        { parent: this, aliases: stageNameAliases(rollout) },
      );
    }

    // Adoption writes the file's spec over the live one: the cluster must first be shown to be the first stage.
    const asFound = rollout.stages[0].peerAuthentications.filter((p) => p.existing);
    // Declared at every stage (not only while an adopted policy is in force), so that going back never creates it anew.
    if (args.adoption && asFound.length > 0) {
      this.adoptionGate = new AdoptionGate(
        STAGE_COMPONENT,
        { ...args.adoption, stage: rollout.stages[0].name, adopted: asFound, stageNames: rollout.stages.map((s) => s.name) },
        { parent: this },
      );
    }

    this.policies = new StagePolicies(
      STAGE_COMPONENT,
      {
        settings: {
          stage: plan.stage,
          meshRootNamespace: rollout.meshRootNamespace,
          acknowledgeBrokenCalls: plan.acknowledgeBrokenCalls,
          acknowledgeFindings: plan.acknowledgeFindings,
          destinationRules: rollout.destinationRules,
          enableAutoMtls: rollout.enableAutoMtls,
          destinationRulesPrivateByDefault: rollout.destinationRulesPrivateByDefault,
          policyOrder: plan.peerAuthentications.map((p) => `${p.namespace}/${p.name}`),
          existingWorkloads: rollout.workloads.filter((w) => !w.deploy).map(meshWorkloadOf),
        },
        policies: plan.peerAuthentications,
        dormant: plan.dormant,
        after: args.istio ? [args.istio.base, args.istio.istiod] : [],
        gate: this.preflight,
        ...(this.adoptionGate ? { adoptionGate: this.adoptionGate } : {}),
        namespaceOf,
        dependenciesOf,
        provider,
        stack: args.stack,
        imported: args.imported ?? new Set(),
        onDestroy: args.onDestroy ?? "delete",
      },
      { parent: this, aliases: stageNameAliases(rollout) },
    );

    const targets = args.accessLogs ? accessLogTargets(plan, rollout) : [];
    if (args.accessLogs && targets.length > 0) {
      this.accessLogs = new AccessLogs(
        STAGE_COMPONENT,
        { targets, scope: args.accessLogs, provider, after: args.istio ? [args.istio.base, args.istio.istiod] : [] },
        { parent: this },
      );
    }

    this.registerOutputs({ stage: plan.stage, accessLogs: this.accessLogs?.workloads ?? [] });
  }
}
