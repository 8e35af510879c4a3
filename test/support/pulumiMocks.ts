import * as pulumi from "@pulumi/pulumi";

export interface RegisteredResource {
  type: string;
  name: string;
  inputs: any;
  custom: boolean;
  /** The provider reference the engine would receive ("" for a default provider). */
  provider: string;
  parent: string;
  /** URNs from dependsOn (a component expands to its children), invisible to Pulumi's own mocks. */
  dependencies: string[];
  /** Per input property, the URNs its value came from (Outputs of other resources). */
  propertyDependencies: Record<string, string[]>;
  /** The customTimeouts resource option, as the engine receives it. */
  customTimeouts?: { create: string; update: string };
  /** The retainOnDelete resource option, when the program sets it. */
  retainOnDelete?: boolean;
  /** The protect resource option (false when not set). */
  protect: boolean;
  /** The import resource option: the id Pulumi imports the resource by, when the state does not hold it ("" when not set). */
  importId: string;
  /** The inputs as the engine receives them, secrets still wrapped in Pulumi's secret signature. */
  rawInputs: any;
  /** The aliases resource option: the names (and types) this resource had before. */
  aliases: { name?: string; type?: string }[];
  urn: string;
}

/**
 * Installs Pulumi's mocks and records every registration, including what the mock API does not
 * show: the parent, the provider and the dependsOn URNs, read from the monitor's request.
 */
/** The outputs of the stack's last update, as a StackReference to the stack reads them. */
export const LAST_VERIFIED_AT = "2026-11-30T01:00:00.000Z";
const lastOutputs = { verifiedAt: LAST_VERIFIED_AT };

export interface MockCluster {
  /** The kubectl the program checks the cluster's UID with (default: the fake kubectl of test/fixtures/cluster). */
  kubectl?: string;
  /** The folder of List files the fake kubectl answers from (default test/fixtures/cluster). */
  dir?: string;
  /** The resourceVersion the API server gives an object the stack declares (by resource name); none when absent. */
  resourceVersionOf?: (name: string) => string | undefined;
}

export async function installRecordingMocks(
  config: Record<string, string>,
  stack = "dev",
  secretKeys: string[] = [],
  cluster: MockCluster = {},
) {
  const resources: RegisteredResource[] = [];
  const withVersion = (name: string, state: Record<string, any>) => {
    const version = cluster.resourceVersionOf?.(name);
    return version === undefined ? state : { ...state, metadata: { ...state.metadata, resourceVersion: version } };
  };
  await pulumi.runtime.setMocks(
    {
      // A reference to this very stack reads back what its last update recorded.
      newResource: (args) =>
        args.type === "pulumi:pulumi:StackReference"
          ? { id: args.inputs.name, state: { ...args.inputs, outputs: lastOutputs } }
          : { id: `${args.name}-id`, state: withVersion(args.name, args.inputs) },
      call: (args) => args.inputs,
    },
    "mtls-rollout",
    stack,
    false,
    // What a DIY backend calls every stack's organization.
    "organization",
  );
  pulumi.runtime.setAllConfig(config, secretKeys);
  const monitor = pulumi.runtime.getMonitor() as any;
  const register = monitor.registerResource.bind(monitor);
  monitor.registerResource = (req: any, callback: (err: unknown, res: any) => void) =>
    register(req, (err: unknown, res: any) => {
      try {
        if (!err) resources.push(recordOf(req, res.getUrn()));
      } finally {
        callback(err, res);
      }
    });
  return resources;
}

/**
 * Waits until every registration the program started has reached the monitor, including components'
 * registerOutputs, so the next test's mocks do not receive the previous test's calls.
 * `waitForRPCs` is exported by the runtime but not typed; `disconnect()` would also close the monitor.
 */
export async function settleRegistrations(): Promise<void> {
  await (pulumi.runtime as unknown as { waitForRPCs: () => Promise<void> }).waitForRPCs();
}

function recordOf(req: any, urn: string): RegisteredResource {
  const propertyDependencies: Record<string, string[]> = {};
  req.getPropertydependenciesMap().forEach((deps: any, key: string) => {
    propertyDependencies[key] = deps.getUrnsList();
  });
  return {
    type: req.getType(),
    name: req.getName(),
    inputs: pulumi.runtime.deserializeProperties(req.getObject()),
    rawInputs: req.getObject().toJavaScript(),
    custom: req.getCustom(),
    provider: req.getProvider(),
    parent: req.getParent(),
    dependencies: req.getDependenciesList(),
    propertyDependencies,
    ...(req.getCustomtimeouts() ? { customTimeouts: req.getCustomtimeouts().toObject() } : {}),
    ...(req.hasRetainondelete() ? { retainOnDelete: req.getRetainondelete() } : {}),
    protect: req.getProtect() === true,
    importId: req.getImportid(),
    aliases: req.getAliasesList().map((a: any) => {
      const spec = a.toObject().spec ?? {};
      return { ...(spec.name ? { name: spec.name } : {}), ...(spec.type ? { type: spec.type } : {}) };
    }),
    urn,
  };
}

export function promiseOf<T>(output: pulumi.Output<T>): Promise<T> {
  return new Promise((resolve) => output.apply(resolve));
}
