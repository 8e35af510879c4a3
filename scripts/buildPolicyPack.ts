// Builds the policy pack into one file inside policies/, so the folder alone is a pack that
// `pulumi policy publish` can ship: its rules are this project's model, compiled in; only the
// Pulumi SDKs it declares in policies/package.json stay outside, resolved from where it is installed.
import * as path from "node:path";
import { build, type BuildOptions } from "esbuild";

const ROOT = path.join(__dirname, "..");
export const POLICY_PACK_DIR = path.join(ROOT, "policies");
export const POLICY_PACK_BUNDLE = path.join(POLICY_PACK_DIR, "dist", "index.js");

export function policyPackBuildOptions(outfile: string): BuildOptions {
  return {
    absWorkingDir: ROOT,
    entryPoints: ["policies/index.ts"],
    bundle: true,
    platform: "node",
    target: "node20",
    format: "cjs",
    // The engine's analyzer protocol lives in these; the pack must run against the copies it installs.
    external: ["@pulumi/policy", "@pulumi/pulumi"],
    banner: { js: "// Built by `npm run build:policies` from policies/index.ts and src/model; edit those, not this file." },
    logLevel: "warning",
    outfile,
  };
}

if (require.main === module) {
  build(policyPackBuildOptions(POLICY_PACK_BUNDLE)).catch(() => {
    process.exitCode = 1;
  });
}
