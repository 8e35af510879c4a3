import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import * as path from "node:path";
import { IstioControlPlane } from "./components/istio";
import type { PrometheusGateAccess } from "./components/preflight";
import { RolloutStage, STAGE_COMPONENT, stageNameAliases } from "./components/rolloutStage";
import { DestroyGuard } from "./components/destroyGuard";
import { stagePoliciesDigest } from "./model/policyDigest";
import { expectationsHash, StageVerification } from "./components/verification";
import { CONFIG_NAMESPACE, parseStackConfig, StackConfig } from "./config";
import { describeValue, InputError, type Problem } from "./model/errors";
import type { PrometheusAccess } from "./cluster/prometheus";
import { parseHeaderLines, prometheusAccessProblems } from "./cluster/prometheusAccess";
import { clusterUidSync } from "./cluster/clusterUid";
import { readLivePoliciesSync } from "./cluster/livePoliciesSync";
import { adoptionNotes, adoptionRefusals, reviewAdoption, type AdoptedPolicy } from "./model/adoption";
import { dormantPeerAuthenticationManifest, peerAuthenticationManifest } from "./manifests/kubernetes";
import { policyOf } from "./manifests/parse";
import { tightenedTargets } from "./model/preflight";
import { isBlocking, ownedPoliciesAdopted } from "./model/rules";
import { buildPlan, Plan } from "./model/plan";
import type { Rollout } from "./model/rollout";
import { LAB_ROLLOUT_PATH, loadRollout } from "./rollout/load";

/**
 * What a stage means, in a few hundred bytes whatever the mesh's size: the full plan is `plan --json`'s (a CI
 * artifact), not the stack's, whose outputs every checkpoint, step output and stack reference carries.
 */
export interface StageDigest {
  /** Ports of workloads with a sidecar by mode, and workloads without one. */
  ports: { STRICT: number; PERMISSIVE: number; DISABLE: number };
  workloadsOutsideTheMesh: number;
  /** The expected outcomes of the probes' edges and of the declared calls. */
  expectations: { mtls: number; plaintext: number; refused: number };
  calls: { mtls: number; plaintext: number; refused: number };
  /** Changes exactly when what the verification checks changes (its trigger). */
  expectationsHash: string;
}

export function stageDigest(plan: Plan, rollout: Rollout): StageDigest {
  const ports = { STRICT: 0, PERMISSIVE: 0, DISABLE: 0 };
  let outside = 0;
  for (const w of plan.workloads) {
    if (w.mode === null) outside++;
    else for (const mode of Object.values(w.ports)) ports[mode]++;
  }
  const tally = (edges: Plan["expectations"]) => {
    const t = { mtls: 0, plaintext: 0, refused: 0 };
    for (const e of edges) t[e.expect]++;
    return t;
  };
  return {
    ports,
    workloadsOutsideTheMesh: outside,
    expectations: tally(plan.expectations),
    calls: tally(plan.calls),
    expectationsHash: expectationsHash(plan, rollout),
  };
}

export interface RolloutStackOutputs {
  stage: string;
  /** The stage in numbers; `npx --no-install mtls-rollout plan --stage STAGE --json` prints all of it. */
  digest: StageDigest;
  /** The verifier's one-line summary; absent when `mtls-rollout:verify` is false. */
  verification?: pulumi.Output<string>;
  /** When the verification ended (RFC 3339): the next stage's gate counts Prometheus traffic from then. */
  verifiedAt?: pulumi.Output<string>;
}

