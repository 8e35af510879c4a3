import * as pulumi from "@pulumi/pulumi";
import { defineRolloutStack } from "../../src/program";
import { installRecordingMocks, MockCluster, promiseOf, RegisteredResource, settleRegistrations } from "./pulumiMocks";

/** Runs the program under Pulumi's mocks with this stack config; returns it and every registration. */
export async function runStack(config: Record<string, string>, secretKeys: string[] = [], cluster: MockCluster = {}) {
  const resources = await installRecordingMocks(config, "dev", secretKeys, cluster);
  const stack = defineRolloutStack();
  const children = [
    ...stack.resources.namespaces.values(),
    ...stack.resources.serviceAccounts.values(),
    ...[...stack.resources.workloads.values()].flatMap((w) => [w, w.deployment, ...(w.service ? [w.service] : [])]),
    stack.resources.policies,
    ...stack.resources.policies.peerAuthentications,
    ...(stack.verification ? [stack.verification, stack.verification.command] : []),
  ];
  await promiseOf(pulumi.all(children.map((r) => r.urn)));
  await settleRegistrations();
  return { stack, resources };
}

export const ofType = (resources: RegisteredResource[], type: string) => resources.filter((r) => r.type === type);
export const named = (resources: RegisteredResource[], type: string, name: string) => {
  const found = resources.find((r) => r.type === type && r.name === name);
  if (!found) throw new Error(`no ${type} named ${name}; have ${resources.map((r) => `${r.type} ${r.name}`).join(", ")}`);
  return found;
};
