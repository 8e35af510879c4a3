import type { StackValidationPolicy } from "@pulumi/policy";
import { checkStage, RULES, RuleName } from "../../src/model/rules";
import { stackFacts } from "./stackFacts";

const DESCRIPTIONS: Record<Exclude<RuleName, "stage-order">, string> = {
  "no-mtls-disable": "PeerAuthentications do not switch mTLS off (DISABLE), unless the policy carries an accepted reason",
  "one-default-per-scope": "At most one selector-less PeerAuthentication per namespace, named default",
  "one-policy-per-workload": "At most one workload-level PeerAuthentication selects a workload",
  "no-selector-in-root-namespace": "No selector policy in the mesh root namespace, where Istio ignores it",
  "port-level-needs-selector": "portLevelMtls only on a policy with a selector",
  "port-level-uses-target-ports": "portLevelMtls keys are workload (target) ports of the selected workloads, not Service ports",
  "selector-matches-a-workload": "A selector matches at least one declared workload",
  "declared-calls-keep-working": "No declared call is refused, unless the stage acknowledges it",
  "namespace-disable-breaks-strict-workloads": "No workload-level STRICT under a namespace- or mesh-wide DISABLE",
};

/**
 * One stack policy per rule, each at the rule's own enforcement level. stage-order compares stages,
 * which a single stack does not have: `npx mtls-rollout check` runs it.
 */
export const mtlsPolicies: StackValidationPolicy[] = (Object.keys(DESCRIPTIONS) as (keyof typeof DESCRIPTIONS)[]).map((rule) => ({
  name: rule,
  description: DESCRIPTIONS[rule],
  enforcementLevel: RULES[rule],
  validateStack: (args, reportViolation) => {
    const { facts, urnOf } = stackFacts(args.resources);
    for (const v of checkStage(facts)) {
      if (v.rule === rule && v.acknowledged === undefined) reportViolation(v.message, urnOf(v.resource));
    }
  },
}));
