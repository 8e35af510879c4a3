import * as fs from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { runCli, tempFile } from "./support/files";
import { cli as inProcess } from "./support/inProcessCli";

/** As a user runs it: what the bin prints for --help and --version, before any command loads. */
const processCli = (...args: string[]) => runCli(args);
const cli = (...args: string[]) => inProcess(args);

describe("npx mtls-rollout --help and --version", () => {
  it("prints the package's version", () => {
    const version = JSON.parse(fs.readFileSync(path.join(__dirname, "..", "package.json"), "utf8")).version;
    expect(processCli("--version")).toEqual({ code: 0, stdout: `${version}\n`, stderr: "" });
  });

  it("lists every exit code and $KUBECTL, and marks --stage as required", () => {
    const help = processCli("--help");
    expect(help.code).toBe(0);
    for (const code of ["0 ", "1 ", "2 ", "3 ", "70 ", "129-143 "]) expect(help.stdout).toContain(`\n  ${code}`);
    expect(help.stdout).toMatch(/KUBECTL +the kubectl executable/);
    expect(help.stdout).toMatch(/MTLS_ROLLOUT_PROMETHEUS_URL +the Prometheus of preflight and discover/);
    const verify = processCli("verify", "--help");
    expect(verify.stdout).toMatch(/--stage <name> +the stage to verify \(required, unless --stack sets it\)/);
    expect(verify.stdout).toContain("3  inconclusive");
    expect(verify.stdout).toContain("$KUBECTL");
    expect(verify.stdout).toMatch(/--wide +every row of every table; by default more than 60 rows/);
  });
});

