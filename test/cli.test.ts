import { describe, expect, it } from "vitest";
import { runCli, tempFile } from "./support/files";

const cli = (...args: string[]) => runCli(args);

describe("npx mtls-rollout plan", () => {
  it("prints exactly one JSON object with the documented shape for --json", () => {
    const { code, stdout, stderr } = cli("plan", "--stage", "purchase-history-strict", "--json");
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

  it("prints the policies, the effective modes and the expectation matrix as tables", () => {
    const { code, stdout } = cli("plan", "--stage", "istioinaction-strict");
    expect(code).toBe(0);
    expect(stdout).toMatch(/^Stage: istioinaction-strict - /);
    expect(stdout).toContain("PeerAuthentications in force (3)");
    expect(stdout).toMatch(/│ istioinaction +│ default +│ namespace +│ \(all\) +│ STRICT /);
    expect(stdout).toMatch(/│ default +│ sleep +│ no +│ outside the mesh /);
    expect(stdout).toMatch(/│ default\/sleep +│ istioinaction\/web-api +│ web-api\.istioinaction:8080 +│ 8080 +│ refused /);
    expect(stdout).toMatch(/│ default\/sleep +│ default\/httpbin +│ httpbin\.default:8000 +│ 8080 +│ plaintext /);
  });

  it("reads a rollout file given with --rollout", () => {
    const file = tempFile("r.yaml", [
      "namespaces: [ { name: shop } ]",
      "workloads: [ { name: cart, namespace: shop, image: 'cart:1' } ]",
      "stages: [ { name: only } ]",
    ]);
    const { code, stdout } = cli("plan", "--stage", "only", "--rollout", file, "--json");
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
    ["a missing --stage", [], /^error: --stage: is required \(or --stack NAME, whose stack file sets mtls-rollout:stage\)\n$/],
    [
      "an unreadable file",
      ["--stage", "x", "--rollout", "/nonexistent/r.yaml"],
      /^error: \/nonexistent\/r\.yaml: cannot be read \(ENOENT\)\n$/,
    ],
    ["an unknown option", ["--stage", "permissive", "--colour"], /^error: unknown option '--colour'\n/],
  ])("exits 2 with one line per problem and no stack trace for %s", (_what, args, stderr) => {
    const result = cli("plan", ...(args as string[]));
    expect(result.code).toBe(2);
    expect(result.stdout).toBe("");
    expect(result.stderr).toMatch(stderr);
  });

  it("names the path in the file and the bad value when a rollout file is invalid", () => {
    const file = tempFile("bad.yaml", [
      "namespaces: [ { name: shop } ]",
      "workloads: []",
      "stages:",
      "  - name: a",
      "  - name: b",
      "    peerAuthentications:",
      "      - { name: p, namespace: shop, mode: STRCT }",
    ]);
    const result = cli("plan", "--stage", "b", "--rollout", file);
    expect(result.code).toBe(2);
    expect(result.stderr).toBe(
      `error: ${file}: stages[1].peerAuthentications[0].mode: must be one of UNSET, DISABLE, PERMISSIVE, STRICT (got "STRCT")\n`,
    );
  });
});
