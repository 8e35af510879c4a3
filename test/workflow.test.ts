import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import * as YAML from "yaml";
import { runCli, tempFile } from "./support/files";
import { readStackFile } from "../src/cli/stackFile";
import { parseStackConfig } from "../src/config";

const ROOT = path.join(__dirname, "..");
const workflow = YAML.parse(fs.readFileSync(path.join(ROOT, ".github", "workflows", "preview.yml"), "utf8"));
type Step = { name?: string; uses?: string; run?: string; if?: string; with?: Record<string, unknown> };
const reportSteps: Step[] = workflow.jobs.report.steps;
const previewSteps: Step[] = workflow.jobs.preview.steps;
const steps: Step[] = [...reportSteps, ...previewSteps];

describe("the pull-request workflow", () => {
  it("runs on pull requests, reading only by default, the report job with the permission to comment", () => {
    expect(Object.keys(workflow.on)).toEqual(["pull_request"]);
    expect(workflow.permissions).toEqual({ contents: "read" });
    expect(workflow.jobs.report.permissions).toEqual({ contents: "read", "pull-requests": "write" });
  });

  it("gives the cluster's and the stack's credentials only to the preview job: this repository's branches, a protected environment, one run per branch", () => {
    const text = fs.readFileSync(path.join(ROOT, ".github", "workflows", "preview.yml"), "utf8");
    const report = YAML.stringify(workflow.jobs.report);
    expect(report).not.toMatch(/secrets\.(?!GITHUB_TOKEN)/);
    expect(workflow.jobs.preview).toMatchObject({
      needs: "report",
      if: "github.event.pull_request.head.repo.full_name == github.repository",
      environment: "mtls-rollout-preview",
      concurrency: { group: "mtls-rollout-preview-${{ github.head_ref }}", "cancel-in-progress": true },
    });
    expect(text).not.toContain("pull_request_target");
    expect(previewSteps.find((s) => s.uses?.startsWith("pulumi/actions"))!.with).toMatchObject({ refresh: true });
    // Its refresh runs the program (PULUMI_RUN_PROGRAM, Pulumi's --run-program), whose cluster check comes first.
    expect(workflow.jobs.preview.env.PULUMI_RUN_PROGRAM).toBe("true");
  });

  it("runs on Node 22 with actions that run on Node 24, and keeps the whole plan as an artifact", () => {
    for (const job of [workflow.jobs.report, workflow.jobs.preview]) {
      expect(job.steps.find((s: Step) => s.uses?.startsWith("actions/setup-node")).with["node-version"]).toBe(22);
    }
    const uses = steps.flatMap((s) => (s.uses ? [s.uses] : []));
    for (const [action, version] of [
      ["actions/checkout", "v5"],
      ["actions/setup-node", "v5"],
      ["actions/github-script", "v8"],
      ["actions/upload-artifact", "v5"],
    ])
      for (const u of uses.filter((x) => x.startsWith(`${action}@`))) expect(u).toBe(`${action}@${version}`);
    expect(reportSteps.find((s) => s.run?.includes("--format markdown"))!.run).toContain(
      'npx --no-install mtls-rollout plan --stack "$PULUMI_STACK" --json > mtls-plan.json',
    );
    expect(reportSteps.find((s) => s.uses?.startsWith("actions/upload-artifact"))!.with).toEqual({
      name: "mtls-plan",
      path: "mtls-plan.json",
    });
  });

  it("installs and tests before it reports, then posts one sticky comment and a policy-checked preview", () => {
    const order = steps.map((s) => s.run?.split("\n")[0] ?? s.uses);
    expect(order.indexOf("npm ci")).toBeLessThan(order.indexOf("npm test"));
    const report = steps.find((s) => s.run?.includes("--format markdown"))!;
    expect(steps.indexOf(report)).toBeGreaterThan(order.indexOf("npm test"));
    expect(steps.find((s) => s.uses?.startsWith("actions/github-script"))!.with!.script).toContain("updateComment");
    expect(steps.find((s) => s.uses?.startsWith("pulumi/actions"))!.with).toMatchObject({
      command: "preview",
      diff: true,
      policyPacks: "policies",
      "comment-on-pr": true,
    });
  });

  it("reads the stage here and on the base branch the way its step does, and fails on a stack file without one", () => {
    const step = steps.find((s) => s.name?.startsWith("The stage the stack file selects"))!;
    const script = /read_stage='([^']+)'/.exec(step.run!)![1];
    const read = (input: string) => spawnSync(process.execPath, ["-e", script], { input, encoding: "utf8" });
    const dev = read(fs.readFileSync(path.join(ROOT, "Pulumi.dev.yaml"), "utf8"));
    expect([dev.status, dev.stdout]).toEqual([0, "permissive"]);
    expect(read("config: {}\n").status).toBe(1);
    expect(read("").status).toBe(1);
    // The step itself, in a shell, as the runner runs it (no base branch here: previous is none).
    const out = tempFile("github-output", "");
    const run = spawnSync("bash", ["-e", "-c", step.run!], {
      cwd: ROOT,
      encoding: "utf8",
      env: { ...process.env, PULUMI_STACK: "acme/mtls-rollout/dev", BASE_REF: "no-such-branch", GITHUB_OUTPUT: out },
    });
    expect(run.status).toBe(0);
    expect(fs.readFileSync(out, "utf8")).toBe("stage=permissive\nprevious=none\nrollout=stages/lab.yaml\n");
  });

  it("skips the comment on pull requests from forks, whose token may not write", () => {
    expect(reportSteps.find((x) => x.uses?.startsWith("actions/github-script"))!.if).toBe(
      "github.event.pull_request.head.repo.full_name == github.repository",
    );
  });

  it("reports on the stack's own rollout and stage (--stack), run by the local CLI only", () => {
    const report = steps.find((s) => s.run?.includes("--format markdown"))!;
    expect(report.run).toContain('npx --no-install mtls-rollout report --stack "$PULUMI_STACK" $previous_flag --format markdown');
    expect(report.run).toContain('npx --no-install mtls-rollout check --stack "$PULUMI_STACK" $previous_file');
    expect(report.run).toContain('git show "origin/$BASE_REF:$ROLLOUT" > base-rollout.yaml');
  });
});

