import type { Policy, ResourceValidationPolicy, StackValidationPolicy } from "@pulumi/policy";
import { checkStage, RULES, RuleName } from "../../src/model/rules";
import { policyOf } from "../../src/manifests/parse";
import { PEER_AUTHENTICATION_TYPES, stackFacts } from "./stackFacts";

/**
 * Rules of one stage: stage-order and last-stage-leaves-ports-open compare a rollout's stages, and
 * removed-without-retire two versions of it, and adopts-an-owned-policy facts of the cluster a stack does not hold.
 */
type PackRule = Exclude<RuleName, "stage-order" | "last-stage-leaves-ports-open" | "removed-without-retire" | "adopts-an-owned-policy">;

const DESCRIPTIONS: Record<PackRule, string> = {
  "no-mtls-disable": "PeerAuthentications do not switch mTLS off (DISABLE), unless the policy carries an accepted reason",
  "one-default-per-scope": "At most one selector-less PeerAuthentication per namespace, named default",
  "one-policy-per-workload": "At most one workload-level PeerAuthentication selects a workload",
  "no-selector-in-root-namespace": "No selector policy in the mesh root namespace, where Istio ignores it",
  "port-level-needs-selector": "portLevelMtls only on a policy with a selector",
  "port-level-uses-target-ports": "portLevelMtls keys are workload (target) ports of the selected workloads, not Service ports",
  "selector-matches-a-workload": "A selector matches at least one declared workload",
  "declared-calls-keep-working": "No declared call is refused, unless the stage acknowledges it",
  "namespace-disable-breaks-strict-workloads": "No workload-level STRICT under a namespace- or mesh-wide DISABLE",
  "partial-sidecar-not-strict": "No STRICT for a workload only some of whose pods run a sidecar",
  "client-tls-conflicts":
    "No DestinationRule sends plaintext or its own TLS to a STRICT port, nor Istio mTLS to a workload without a sidecar; auto mTLS on towards STRICT ports",
  "strict-protects-a-sidecar": "A STRICT workload policy selects a workload with a sidecar (one without protects nothing)",
};

/**
 * Rules a PeerAuthentication breaks on its own. As resource policies they run before the resource's
 * own step, so even an `up` without a blocking preview stops before the policy reaches the cluster.
 */
const PER_RESOURCE = new Set<RuleName>(["no-mtls-disable", "port-level-needs-selector", "no-selector-in-root-namespace"]);

interface PackConfig {
  meshRootNamespace?: string;
}

function resourcePolicy(rule: PackRule): ResourceValidationPolicy {
  return {
    name: rule,
    description: DESCRIPTIONS[rule],
    enforcementLevel: RULES[rule],
    configSchema: { properties: { meshRootNamespace: { type: "string" } } },
    validateResource: (args, reportViolation) => {
      if (!PEER_AUTHENTICATION_TYPES.has(args.type)) return;
      const policy = policyOf(args.props, args.urn);
      const facts = {
        stage: "(this stack)",
        meshRootNamespace: args.getConfig<PackConfig>().meshRootNamespace ?? "istio-system",
        policies: [policy],
        workloads: [],
        acknowledgeBrokenCalls: [],
      };
      for (const v of checkStage(facts)) if (v.rule === rule && v.acknowledged === undefined) reportViolation(v.message);
    },
  };
}

function stackPolicy(rule: PackRule): StackValidationPolicy {
  return {
    name: rule,
    description: DESCRIPTIONS[rule],
    enforcementLevel: RULES[rule],
    validateStack: (args, reportViolation) => {
      const { facts, urnOf } = stackFacts(args.resources);
      for (const v of checkStage(facts)) {
        if (v.rule === rule && v.acknowledged === undefined) reportViolation(v.message, urnOf(v.rule, v.resource));
      }
    },
  };
}

/**
 * One policy per rule, each at the rule's own enforcement level: per resource where a rule needs only
 * the PeerAuthentication, per stack where it needs the workloads. stage-order and last-stage-leaves-ports-open
 * compare stages, which a single stack does not have: `npx --no-install mtls-rollout check` runs them.
 */
export const mtlsPolicies: Policy[] = (Object.keys(DESCRIPTIONS) as (keyof typeof DESCRIPTIONS)[]).map((rule) =>
  PER_RESOURCE.has(rule) ? resourcePolicy(rule) : stackPolicy(rule),
);
