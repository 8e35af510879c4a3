/**
 * Envoy's access log switched on by the stack (`mtls-rollout:accessLogs`) for the sidecars of workloads it does not
 * own, where only that log can show a STRICT refusal on a port that is not HTTP: the program under Pulumi's mocks,
 * each Telemetry validated against Istio's CRD (test/fixtures/telemetry-crd.yaml, v1).
 */
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { accessLogTargets } from "../src/model/accessLogs";
import { buildPlan } from "../src/model/plan";
import { loadRollout } from "../src/rollout/load";
import { crdValidator } from "./support/crdValidator";
import { tempFile } from "./support/files";
import { named, ofType, runStack } from "./support/stack";

/**
 * A database namespace: MySQL the stack deploys (its pods report the listener counter), Redis and Postgres running
 * already with sidecars, a gRPC server without one, and an HTTP API running already.
 */
const FILE = tempFile("db.yaml", [
  "namespaces: [ { name: db, injection: true, existing: true } ]",
  "workloads:",
  "  - { name: mysql, namespace: db, image: 'docker.io/library/mysql:8.4', service: { ports: [ { name: tcp-mysql, port: 3306 } ] } }",
  "  - { name: redis, namespace: db, deploy: false, sidecar: true, labels: { app: redis, tier: cache }, service: { ports: [ { name: redis, port: 6379 } ] } }",
  "  - { name: postgres, namespace: db, kind: StatefulSet, deploy: false, sidecar: true, service: { ports: [ { name: tcp-postgres, port: 5432 } ] } }",
  "  - { name: legacy-grpc, namespace: db, deploy: false, sidecar: false, service: { ports: [ { name: grpc, port: 50051 } ] } }",
  "  - { name: api, namespace: db, deploy: false, sidecar: true, service: { ports: [ { name: http, port: 80, targetPort: 8080 } ] } }",
  "probes: { namespaces: [ db ] }",
  "stages:",
  "  - { name: open }",
  "  - name: redis-strict",
  "    peerAuthentications: [ { name: redis, namespace: db, selector: { app: redis }, mode: STRICT } ]",
  "  - name: db-strict",
  "    peerAuthentications: [ { name: default, namespace: db, mode: STRICT } ]",
]);
const rollout = loadRollout(FILE);
const validate = crdValidator(path.join(__dirname, "fixtures", "telemetry-crd.yaml"), "v1");

const stack = (stage: string, accessLogs?: string) =>
  runStack({
    "mtls-rollout:stage": stage,
    "mtls-rollout:rollout": FILE,
    // A mesh the stack does not own: bound to its cluster.
    "mtls-rollout:kubeContext": "prod-eu",
    "mtls-rollout:clusterUid": "6f1c2a4e-0b7d-4c55-9a31-000000000006",
    ...(accessLogs ? { "mtls-rollout:accessLogs": accessLogs } : {}),
  });
const telemetries = (resources: Awaited<ReturnType<typeof stack>>["resources"]) =>
  ofType(resources, "kubernetes:telemetry.istio.io/v1:Telemetry");

describe("which workloads need their access log", () => {
  it("those the stack does not deploy, with a sidecar, that refuse a probe on a port that is not HTTP", () => {
    const at = (stage: string) => accessLogTargets(buildPlan(rollout, stage), rollout).map((t) => `${t.workload.ref}:${t.ports.join(",")}`);
    expect(at("open")).toEqual([]);
    expect(at("redis-strict")).toEqual(["db/redis:6379"]);
    // Not mysql (the stack's pods report the listener counter), not legacy-grpc (no sidecar), not api (an HTTP
    // port's reset is a refusal in itself).
    expect(at("db-strict")).toEqual(["db/redis:6379", "db/postgres:5432"]);
  });
});

describe("mtls-rollout:accessLogs", () => {
  it("all: a Telemetry per such workload, selecting its pods, inbound only, valid against Istio's CRD", async () => {
    const { resources } = await stack("db-strict", "all");
    const declared = telemetries(resources);
    expect(declared.map((t) => t.name).sort()).toEqual(["db/postgres", "db/redis"]);
    const redis = named(resources, "kubernetes:telemetry.istio.io/v1:Telemetry", "db/redis");
    expect(redis.inputs).toEqual({
      apiVersion: "telemetry.istio.io/v1",
      kind: "Telemetry",
      metadata: { name: "mtls-rollout-access-log-redis", namespace: "db" },
      spec: {
        selector: { matchLabels: { app: "redis", tier: "cache" } },
        accessLogging: [{ providers: [{ name: "envoy" }], match: { mode: "SERVER" } }],
      },
    });
    for (const t of declared) expect(validate(t.inputs), t.name).toEqual([]);
    // The verification reads the log: it runs once the Telemetries are there.
    const verify = named(resources, "command:local:Command", "verify");
    for (const t of declared) expect(verify.dependencies).toContain(t.urn);
    // Under the stage's component.
    expect(named(resources, "mtls-rollout:index:AccessLogs", "mtls-rollout").parent).toBe(
      named(resources, "mtls-rollout:index:RolloutStage", "mtls-rollout").urn,
    );
  });

  it("refusals: only refused connections, with Envoy's CEL filter on the response code details", async () => {
    const { resources } = await stack("redis-strict", "refusals");
    const [redis] = telemetries(resources);
    expect(redis.inputs.spec.accessLogging).toEqual([
      {
        providers: [{ name: "envoy" }],
        match: { mode: "SERVER" },
        filter: { expression: "response.code_details == 'filter_chain_not_found'" },
      },
    ]);
    expect(validate(redis.inputs)).toEqual([]);
  });

  it("declares none where no stage needs one, and none when off (the default): Pulumi removes what an earlier stage declared", async () => {
    expect(telemetries((await stack("open", "all")).resources)).toEqual([]);
    expect(telemetries((await stack("db-strict")).resources)).toEqual([]);
    expect(telemetries((await stack("db-strict", "off")).resources)).toEqual([]);
  });

  it("keeps a workload's Telemetry under one name from stage to stage", async () => {
    const urn = async (stage: string) =>
      named((await stack(stage, "all")).resources, "kubernetes:telemetry.istio.io/v1:Telemetry", "db/redis").urn;
    expect(await urn("redis-strict")).toBe(await urn("db-strict"));
  });

  it("refuses another value before any resource exists", async () => {
    await expect(stack("db-strict", "yes")).rejects.toThrow('mtls-rollout:accessLogs: must be off, all or refusals (got "yes")');
  });
});