/** Reads and checks everything the stack needs; throws InputError before any resource exists. */
export function planFromConfig(
  allConfig: Record<string, string>,
  projectDir: string,
  /** Whether a config key holds a secret, where the runtime can tell. */
  isSecret?: (key: string) => boolean,
): { config: StackConfig; rolloutFile: string; rollout: Rollout; plan: Plan; prometheus?: PrometheusAccess } {
  const config = parseStackConfig(allConfig);
  // A credential in plain text sits in Pulumi.<stack>.yaml and in every preview: refused before it goes further.
  const plain = isSecret ? credentialsInClear(config).filter((k) => !isSecret(key(k))) : [];
  if (plain.length > 0) {
    throw new InputError(
      plain.map((k) => ({
        path: key(k),
        message: `holds a credential, so it must be a secret: pulumi config set --secret ${key(k)} … (and rotate the credential, which the stack file holds in clear)`,
      })),
    );
  }
  const prometheus = prometheusFromConfig(config, projectDir);
  const rolloutFile = config.rollout === undefined ? LAB_ROLLOUT_PATH : path.resolve(projectDir, config.rollout);
  let rollout: Rollout;
  try {
    rollout = loadRollout(rolloutFile);
  } catch (err) {
    if (err instanceof InputError) throw new InputError(err.problems, `mtls-rollout:rollout: ${err.source ?? rolloutFile}`);
    throw err;
  }
  let plan: Plan;
  try {
    plan = buildPlan(rollout, config.stage);
  } catch (err) {
    if (err instanceof InputError) {
      throw new InputError(err.problems.map((p) => ({ ...p, path: p.path === "stage" ? "mtls-rollout:stage" : p.path })));
    }
    throw err;
  }
  if (config.installKiali && !(config.installIstio && config.installPrometheus)) {
    // Kiali draws its graph from the Prometheus addon the stack installs with Istio.
    throw new InputError([
      { path: "mtls-rollout:installKiali", message: "needs mtls-rollout:installIstio and mtls-rollout:installPrometheus true" },
    ]);
  }
  if (config.installIstio && rollout.meshRootNamespace !== "istio-system") {
    // Istio's charts and its Prometheus addon assume istio-system; an install elsewhere would not be the mesh root.
    throw new InputError([
      {
        path: "mtls-rollout:installIstio",
        message: `installs Istio in istio-system, but the rollout's mesh root namespace is ${describeValue(rollout.meshRootNamespace)}`,
      },
    ]);
  }
  // A mesh the stack does not own (workloads it does not deploy, policies it adopts) is acted on only where the
  // stack is told which cluster it is: a context name alone can reach another cluster, whose same-named objects
  // (every Istio cluster has istio-system/default) an up or a destroy would change.
  const ownMesh = rollout.workloads.some((w) => !w.deploy) || rollout.stages.some((st) => st.peerAuthentications.some((p) => p.existing));
  if (ownMesh && config.installKiali) {
    // Istio's Kiali addon is anonymous, and its ClusterRole may create and delete every Istio resource: a lab's, never
    // a team's mesh.
    throw new InputError([
      {
        path: key("installKiali"),
        message:
          "installs Istio's Kiali addon, which anyone who reaches it may use to change every Istio resource (anonymous, a ClusterRole that writes): for the lab only, never on a mesh the stack does not own",
      },
    ]);
  }
  if (ownMesh) {
    const missing: Problem[] = [];
    if (config.kubeContext === undefined)
      missing.push({
        path: key("kubeContext"),
        message:
          "is required for a mesh the stack does not own: the kube context to act on (pulumi config set mtls-rollout:kubeContext NAME)",
      });
    if (config.clusterUid === undefined)
      missing.push({
        path: key("clusterUid"),
        message:
          "is required for a mesh the stack does not own: the UID of its kube-system namespace, which discover prints (pulumi config set mtls-rollout:clusterUid UID)",
      });
    if (missing.length > 0) throw new InputError(missing);
  }
  // A policy another tool manages is not taken over unawares: the two would put back their own specs in turn.
  const owned = ownedPoliciesAdopted(rollout);
  if (owned.length > 0) throw new InputError(owned.map((v) => ({ path: `mtls-rollout:rollout ${v.resource}`, message: v.message })));
  // The guardrails hold for every stage the program declares, whether or not a policy pack runs.
  const blocking = plan.violations.filter(isBlocking);
  if (blocking.length > 0) {
    throw new InputError(
      blocking.map((v) => ({ path: `mtls-rollout:stage ${describeValue(plan.stage)}`, message: `breaks ${v.rule}: ${v.message}` })),
    );
  }
  return { config, rolloutFile, rollout, plan, ...(prometheus ? { prometheus } : {}) };
}