describe("npx mtls-rollout plan", () => {
  it("prints exactly one JSON object with the documented shape for --json", async () => {
    const { code, stdout, stderr } = await cli("plan", "--stage", "purchase-history-strict", "--json");
    expect(stderr).toBe("");
    expect(code).toBe(0);
    const plan = JSON.parse(stdout);
    expect(Object.keys(plan)).toEqual([
      "stage",
      "description",
      "meshRootNamespace",
      "peerAuthentications",
      "workloads",
      "expectations",
      "calls",
      "warnings",
      "violations",
      "dormant",
      "acknowledgePlaintext",
      "acknowledgeUnverifiable",
      "coverage",
    ]);
    expect(Object.keys(plan.peerAuthentications[0])).toEqual([
      "namespace",
      "name",
      "selector",
      "mode",
      "portLevelMtls",
      "scope",
      "definedIn",
    ]);
    expect(Object.keys(plan.workloads[0])).toEqual(["namespace", "name", "sidecar", "mode", "ports", "probe"]);
    expect(Object.keys(plan.expectations[0])).toEqual(["from", "to", "host", "port", "targetPort", "expect", "reason"]);
    expect(plan.stage).toBe("purchase-history-strict");
    expect(plan.peerAuthentications).toContainEqual(
      expect.objectContaining({
        namespace: "istioinaction",
        name: "purchase-history-strict",
        selector: { app: "purchase-history" },
        mode: "STRICT",
        portLevelMtls: {},
      }),
    );
    expect(plan.peerAuthentications).toContainEqual(
      expect.objectContaining({ namespace: "istio-system", name: "default", selector: null, mode: "PERMISSIVE" }),
    );
    expect(plan.workloads).toContainEqual(
      expect.objectContaining({ namespace: "default", name: "sleep", sidecar: false, mode: null, ports: {} }),
    );
    expect(plan.workloads).toContainEqual(
      expect.objectContaining({
        namespace: "istioinaction",
        name: "purchase-history-v1",
        sidecar: true,
        mode: "STRICT",
        ports: { "8080": "STRICT" },
      }),
    );
    expect(plan.expectations).toContainEqual(
      expect.objectContaining({
        from: "default/sleep",
        to: "istioinaction/purchase-history-v1",
        host: "purchase-history.istioinaction",
        port: 8080,
        targetPort: 8080,
        expect: "refused",
      }),
    );
  });

  it("prints the policies, the effective modes and the expectation matrix as tables", async () => {
    const { code, stdout } = await cli("plan", "--stage", "istioinaction-strict");
    expect(code).toBe(0);
    expect(stdout).toMatch(/^Stage: istioinaction-strict - /);
    expect(stdout).toContain("PeerAuthentications in force (3)");
    expect(stdout).toMatch(/│ istioinaction +│ default +│ STRICT +│ istioinaction-strict +│ \(namespace\) +│/);
    expect(stdout).toMatch(/│ default +│ sleep +│ no +│ outside the mesh /);
    const fromOutside = stdout.slice(stdout.indexOf("From default/sleep\n"));
    expect(fromOutside).toMatch(/^From default\/sleep\n[^]*?│ istioinaction\/web-api +│ web-api:8080 +│ 8080 +│ refused /);
    expect(fromOutside).toMatch(/│ default\/httpbin +│ httpbin:8000 +│ 8080 +│ plaintext /);
  });

  it("reads a rollout file given with --rollout", async () => {
    const file = tempFile("r.yaml", [
      "namespaces: [ { name: shop } ]",
      "workloads: [ { name: cart, namespace: shop, image: 'cart:1' } ]",
      "stages: [ { name: only } ]",
    ]);
    const { code, stdout } = await cli("plan", "--stage", "only", "--rollout", file, "--json");
    expect(code).toBe(0);
    expect(JSON.parse(stdout)).toMatchObject({
      stage: "only",
      peerAuthentications: [],
      workloads: [{ name: "cart", sidecar: false, mode: null }],
    });
  });

  it.each([
    [
      "an unknown stage",
      ["--stage", "nope"],
      /^error: --stage: unknown stage "nope"; the rollout has permissive, purchase-history-strict, istioinaction-strict, mesh-strict\n$/,
    ],
    [
      "a stage name in the wrong case, with the one it most likely means",
      ["--stage", "Permissive"],
      /^error: --stage: unknown stage "Permissive"; did you mean "permissive"\? the rollout has permissive, /,
    ],
    ["a misspelt stage name", ["--stage", "mesh-stirct"], /^error: --stage: unknown stage "mesh-stirct"; did you mean "mesh-strict"\? /],
    ["a missing --stage", [], /^error: --stage: is required \(or --stack NAME, whose stack file sets mtls-rollout:stage\)\n$/],
    [
      "an unreadable file",
      ["--stage", "x", "--rollout", "/nonexistent/r.yaml"],
      /^error: \/nonexistent\/r\.yaml: cannot be read \(ENOENT\)\n$/,
    ],
    ["an unknown option", ["--stage", "permissive", "--colour"], /^error: unknown option '--colour'\n/],
  ])("exits 2 with one line per problem and no stack trace for %s", async (_what, args, stderr) => {
    const result = await cli("plan", ...(args as string[]));
    expect(result.code).toBe(2);
    expect(result.stdout).toBe("");
    expect(result.stderr).toMatch(stderr);
  });

  it("prefixes a guardrail error with the rollout file, as the loader's own errors are", async () => {
    const file = path.join(__dirname, "fixtures", "rollouts", "two-namespace-defaults.yaml");
    const result = await cli("plan", "--stage", "a", "--rollout", file);
    expect(result.code).toBe(2);
    expect(result.stderr).toBe(
      `error: ${file}: stages[0].peerAuthentications[1]: breaks one-default-per-scope: "shop/two" is a second namespace-wide PeerAuthentication at stage "a", besides "shop/one" (stages[0].peerAuthentications[0]); Istio would keep only the older one, so declare one, named "default"\n`,
    );
  });

  it("names the path in the file and the bad value when a rollout file is invalid", async () => {
    const file = tempFile("bad.yaml", [
      "namespaces: [ { name: shop } ]",
      "workloads: []",
      "stages:",
      "  - name: a",
      "  - name: b",
      "    peerAuthentications:",
      "      - { name: p, namespace: shop, mode: STRCT }",
    ]);
    const result = await cli("plan", "--stage", "b", "--rollout", file);
    expect(result.code).toBe(2);
    expect(result.stderr).toBe(
      `error: ${file}: stages[1].peerAuthentications[0].mode: must be one of UNSET, DISABLE, PERMISSIVE, STRICT (got "STRCT")\n`,
    );
  });
});
