/**
 * When a stage's last verification ended, kept in the cluster: an annotation on the ConfigMap
 * `mtls-rollout-verified` in the mesh root. The verification's probes send plaintext on purpose, and Prometheus
 * remembers them: the next stage's gate counts traffic only from then. Kept beside the mesh it speaks of, not in the
 * stack's outputs (a stack reading its own outputs back breaks on some backends and shows a diff after every up).
 * Written by kubectl with its own field manager, so the stack never sees it as drift.
 */
import { getList } from "./kubectlGet";
import { configMapObjectSchema } from "./objects";
import type { KubectlRunner } from "./runner";

export const VERIFIED_CONFIGMAP = "mtls-rollout-verified";
export const VERIFIED_AT_ANNOTATION = "mtls-rollout.io/verified-at";
export const VERIFIED_STAGE_ANNOTATION = "mtls-rollout.io/verified-stage";

/** Records that `stage` was verified until `endedAt`; one line saying why not where it could not. */
export async function recordVerified(
  runner: KubectlRunner,
  namespace: string,
  stage: string,
  endedAt: Date,
  timeoutMs: number,
): Promise<string | undefined> {
  const created = await runner(
    ["create", "configmap", VERIFIED_CONFIGMAP, "--namespace", namespace, "--field-manager", "mtls-rollout"],
    timeoutMs,
  );
  if (created.exitCode !== 0 && !/AlreadyExists/.test(created.stderr)) {
    return `the end of the verification could not be recorded in ConfigMap ${namespace}/${VERIFIED_CONFIGMAP}: ${created.stderr.trim().split("\n")[0]}`;
  }
  const annotated = await runner(
    [
      "annotate",
      "configmap",
      VERIFIED_CONFIGMAP,
      "--namespace",
      namespace,
      "--overwrite",
      "--field-manager",
      "mtls-rollout",
      `${VERIFIED_AT_ANNOTATION}=${endedAt.toISOString()}`,
      `${VERIFIED_STAGE_ANNOTATION}=${stage}`,
    ],
    timeoutMs,
  );
  if (annotated.exitCode !== 0) {
    return `the end of the verification could not be recorded in ConfigMap ${namespace}/${VERIFIED_CONFIGMAP}: ${annotated.stderr.trim().split("\n")[0]}`;
  }
  return undefined;
}

/** When the last recorded verification ended (epoch ms); none recorded: undefined. */
export async function readVerified(
  runner: KubectlRunner,
  namespace: string,
  timeoutMs: number,
): Promise<{ endedAt?: number } | { error: string; setup?: boolean }> {
  const read = await getList(
    runner,
    ["get", "configmap", VERIFIED_CONFIGMAP, "--namespace", namespace, "-o", "json"],
    configMapObjectSchema,
    timeoutMs,
  );
  if ("error" in read) return read.notFound ? {} : read;
  const value = read.items[0]?.metadata.annotations?.[VERIFIED_AT_ANNOTATION];
  if (value === undefined) return {};
  const ms = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/.test(value) ? Date.parse(value) : NaN;
  if (!Number.isFinite(ms) || ms > Date.now() + 60_000)
    return {
      error: `ConfigMap ${namespace}/${VERIFIED_CONFIGMAP} holds a ${VERIFIED_AT_ANNOTATION} that is no past time: ${JSON.stringify(value.slice(0, 40))}`,
    };
  return { endedAt: ms };
}