const key = (name: string) => `${CONFIG_NAMESPACE}:${name}`;

/** Header names that carry a credential by their name. */
const CREDENTIAL_HEADER = /authorization|token|secret|password|api-?key|cookie|auth/i;

/** The Prometheus config keys that hold a credential: the token, a URL with a user, a header that carries one. */
function credentialsInClear(config: StackConfig): ("prometheusToken" | "prometheusUrl" | "prometheusHeaders")[] {
  let userinfo = false;
  try {
    const url = config.prometheusUrl === undefined ? undefined : new URL(config.prometheusUrl);
    userinfo = url !== undefined && (url.username !== "" || url.password !== "");
  } catch {
    userinfo = false;
  }
  return [
    ...(config.prometheusToken !== undefined ? (["prometheusToken"] as const) : []),
    ...(userinfo ? (["prometheusUrl"] as const) : []),
    ...(Object.keys(config.prometheusHeaders ?? {}).some((h) => CREDENTIAL_HEADER.test(h)) ? (["prometheusHeaders"] as const) : []),
  ];
}

/** The gate's Prometheus access from the config, its files resolved against the project, checked as the CLI checks it. */
function prometheusFromConfig(config: StackConfig, projectDir: string): PrometheusAccess | undefined {
  const extras = (["prometheusToken", "prometheusTokenFile", "prometheusHeaders", "prometheusCaFile"] as const).filter(
    (k) => config[k] !== undefined,
  );
  if (config.prometheusUrl === undefined) {
    if (extras.length > 0) throw new InputError(extras.map((k) => ({ path: key(k), message: `only counts with ${key("prometheusUrl")}` })));
    return undefined;
  }
  const problems: Problem[] = [];
  const headerLines = Object.entries(config.prometheusHeaders ?? {}).map(([name, value]) => `${name}: ${value}`);
  const headers = parseHeaderLines(headerLines, key("prometheusHeaders"), problems);
  const access: PrometheusAccess = {
    url: config.prometheusUrl,
    ...(config.prometheusToken !== undefined ? { token: config.prometheusToken } : {}),
    ...(config.prometheusTokenFile !== undefined ? { tokenFile: path.resolve(projectDir, config.prometheusTokenFile) } : {}),
    ...(Object.keys(headers).length > 0 ? { headers } : {}),
    ...(config.prometheusCaFile !== undefined ? { caFile: path.resolve(projectDir, config.prometheusCaFile) } : {}),
  };
  problems.push(
    ...prometheusAccessProblems(access, {
      url: key("prometheusUrl"),
      token: key("prometheusToken"),
      tokenFile: key("prometheusTokenFile"),
      headers: key("prometheusHeaders"),
      caFile: key("prometheusCaFile"),
    }),
  );
  if (problems.length > 0) throw new InputError(problems);
  return access;
}

/**
 * A config value as the Commands get it: a secret when the stack config holds it as one. The parsed config is
 * plain strings (allConfig() drops secrecy), so the key's secrecy is asked of the runtime; where the runtime
 * cannot say, the value is treated as a secret.
 */
function keepSecret(key: string, value: string): pulumi.Input<string> {
  const isSecret = runtimeIsConfigSecret();
  return !isSecret || isSecret(`${CONFIG_NAMESPACE}:${key}`) ? pulumi.secret(value) : value;
}

/** The runtime's own answer to whether a config key is secret; undefined where this SDK cannot say. */
function runtimeIsConfigSecret(): ((key: string) => boolean) | undefined {
  return (pulumi.runtime as unknown as { isConfigSecret?: (k: string) => boolean }).isConfigSecret;
}

