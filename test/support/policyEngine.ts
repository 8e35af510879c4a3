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

type Handler<Req> = (call: { request: Req }, callback: (err: unknown, res: analyzerpb.AnalyzeResponse) => void) => void;

// The handlers are exported by server.js but marked @internal, so their types are declared here.
const handlers = server as unknown as {
  makeAnalyzeRpcFun: (name: string, version: string, level: string, policies: Policy[]) => Handler<analyzerpb.AnalyzeRequest>;
  makeAnalyzeStackRpcFun: (name: string, version: string, level: string, policies: Policy[]) => Handler<analyzerpb.AnalyzeStackRequest>;
};

function call<Req>(handler: Handler<Req>, request: Req): Promise<Diagnostic[]> {
  return new Promise((resolve, reject) =>
    handler({ request }, (err, res) =>
      err
        ? reject(err)
        : resolve(
            res.getDiagnosticsList().map((d) => ({
              policyName: d.getPolicyname(),
              message: d.getMessage(),
              enforcementLevel: LEVELS[d.getEnforcementlevel()] as Diagnostic["enforcementLevel"],
              urn: d.getUrn(),
            })),
          ),
    ),
  );
}

const propertiesOf = (r: RegisteredResource) => Struct.fromJavaScript(JSON.parse(JSON.stringify(r.inputs ?? {})));

/**
 * Runs a pack's policies through @pulumi/policy's own RPC handlers, as the engine calls them: Analyze
 * for every resource (resource policies), then AnalyzeStack (stack policies), with requests built from
 * a program's registrations. The real deserialisation, unknown-value proxy and enforcement levels run;
 * no pack is started.
 */
export async function analyzeStack(policies: Policy[], resources: RegisteredResource[]): Promise<Diagnostic[]> {
  const diagnostics: Diagnostic[] = [];
  const perResource = handlers.makeAnalyzeRpcFun("mtls-rollout", "0.1.0", "advisory", policies);
  for (const r of resources) {
    const request = new analyzerpb.AnalyzeRequest()
      .setType(r.type)
      .setUrn(r.urn)
      .setName(r.name)
      .setProperties(propertiesOf(r))
      .setOptions(new analyzerpb.AnalyzerResourceOptions().setParent(r.parent));
    const provider = r.provider ? providerOf(r.provider, resources) : undefined;
    if (provider) request.setProvider(provider);
    // The engine reports a resource's violations against that resource.
    diagnostics.push(...(await call(perResource, request)).map((d) => ({ ...d, urn: d.urn || r.urn })));
  }
  const stackRequest = new analyzerpb.AnalyzeStackRequest().setResourcesList(
    resources.map((r) => {
      const resource = new analyzerpb.AnalyzerResource()
        .setType(r.type)
        .setUrn(r.urn)
        .setName(r.name)
        .setProperties(propertiesOf(r))
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
  diagnostics.push(...(await call(handlers.makeAnalyzeStackRpcFun("mtls-rollout", "0.1.0", "advisory", policies), stackRequest)));
  return diagnostics;
}