describe("--stack NAME", () => {
  it("reads the rollout, the stage and the context from the stack file, so a stack that is not the lab reports on its own rollout", () => {
    const dir = path.dirname(tempFile("Pulumi.shop.yaml", ""));
    fs.writeFileSync(
      path.join(dir, "rollout.yaml"),
      [
        "namespaces: [ { name: shop, injection: true } ]",
        "workloads: [ { name: cart, namespace: shop, image: 'cart:1', service: { ports: [ { port: 80 } ] } }, { name: c, namespace: shop, image: 'curl:8', probe: true } ]",
        "stages: [ { name: permissive }, { name: shop-strict, peerAuthentications: [ { name: default, namespace: shop, mode: STRICT } ] } ]",
      ].join("\n"),
    );
    fs.writeFileSync(
      path.join(dir, "Pulumi.shop.yaml"),
      "config:\n  mtls-rollout:stage: shop-strict\n  mtls-rollout:rollout: rollout.yaml\n  mtls-rollout:kubeContext: prod\n  mtls-rollout:prometheusUrl:\n    secure: AAABAFLv\n",
    );
    const plan = runCli(["plan", "--stack", "acme/mtls-rollout/shop", "--json"], { cwd: dir });
    expect(plan.code).toBe(0);
    expect(JSON.parse(plan.stdout)).toMatchObject({
      stage: "shop-strict",
      workloads: expect.arrayContaining([expect.objectContaining({ name: "cart", mode: "STRICT" })]),
    });
    // An explicit option wins over the stack file.
    expect(JSON.parse(runCli(["plan", "--stack", "shop", "--stage", "permissive", "--json"], { cwd: dir }).stdout).stage).toBe(
      "permissive",
    );
    expect(runCli(["check", "--stack", "shop"], { cwd: dir }).code).toBe(0);
    const missing = runCli(["plan", "--stack", "other"], { cwd: dir });
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/^error: --stack: .*Pulumi\.other\.yaml cannot be read \(ENOENT\)\n$/);
  });
});