/** The access as the gate's Command gets it: what may be a credential stays a secret where the config holds it as one. */
function gateAccess(access: PrometheusAccess): PrometheusGateAccess {
  return {
    url: keepSecret("prometheusUrl", access.url),
    ...(access.token !== undefined ? { token: keepSecret("prometheusToken", access.token) } : {}),
    ...(access.tokenFile !== undefined ? { tokenFile: access.tokenFile } : {}),
    ...(access.headers !== undefined
      ? {
          headers: keepSecret(
            "prometheusHeaders",
            Object.entries(access.headers)
              .map(([name, value]) => `${name}: ${value}`)
              .join("\n"),
          ),
        }
      : {}),
    ...(access.caFile !== undefined ? { caFile: access.caFile } : {}),
  };
}

/**
 * The stack's organization, which the engine gives every program (a self-managed backend calls it "organization");
 * an SDK run without one (a test harness) gets that name too, so a stack's name does not change with how it is run.
 */
function organization(): string {
  try {
    return pulumi.getOrganization();
  } catch {
    return "organization";
  }
}

/** The adopted policies as the stage declares them (in force, or dormant once retired), with how the first stage found them. */
function adoptedPolicies(rollout: Rollout, plan: Plan): AdoptedPolicy[] {
  const key = (p: { namespace: string; name: string }) => `${p.namespace}/${p.name}`;
  const asFound = new Map(rollout.stages[0].peerAuthentications.filter((p) => p.existing).map((p) => [key(p), p]));
  const declared = [
    ...plan.peerAuthentications
      .filter((p) => p.existing)
      .map((p) => ({ declared: policyOf(peerAuthenticationManifest(p), plan.stage), dormant: false })),
    ...plan.dormant
      .filter((d) => d.adopted)
      .map((d) => ({ declared: policyOf(dormantPeerAuthenticationManifest(d), plan.stage), dormant: true })),
  ];
  return declared.map((d) => ({ ...d, ...(asFound.has(key(d.declared)) ? { asFound: asFound.get(key(d.declared)) } : {}) }));
}

/**
 * Before the adopted policies are declared: each must be on the cluster (a retired one is declared again), not
 * another mtls-rollout stack's, and, until this stack has written it, as the first stage found it. Says what this `up`
 * does to each, as Pulumi's preview of an imported custom resource shows the declared spec alone. Returns the ids
 * (`namespace/name`) to declare with Pulumi's `import`.
 */
function reviewAdoptionOnCluster(rollout: Rollout, plan: Plan, config: StackConfig, rolloutFile: string, stacks: string[]): Set<string> {
  const adopted = adoptedPolicies(rollout, plan);
  if (adopted.length === 0) return new Set();
  const read = readLivePoliciesSync(
    process.env.KUBECTL || "kubectl",
    config.kubeContext,
    [...new Set(adopted.map((a) => a.declared.namespace))],
    60_000,
  );
  if ("error" in read)
    throw new pulumi.RunError(`the adopted policies cannot be read from the cluster, so none is declared: ${read.error}`);
  const findings = reviewAdoption(adopted, read.policies, plan.stage, stacks);
  const status = `mtls-rollout status --rollout ${rolloutFile}${config.kubeContext ? ` --context ${config.kubeContext}` : ""}`;
  const refusals = adoptionRefusals(findings, rollout.stages[0].name, status);
  if (refusals.length > 0) throw new pulumi.RunError(refusals.join("\n"));
  for (const note of adoptionNotes(findings)) pulumi.log.info(note);
  // Pulumi imports what its state does not hold under the id, and ignores the option otherwise; a retired policy that
  // is gone has nothing to import, and is created.
  return new Set(findings.filter((f) => f.kind !== "recreate").map((f) => `${f.namespace}/${f.name}`));
}

