// Runs the project's Pulumi program exactly as the Pulumi CLI's Node language host does: through
// @pulumi/pulumi's own `cmd/run` entry (its ts-node registration and CommonJS `require` of the
// package.json `main`), with Pulumi's mocks standing in for the engine. Plain JavaScript on purpose:
// nothing of vitest's loader may take part.
//
// usage: node runWithPulumiNodeRuntime.js PROJECT_DIR STAGE
const Module = require("node:module");
const path = require("node:path");

async function main() {
  const [projectDir, stage] = process.argv.slice(2);
  process.chdir(projectDir);
  process.env.PULUMI_NODEJS_TYPESCRIPT = "true";
  const pulumi = require(require.resolve("@pulumi/pulumi", { paths: [projectDir] }));
  // run.js imports its sibling index.js, the language host's executable, which parses argv and
  // connects to the engine on load. Only one constant of it is used (on a module-load failure), so
  // the cache gets a stand-in for that module before run.js is loaded.
  const hostIndex = require.resolve("@pulumi/pulumi/cmd/run/index.js", { paths: [projectDir] });
  const stand = new Module(hostIndex, module);
  stand.filename = hostIndex;
  stand.loaded = true;
  stand.exports = { nodeJSProcessExitedAfterLoggingUserActionableMessage: 32 };
  require.cache[hostIndex] = stand;
  const { run } = require(require.resolve("@pulumi/pulumi/cmd/run/run", { paths: [projectDir] }));
  const { typeScriptRequireStrings } = require(require.resolve("@pulumi/pulumi/tsutils", { paths: [projectDir] }));

  const registered = [];
  await pulumi.runtime.setMocks(
    {
      newResource: (args) => {
        registered.push(`${args.type} ${args.name}`);
        return { id: `${args.name}-id`, state: args.inputs };
      },
      call: (args) => args.inputs,
    },
    "mtls-rollout",
    "dev",
    false,
  );
  pulumi.runtime.setAllConfig({ "mtls-rollout:stage": stage });

  let failure;
  let outputs;
  try {
    outputs = await run(
      { _: ["."] },
      () => {},
      () => {},
      () => false,
    );
  } catch (err) {
    failure = err;
  }
  await pulumi.runtime.waitForRPCs();
  const { tsnodeRequire, typescriptRequire } = typeScriptRequireStrings();
  process.stdout.write(
    JSON.stringify({
      failure: failure ? { runError: pulumi.RunError.isInstance(failure), message: String(failure.message || failure) } : null,
      outputs: Object.keys(outputs ?? {}),
      stage: outputs?.stage,
      registered,
      moduleSystem: typeof require.extensions[".ts"] === "function" ? "commonjs+ts" : "none",
      tsNode: path.relative(projectDir, tsnodeRequire),
      typescript: require(typescriptRequire).version,
    }) + "\n",
  );
}

main().then(
  () => process.exit(0),
  (err) => {
    process.stderr.write(`${err && err.stack ? err.stack : err}\n`);
    process.exit(1);
  },
);