describe("the e2e workflow", () => {
  const e2e = YAML.parse(fs.readFileSync(path.join(ROOT, ".github", "workflows", "e2e.yml"), "utf8"));
  const e2eSteps: { name?: string; uses?: string; run?: string; if?: string; with?: Record<string, string> }[] = e2e.jobs.e2e.steps;
  const sdkVersion = JSON.parse(fs.readFileSync(path.join(ROOT, "package.json"), "utf8")).dependencies["@pulumi/pulumi"];

  it("pins one Pulumi CLI in every workflow, the README's, no older than the SDK nor than imports that update (3.174); kind and its node image by digest", () => {
    const ownMeshSteps: Step[] = e2e.jobs["own-mesh"].steps;
    const pins = [...steps, ...e2eSteps, ...ownMeshSteps]
      .filter((x) => x.uses?.startsWith("pulumi/actions"))
      .map((x) => String(x.with!["pulumi-version"]));
    expect(pins).toHaveLength(3);
    const cli = pins[0];
    expect(pins.every((p) => p === cli)).toBe(true);
    expect(fs.readFileSync(path.join(ROOT, "README.md"), "utf8")).toMatch(
      new RegExp(`the Pulumi CLI ${cli.replace(/\./g, "\\.")},\\s+the current release`),
    );
    const order = (v: string) =>
      v
        .split(".")
        .map(Number)
        .reduce((n, part) => n * 1000 + part, 0);
    expect(order(cli)).toBeGreaterThanOrEqual(order(sdkVersion));
    expect(order(cli)).toBeGreaterThanOrEqual(order("3.174.0"));
    const kind = e2eSteps.find((s) => s.uses?.startsWith("helm/kind-action"))!;
    expect(kind.with!.version).toMatch(/^v\d+\.\d+\.\d+$/);
    expect(kind.with!.node_image).toMatch(/^kindest\/node:v1\.3[1-5]\.\d+@sha256:[0-9a-f]{64}$/);
  });

  it("dumps pods, events, PeerAuthentications and every sidecar's log (native sidecars too) when the walk fails", () => {
    const dump = e2eSteps.find((s) => s.name === "Cluster diagnostics")!;
    expect(dump.if).toBe("failure()");
    expect(e2eSteps.indexOf(dump)).toBe(e2eSteps.length - 1);
    // The step in bash against a kubectl that records its arguments and lists three pods: a classic sidecar,
    // a native one (an init container), and a pod without.
    const bin = path.dirname(tempFile("kubectl", ""));
    const calls = path.join(bin, "calls");
    fs.writeFileSync(
      path.join(bin, "kubectl"),
      [
        "#!/bin/sh",
        `printf '%s\\n' "$*" >> "${calls}"`,
        'case "$*" in *jsonpath*) printf "shop cart-1 cart istio-proxy \\nshop till-1 till istio-init istio-proxy\\ndefault sleep-1 sleep \\n";; esac',
        "exit 1",
      ].join("\n"),
    );
    fs.chmodSync(path.join(bin, "kubectl"), 0o755);

    const run = spawnSync("bash", ["-e", "-c", dump.run!], {
      encoding: "utf8",
      env: { ...process.env, PATH: `${bin}:${process.env.PATH}` },
    });
    expect(run.status).toBe(0);
    const made = fs.readFileSync(calls, "utf8").trim().split("\n");
    expect(made).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^--context kind-mtls-lab get pods -A/),
        expect.stringMatching(/^--context kind-mtls-lab get events -A/),
        expect.stringMatching(/^--context kind-mtls-lab get peerauthentication -A/),
      ]),
    );
    expect(made.filter((c) => c.includes(" logs ") && c.includes("-c istio-proxy"))).toEqual([
      "--context kind-mtls-lab -n shop logs cart-1 -c istio-proxy --tail=300",
      "--context kind-mtls-lab -n shop logs till-1 -c istio-proxy --tail=300",
    ]);
    expect(run.stdout).toContain("=== shop/till-1 istio-proxy");
  });
});