/** The Pulumi program: declares the chosen stage; returns the stack outputs and the stage component. */
export function defineRolloutStack(): {
  outputs: RolloutStackOutputs;
  resources: RolloutStage;
  verification?: StageVerification;
  guard?: DestroyGuard;
} {
  let planned: ReturnType<typeof planFromConfig>;
  try {
    planned = planFromConfig(pulumi.runtime.allConfig(), process.cwd(), runtimeIsConfigSecret());
  } catch (err) {
    // RunError ends the program with this message alone, without a stack trace.
    if (err instanceof InputError) throw new pulumi.RunError(err.lines().join("\n"));
    throw err;
  }
  const { config, rolloutFile, rollout, plan, prometheus } = planned;
  // Bound to its cluster: before any resource is declared, the context must reach the cluster the stack names. The
  // providers would write wherever it points (their clusterIdentifier is only a name), and the gate's and the
  // verification's own checks run only when their triggers change.
  if (config.clusterUid !== undefined) {
    const found = clusterUidSync(process.env.KUBECTL || "kubectl", config.kubeContext, 20_000);
    const where = config.kubeContext ? `kube context ${config.kubeContext}` : "the current kube context";
    if ("error" in found)
      throw new pulumi.RunError(
        `mtls-rollout:clusterUid: cannot tell which cluster ${where} reaches, so nothing is declared: ${found.error}`,
      );
    if (found.uid !== config.clusterUid)
      throw new pulumi.RunError(
        `mtls-rollout:clusterUid: ${where} reaches the cluster whose kube-system namespace has UID ${found.uid}, not ${config.clusterUid}: nothing is declared; point the context at the right cluster`,
      );
  }
  for (const warning of plan.warnings) pulumi.log.warn(`${warning.path}: ${warning.message}`);
  const commandRolloutFile = config.rollout ?? path.relative(process.cwd(), rolloutFile);
  // Which stack writes the policies: its own are told from another stack's, or ones a destroy left behind.
  const stack = `${organization()}/${pulumi.getProject()}/${pulumi.getStack()}`;
  const ownStacks = [stack, ...(config.formerStacks?.split(",") ?? [])];
  const imported = reviewAdoptionOnCluster(rollout, plan, config, commandRolloutFile, ownStacks);

  // Bound to its cluster: the provider is replaced (and so acts nowhere else) only when the cluster's UID changes, and
  // its behaviour does not depend on the environment (PULUMI_K8S_UPSERT_EXISTING_OBJECTS, patch force): only policies
  // the rollout marks as existing are taken over, each imported by its id; anything else that exists already fails
  // with AlreadyExists instead of being taken over (and deleted on destroy) unawares.
  const bound = {
    context: config.kubeContext,
    ...(config.clusterUid !== undefined ? { clusterIdentifier: config.clusterUid } : {}),
    enableServerSideApply: true,
    // A cluster that does not answer is not a cluster whose objects are gone: never drop them from the state (with
    // refresh: always, PULUMI_K8S_DELETE_UNREACHABLE would forget every policy, protected ones too).
    deleteUnreachable: false,
    skipUpdateUnreachable: false,
  };
  // Adopted policies are imported through it too (a stack that adopted them through an upserting provider before
  // moves them here without replacing them: pulumi-kubernetes's DiffConfig replaces only when the clusterIdentifier
  // changes, provider/pkg/provider/provider.go).
  const provider = new k8s.Provider("kubernetes", { ...bound, upsertExistingObjects: false, enablePatchForce: false });
  const stageIndex = rollout.stages.findIndex((st) => st.name === plan.stage);
  // A mesh the stack does not own keeps running after a destroy: past the first stage, deleting its policies would
  // drop the exceptions and keep what is STRICT, ungated. A lab the stack deploys whole goes whole.
  const ownMesh = rollout.workloads.some((w) => !w.deploy) || rollout.stages.some((st) => st.peerAuthentications.some((p) => p.existing));
  const onDestroy = config.handover ? "handover" : ownMesh && stageIndex > 0 ? "refuse" : "delete";
  if (onDestroy === "refuse") {
    pulumi.log.info(
      `pulumi destroy is refused at stage ${plan.stage}: its policies are protected, as deleting them would drop the exceptions and keep what is STRICT, ungated and unverified. ` +
        `To remove the stack, go back first: pulumi config set mtls-rollout:stage ${rollout.stages[0].name} && pulumi up (gated and verified), then pulumi destroy. ` +
        `To stop using the tool and keep the policies: pulumi config set mtls-rollout:handover true && pulumi up, then pulumi destroy.`,
    );
  }
  // Any stage with a STRICT port may tighten the cluster, whatever stage it is at now (a skipped stage,
  // a rollback): the gate compares with the cluster's live policies when it runs.
  const targets = tightenedTargets(rollout, plan.stage, null);
  const istio = config.installIstio
    ? new IstioControlPlane("istio", {
        version: config.istioVersion,
        namespace: rollout.meshRootNamespace,
        installPrometheus: config.installPrometheus,
        installKiali: config.installKiali,
        provider,
      })
    : undefined;
  const resources = new RolloutStage("mtls-rollout", {
    rollout,
    plan,
    provider,
    stack,
    imported,
    istio,
    onDestroy,
    adoption: {
      rolloutFile: commandRolloutFile,
      ...(config.kubeContext !== undefined ? { kubeContext: config.kubeContext } : {}),
      ...(config.clusterUid !== undefined ? { clusterUid: config.clusterUid } : {}),
    },
    ...(config.accessLogs !== "off" ? { accessLogs: config.accessLogs } : {}),
    ...(config.preflight && targets.length > 0
      ? {
          preflight: {
            stage: plan.stage,
            previous: "live",
            targets,
            rolloutFile: commandRolloutFile,
            windowSeconds: config.preflightWindow,
            ...(prometheus ? { prometheus: gateAccess(prometheus) } : {}),
            kubeContext: config.kubeContext,
            ...(config.clusterUid !== undefined ? { clusterUid: config.clusterUid } : {}),
            // Prometheus remembers the last verification's probes, which sent plaintext on purpose: the gate
            // counts from when it ended, as the verification recorded it in the cluster.
            ...(prometheus ? { since: "recorded" } : {}),
          },
        }
      : {}),
  });
  // On a mesh the stack does not own, a destroy checks the cluster before it deletes anything there (see DestroyGuard).
  const guard = !ownMesh
    ? undefined
    : new DestroyGuard("destroy-guard", {
        firstStage: rollout.stages[0].name,
        firstStageDigest: stagePoliciesDigest(rollout, rollout.stages[0].name),
        rolloutFile: commandRolloutFile,
        ...(config.kubeContext !== undefined ? { kubeContext: config.kubeContext } : {}),
        ...(config.clusterUid !== undefined ? { clusterUid: config.clusterUid } : {}),
        handover: config.handover,
        stacks: ownStacks,
        // The Istio it may install too (its Prometheus is nothing's dependency, and would go first otherwise).
        guards: [resources, ...(istio ? [istio] : [])],
      });
  const verification = config.verify
    ? new StageVerification(
        STAGE_COMPONENT,
        {
          plan,
          rollout,
          rolloutFile: commandRolloutFile,
          kubeContext: config.kubeContext,
          ...(config.clusterUid !== undefined ? { clusterUid: config.clusterUid } : {}),
          timeoutSeconds: config.verifyTimeout,
          settleSeconds: config.verifySettle,
          after: [resources],
          policyVersions: resources.policies.peerAuthentications.map((p) => p.metadata.apply((m) => m?.resourceVersion)),
          stageNames: rollout.stages.map((s) => s.name),
        },
        { aliases: stageNameAliases(rollout) },
      )
    : undefined;

  return {
    outputs: {
      stage: plan.stage,
      digest: stageDigest(plan, rollout),
      ...(verification ? { verification: verification.summary, verifiedAt: verification.endedAt } : {}),
    },
    resources,
    verification,
    guard,
  };
}
