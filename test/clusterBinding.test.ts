/**
 * A rollout bound to its cluster (issue 21, point 1): status, the gate and verify check, before reading anything,
 * that the context reaches the cluster whose kube-system namespace has the UID given (`--cluster-uid`, the stack
 * file's `mtls-rollout:clusterUid` through `--stack`, or MTLS_ROLLOUT_CLUSTER_UID, which the stack's Commands set),
 * and stop with exit 2 on another. The cluster is test/fixtures/cluster (its kube-system: ...000006).
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { FAKE_KUBECTL } from "./support/fakeKubectlBuild";
import { cli } from "./support/inProcessCli";

const CLUSTER = path.join(__dirname, "fixtures", "cluster");
const THIS_CLUSTER = "6f1c2a4e-0b7d-4c55-9a31-000000000006";
const ANOTHER = "0b9a4f2e-1111-4c55-9a31-00000000beef";
const env = { KUBECTL: FAKE_KUBECTL, FAKE_KUBECTL_DIR: CLUSTER };

describe("a command bound to a cluster", () => {
  const commands: [string, string[]][] = [
    ["status", ["status"]],
    ["preflight", ["preflight", "--stage", "istioinaction-strict", "--previous", "live"]],
    ["verify", ["verify", "--stage", "permissive", "--timeout", "10"]],
  ];

  it.each(commands)("%s stops with exit 2, one line, on another cluster", async (_, args) => {
    const out = await cli([...args, "--cluster-uid", ANOTHER], { env });
    expect(out.code).toBe(2);
    expect(out.stderr.trim().split("\n")).toEqual([
      `error: the current kube context reaches the cluster whose kube-system namespace has UID ${THIS_CLUSTER}, not ${ANOTHER} (the cluster this rollout is bound to): nothing is read; point the context at the right cluster`,
    ]);
    expect(out.stdout).toBe("");
  });

  it.each(commands)("%s takes the UID from MTLS_ROLLOUT_CLUSTER_UID, as the stack's Commands set it", async (_, args) => {
    const out = await cli(args, { env: { ...env, MTLS_ROLLOUT_CLUSTER_UID: ANOTHER } });
    expect(out.code).toBe(2);
    expect(out.stderr).toContain(`not ${ANOTHER}`);
  });

  it("reads on where the cluster is the one named", async () => {
    const out = await cli(["status", "--cluster-uid", THIS_CLUSTER], { env });
    expect(out.stderr).not.toContain("error:");
    expect([0, 1]).toContain(out.code);
  });

  it("takes it from the stack file with --stack, and refuses a value that is no UID", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "bound-"));
    fs.writeFileSync(
      path.join(dir, "Pulumi.prod.yaml"),
      `config:\n  mtls-rollout:stage: permissive\n  mtls-rollout:clusterUid: ${ANOTHER}\n`,
    );
    const cwd = process.cwd();
    process.chdir(dir);
    try {
      const out = await cli(["status", "--stack", "prod", "--rollout", path.join(cwd, "stages", "lab.yaml")], { env });
      expect(out.code).toBe(2);
      expect(out.stderr).toContain(`not ${ANOTHER}`);
    } finally {
      process.chdir(cwd);
    }
    const bad = await cli(["status", "--cluster-uid", "prod-eu"], { env });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("--cluster-uid: must be a namespace UID");
  });
});