describe("the e2e workflow's own mesh", () => {
  const job = YAML.parse(fs.readFileSync(path.join(ROOT, ".github", "workflows", "e2e.yml"), "utf8")).jobs["own-mesh"];
  const jobSteps: { name?: string; uses?: string; run?: string; env?: Record<string, string>; with?: Record<string, string> }[] = job.steps;
  const istioDefault = parseStackConfig({ "mtls-rollout:stage": "permissive" }).istioVersion;

  it("installs the team's Istio and Prometheus (the release the stack defaults to) before it walks", () => {
    const install = jobSteps.find((s) => s.name === "Istio and its Prometheus")!;
    for (const chart of ["istio/base", "istio/istiod"]) expect(install.run).toContain(`${chart} -n istio-system`);
    expect([...install.run!.matchAll(/--version (\S+)/g)].map((m) => m[1])).toEqual([istioDefault, istioDefault]);
    expect(install.run).toContain(`istio/istio/${istioDefault}/samples/addons/prometheus.yaml`);
    const walk = jobSteps.find((s) => s.name === "Walk an own mesh")!;
    expect(walk.run).toBe("npm run e2e:own-mesh");
    expect(walk.env).toEqual({ PULUMI_E2E: "1", KUBE_CONTEXT: "kind-own-mesh", PULUMI_RUN_PROGRAM: "true" });
    expect(jobSteps.indexOf(install)).toBeLessThan(jobSteps.indexOf(walk));
    expect(jobSteps.find((s) => s.uses?.startsWith("helm/kind-action"))!.with!.cluster_name).toBe("own-mesh");
  });
});

describe("--stack NAME where a Pulumi CLI answers", () => {
  it("takes the config as `pulumi config --json` resolves it (ESC environments included), the stack file only where none answers", () => {
    const dir = path.dirname(
      tempFile("Pulumi.esc.yaml", "config:\n  mtls-rollout:stage: permissive\n  mtls-rollout:kubeContext: from-file\n"),
    );
    // `pulumi config --json` prints every key with its value; a secret without one (pulumi/pulumi cmd/pulumi config).
    const fake = path.join(dir, "pulumi");
    fs.writeFileSync(
      fake,
      [
        "#!/bin/sh",
        '[ "$1 $2 $3 $4" = "config --json --stack esc" ] || exit 1',
        `printf '%s' '${JSON.stringify({
          "mtls-rollout:stage": { value: "shop-strict", secret: false },
          "mtls-rollout:kubeContext": { value: "from-esc", secret: false },
          "mtls-rollout:clusterUid": { value: "6f1c2a4e-0b7d-4c55-9a31-000000000006", secret: false },
          "mtls-rollout:prometheusToken": { secret: true },
        })}'`,
      ].join("\n"),
    );
    fs.chmodSync(fake, 0o755);
    expect(readStackFile("esc", dir, { ...process.env, MTLS_ROLLOUT_PULUMI: fake })).toEqual({
      stage: "shop-strict",
      context: "from-esc",
      clusterUid: "6f1c2a4e-0b7d-4c55-9a31-000000000006",
    });
    expect(readStackFile("esc", dir, { ...process.env, MTLS_ROLLOUT_PULUMI: path.join(dir, "no-such-pulumi") })).toEqual({
      stage: "permissive",
      context: "from-file",
    });
  });
});
