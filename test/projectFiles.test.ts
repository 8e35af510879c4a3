import * as fs from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import * as YAML from "yaml";
import { parseStackConfig } from "../src/config";

const ROOT = path.join(__dirname, "..");
const read = (file: string) => YAML.parse(fs.readFileSync(path.join(ROOT, file), "utf8"));

describe("the Pulumi project files", () => {
  const project = read("Pulumi.yaml");

  it("name the project mtls-rollout with the Node.js runtime, entry point index.ts via package.json main", () => {
    expect(project.name).toBe("mtls-rollout");
    expect(project.runtime.name).toBe("nodejs");
    expect(JSON.parse(fs.readFileSync(path.join(ROOT, "package.json"), "utf8")).main).toBe("index.ts");
  });

  it("give every declared config key without a default a value in Pulumi.dev.yaml, as Pulumi requires before it runs", () => {
    const dev = read("Pulumi.dev.yaml").config;
    const required = Object.entries(project.config as Record<string, { default?: unknown; value?: unknown }>).filter(
      ([, spec]) => spec.default === undefined && spec.value === undefined,
    );
    expect(required.map(([key]) => key)).toEqual(["mtls-rollout:stage"]);
    for (const [key] of required) expect(dev[key], key).toBeDefined();
  });

  it("declare defaults that the program's own config validation accepts", () => {
    const defaults = Object.fromEntries(
      Object.entries(project.config as Record<string, { default?: unknown }>)
        .filter(([, spec]) => spec.default !== undefined)
        .map(([key, spec]) => [key, String(spec.default)]),
    );
    expect(parseStackConfig({ ...defaults, "mtls-rollout:stage": read("Pulumi.dev.yaml").config["mtls-rollout:stage"] })).toEqual({
      stage: "permissive",
      rollout: "stages/lab.yaml",
      verify: true,
      verifyTimeout: 180,
      verifySettle: 5,
      preflight: true,
      installIstio: false,
      istioVersion: "1.29.6",
      installPrometheus: false,
      installKiali: false,
      accessLogs: "off",
      handover: false,
    });
  });

  it("refresh before every update and preview: drift is seen, and put back", () => {
    expect(project.options).toEqual({ refresh: "always" });
  });

  it("disable the default Kubernetes provider: every resource names the one bound to the cluster", () => {
    expect(project.config["pulumi:disable-default-providers"]).toEqual({ value: ["kubernetes"] });
  });
});

describe("the documented commands", () => {
  it("run the CLI of this checkout only: never a bare `npx mtls-rollout`, which asks the registry for a package of that name", () => {
    const root = path.join(__dirname, "..");
    const files = [
      "README.md",
      "BENCHMARKS.md",
      ".github/workflows/preview.yml",
      ".github/workflows/e2e.yml",
      ...fs.readdirSync(path.join(root, "src"), { recursive: true, encoding: "utf8" }).map((f) => path.join("src", f)),
    ].filter((f) => fs.statSync(path.join(root, f)).isFile());
    for (const file of files) {
      const text = fs.readFileSync(path.join(root, file), "utf8");
      expect(text.match(/npx (?!--no-install )mtls-rollout/g) ?? [], file).toEqual([]);
    }
    expect(fs.readFileSync(path.join(root, "README.md"), "utf8")).toContain("`npx --no-install` never fetches a package");
  });
});
