/**
 * When the last verification ended, kept in the cluster (issue 21, point 6): `verify --record` (the stack's Command)
 * annotates the ConfigMap mtls-rollout-verified in the mesh root after a pass; `preflight --since recorded` reads it.
 * kubectl's answers here are its own: `create` of an object that exists fails with the API server's AlreadyExists
 * (k8s.io/apiserver responsewriters), `get` of one that does not with NotFound.
 */
import { describe, expect, it } from "vitest";
import type { KubectlRunner } from "../src/cluster/runner";
import { readVerified, recordVerified, VERIFIED_AT_ANNOTATION } from "../src/cluster/verifiedRecord";
import { sinceOption } from "../src/cli/options";

function cluster(existing: Record<string, string> | undefined) {
  const calls: string[][] = [];
  let annotations = existing;
  const runner: KubectlRunner = async (args) => {
    calls.push(args);
    const ok = (stdout = "") => ({ exitCode: 0, stdout, stderr: "", timedOut: false });
    const fail = (stderr: string) => ({ exitCode: 1, stdout: "", stderr, timedOut: false });
    if (args[0] === "create") {
      if (annotations) return fail('Error from server (AlreadyExists): configmaps "mtls-rollout-verified" already exists\n');
      annotations = {};
      return ok("configmap/mtls-rollout-verified created\n");
    }
    if (args[0] === "annotate") {
      for (const a of args.filter((x) => x.includes("="))) {
        const [k, v] = a.split("=");
        annotations![k] = v;
      }
      return ok("configmap/mtls-rollout-verified annotated\n");
    }
    if (!annotations) return fail('Error from server (NotFound): configmaps "mtls-rollout-verified" not found\n');
    return ok(
      JSON.stringify({
        apiVersion: "v1",
        kind: "ConfigMap",
        metadata: { name: "mtls-rollout-verified", namespace: "istio-system", annotations },
      }),
    );
  };
  return { runner, calls };
}

describe("the end of the last verification, in the cluster", () => {
  it("is created on the first pass, annotated on every later one, and read back", async () => {
    const c = cluster(undefined);
    expect(await readVerified(c.runner, "istio-system", 5_000)).toEqual({});
    const ended = new Date("2026-12-05T01:00:00.000Z");
    expect(await recordVerified(c.runner, "istio-system", "shop-strict", ended, 5_000)).toBeUndefined();
    expect(await readVerified(c.runner, "istio-system", 5_000)).toEqual({ endedAt: ended.getTime() });
    const later = new Date("2026-12-05T02:00:00.000Z");
    expect(await recordVerified(c.runner, "istio-system", "mesh-strict", later, 5_000)).toBeUndefined();
    expect(await readVerified(c.runner, "istio-system", 5_000)).toEqual({ endedAt: later.getTime() });
    expect(c.calls.filter((a) => a[0] === "create")).toHaveLength(2);
    expect(c.calls.find((a) => a[0] === "annotate")).toContain("--field-manager");
  });

  it("is not a time the gate trusts when it is in the future or not a time", async () => {
    const c = cluster({ [VERIFIED_AT_ANNOTATION]: "2999-01-01T00:00:00Z" });
    expect(await readVerified(c.runner, "istio-system", 5_000)).toMatchObject({ error: expect.stringMatching(/no past time/) });
    const d = cluster({ [VERIFIED_AT_ANNOTATION]: "yesterday" });
    expect(await readVerified(d.runner, "istio-system", 5_000)).toMatchObject({ error: expect.stringMatching(/no past time/) });
  });

  it("is what preflight --since recorded asks for", () => {
    expect(sinceOption("recorded")).toBe("recorded");
    expect(sinceOption("2026-12-05T01:00:00Z")).toBe(Date.parse("2026-12-05T01:00:00Z"));
    expect(() => sinceOption("soon")).toThrow(/--since: must be an RFC 3339 time/);
  });
});
