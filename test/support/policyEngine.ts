import type { Policy } from "@pulumi/policy";
import * as analyzerpb from "@pulumi/pulumi/proto/analyzer_pb";
import * as server from "@pulumi/policy/server";
import { Struct } from "google-protobuf/google/protobuf/struct_pb";
import type { RegisteredResource } from "./pulumiMocks";

export interface Diagnostic {
  policyName: string;
  message: string;
  enforcementLevel: "advisory" | "mandatory" | "remediate" | "disabled";
  urn: string;
}

const LEVELS = Object.fromEntries(Object.entries(analyzerpb.EnforcementLevel).map(([name, value]) => [value, name.toLowerCase()]));

/** The provider reference the engine sends is `urn::id`; the analyzer gets the provider resource itself. */
function providerOf(ref: string, all: RegisteredResource[]): analyzerpb.AnalyzerProviderResource | undefined {
  const provider = all.find((r) => ref.startsWith(`${r.urn}::`));
  if (!provider) return undefined;
  return new analyzerpb.AnalyzerProviderResource()
    .setType(provider.type)
    .setUrn(provider.urn)
    .setName(provider.name)
    .setProperties(Struct.fromJavaScript(provider.inputs));
}

/**
 * Runs stack policies through @pulumi/policy's own AnalyzeStack RPC handler, with an
 * AnalyzeStackRequest built from a program's registrations the way the engine builds it: the real
 * deserialisation, unknown-value proxy and enforcement-level handling, without starting a pack.
 */
export async function analyzeStack(policies: Policy[], resources: RegisteredResource[]): Promise<Diagnostic[]> {
  const request = new analyzerpb.AnalyzeStackRequest().setResourcesList(
    resources.map((r) => {
      const resource = new analyzerpb.AnalyzerResource()
        .setType(r.type)
        .setUrn(r.urn)
        .setName(r.name)
        .setProperties(Struct.fromJavaScript(JSON.parse(JSON.stringify(r.inputs ?? {}))))
        .setOptions(new analyzerpb.AnalyzerResourceOptions().setParent(r.parent))
        .setParent(r.parent)
        .setDependenciesList(r.dependencies);
      const provider = r.provider ? providerOf(r.provider, resources) : undefined;
      if (provider) resource.setProvider(provider);
      for (const [key, urns] of Object.entries(r.propertyDependencies)) {
        resource.getPropertydependenciesMap().set(key, new analyzerpb.AnalyzerPropertyDependencies().setUrnsList(urns));
      }
      return resource;
    }),
  );
  // The handler is exported by server.js but marked @internal, so its type is declared here.
  const { makeAnalyzeStackRpcFun } = server as unknown as {
    makeAnalyzeStackRpcFun: (
      name: string,
      version: string,
      level: string,
      policies: Policy[],
    ) => (call: { request: analyzerpb.AnalyzeStackRequest }, callback: (err: unknown, res: analyzerpb.AnalyzeResponse) => void) => void;
  };
  const analyze = makeAnalyzeStackRpcFun("mtls-rollout", "0.1.0", "advisory", policies);
  const response = await new Promise<analyzerpb.AnalyzeResponse>((resolve, reject) =>
    analyze({ request }, (err: unknown, res: analyzerpb.AnalyzeResponse) => (err ? reject(err) : resolve(res))),
  );
  return response.getDiagnosticsList().map((d) => ({
    policyName: d.getPolicyname(),
    message: d.getMessage(),
    enforcementLevel: LEVELS[d.getEnforcementlevel()] as Diagnostic["enforcementLevel"],
    urn: d.getUrn(),
  }));
}
