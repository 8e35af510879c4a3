import { spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as grpc from "@grpc/grpc-js";
import { build } from "esbuild";
import { Empty } from "google-protobuf/google/protobuf/empty_pb";
import { Struct } from "google-protobuf/google/protobuf/struct_pb";
import * as analyzerpb from "@pulumi/pulumi/proto/analyzer_pb";
import * as analyzerrpc from "@pulumi/pulumi/proto/analyzer_grpc_pb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { POLICY_PACK_BUNDLE, POLICY_PACK_DIR, policyPackBuildOptions } from "../scripts/buildPolicyPack";
import { RULES } from "../src/model/rules";

const ROOT = path.join(__dirname, "..");
const readJson = (file: string) => JSON.parse(fs.readFileSync(file, "utf8"));

/** What `pulumi policy publish` ships: the files `npm pack` would put in the tarball. */
function packedFiles(dir: string): string[] {
  const packed = spawnSync("npm", ["pack", "--dry-run", "--json", "--ignore-scripts"], { cwd: dir, encoding: "utf8", timeout: 60_000 });
  expect(packed.status, packed.stderr).toBe(0);
  return (JSON.parse(packed.stdout)[0].files as { path: string }[]).map((f) => f.path).sort();
}

describe("the policy pack as a folder of its own", () => {
  const copy = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "mtls-rollout-pack-")), "policies");
  let pack: ReturnType<typeof spawn> | undefined;
  let client: analyzerrpc.AnalyzerClient | undefined;

  beforeAll(async () => {
    // A copy of the folder, as a team would take it to publish: away from this project's src/ and node_modules/.
    fs.cpSync(POLICY_PACK_DIR, copy, { recursive: true, filter: (src) => !/[/\\](node_modules|dist)$/.test(src) });
    await build(policyPackBuildOptions(path.join(copy, "dist", "index.js")));
    const install = spawnSync("npm", ["ci", "--prefer-offline", "--no-audit", "--no-fund"], {
      cwd: copy,
      encoding: "utf8",
      timeout: 240_000,
    });
    expect(install.status, install.stderr).toBe(0);
  }, 300_000);

  afterAll(() => {
    client?.close();
    pack?.kill("SIGKILL");
    fs.rmSync(path.dirname(copy), { recursive: true, force: true });
  });

  it("declares the Pulumi SDKs it runs on, at the project's own versions, and ships only its build and manifest", () => {
    const own = readJson(path.join(POLICY_PACK_DIR, "package.json"));
    const project = readJson(path.join(ROOT, "package.json"));
    expect(own.dependencies).toEqual({
      "@pulumi/policy": project.dependencies["@pulumi/policy"],
      "@pulumi/pulumi": project.dependencies["@pulumi/pulumi"],
    });
    expect(readJson(path.join(POLICY_PACK_DIR, "package-lock.json")).packages[""].dependencies).toEqual(own.dependencies);
    expect(packedFiles(copy)).toEqual(["PulumiPolicy.yaml", "dist/index.js", "package.json"]);
    // Compiled in: nothing it requires lies outside the folder, only the SDKs and Node's own modules.
    const required = [...fs.readFileSync(path.join(copy, "dist", "index.js"), "utf8").matchAll(/require\("([^"]+)"\)/g)].map((m) => m[1]);
    expect(new Set(required)).toEqual(new Set(["@pulumi/policy"]));
  });

  it("installs and runs from that copy as the Pulumi CLI runs a pack, and judges a PeerAuthentication", async () => {
    // The CLI's pulumi-analyzer-policy runs the pack's own @pulumi/pulumi: `run-policy-pack <engine> <pack dir>`.
    pack = spawn(process.execPath, [path.join("node_modules", "@pulumi", "pulumi", "cmd", "run-policy-pack"), "127.0.0.1:1", "."], {
      cwd: copy,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stderr = "";
    pack.stderr!.on("data", (c: Buffer) => (stderr += c.toString()));
    const port = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no port within 60 s: ${stderr}`)), 60_000);
      pack!.stdout!.once("data", (c: Buffer) => {
        clearTimeout(timer);
        resolve(c.toString().trim());
      });
      pack!.once("exit", (code) => reject(new Error(`the pack exited (${code}): ${stderr}`)));
    });
    expect(port).toMatch(/^\d+$/);
    client = new analyzerrpc.AnalyzerClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
    const info = await new Promise<analyzerpb.AnalyzerInfo>((resolve, reject) =>
      client!.getAnalyzerInfo(new Empty(), (err, res) => (err ? reject(err) : resolve(res))),
    );
    expect([info.getName(), info.getVersion()]).toEqual(["mtls-rollout", "0.1.0"]);
    // Every rule but those that compare a rollout's stages, which one stack does not hold.
    const everyRuleButStageOrder = Object.keys(RULES).filter(
      (r) =>
        r !== "stage-order" && r !== "last-stage-leaves-ports-open" && r !== "removed-without-retire" && r !== "adopts-an-owned-policy",
    );
    expect(
      info
        .getPoliciesList()
        .map((p) => p.getName())
        .sort(),
    ).toEqual(everyRuleButStageOrder.sort());

    const disable = new analyzerpb.AnalyzeRequest()
      .setType("kubernetes:security.istio.io/v1:PeerAuthentication")
      .setUrn("urn:pulumi:dev::shop::kubernetes:security.istio.io/v1:PeerAuthentication::shop/default")
      .setName("shop/default")
      .setOptions(new analyzerpb.AnalyzerResourceOptions())
      .setProperties(
        Struct.fromJavaScript({
          apiVersion: "security.istio.io/v1",
          kind: "PeerAuthentication",
          metadata: { name: "default", namespace: "shop" },
          spec: { mtls: { mode: "DISABLE" } },
        }),
      );
    const answer = await new Promise<analyzerpb.AnalyzeResponse>((resolve, reject) =>
      client!.analyze(disable, (err, res) => (err ? reject(err) : resolve(res))),
    );
    expect(answer.getDiagnosticsList().map((d) => [d.getPolicyname(), d.getEnforcementlevel()])).toEqual([
      ["no-mtls-disable", analyzerpb.EnforcementLevel.MANDATORY],
    ]);
  }, 90_000);
});

describe("the policy pack this checkout runs", () => {
  it("is built from the current rules (npm ci builds it; after editing them, npm run build:policies)", async () => {
    expect(fs.existsSync(POLICY_PACK_BUNDLE), `${POLICY_PACK_BUNDLE} is missing: npm run build:policies`).toBe(true);
    const fresh = await build({ ...policyPackBuildOptions(POLICY_PACK_BUNDLE), write: false });
    expect(fs.readFileSync(POLICY_PACK_BUNDLE, "utf8"), "stale: npm run build:policies").toBe(fresh.outputFiles![0].text);
  });
});
