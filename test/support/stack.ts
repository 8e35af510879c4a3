import * as pulumi from "@pulumi/pulumi";
import * as path from "node:path";
import { FAKE_KUBECTL } from "./fakeKubectlBuild";
import { defineRolloutStack } from "../../src/program";
import { installRecordingMocks, MockCluster, promiseOf, RegisteredResource, settleRegistrations } from "./pulumiMocks";

/** Runs the program under Pulumi's mocks with this stack config; returns it and every registration. */
export async function runStack(config: Record<string, string>, secretKeys: string[] = [], cluster: MockCluster = {}) {
  const resources = await installRecordingMocks(config, "dev", secretKeys, cluster);
  // The program checks the cluster's UID with $KUBECTL before it declares anything: here the fake kubectl, answering
  // for test/fixtures/cluster (its kube-system: 6f1c2a4e-0b7d-4c55-9a31-000000000006), unless a test says otherwise.
  const saved = { KUBECTL: process.env.KUBECTL, FAKE_KUBECTL_DIR: process.env.FAKE_KUBECTL_DIR };
  process.env.KUBECTL = cluster.kubectl ?? FAKE_KUBECTL;
  process.env.FAKE_KUBECTL_DIR = cluster.dir ?? path.join(__dirname, "..", "fixtures", "cluster");
  let stack: ReturnType<typeof defineRolloutStack>;
  try {
    stack = defineRolloutStack();
  } finally {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
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
