import { z } from "zod";
import { CLIENT_TLS_MODES } from "./clientTls";
import {
  containerPortName,
  dns1035Label,
  dns1123Label,
  dns1123Subdomain,
  envVarName,
  imageRef,
  labelKey,
  labels,
  portNumber,
  servicePortName,
  urlPath,
  workloadRef,
} from "./names";

/** Istio's `PeerAuthentication.MutualTLS.Mode`, in the CRD's own spelling. */
export const MTLS_MODES = ["UNSET", "DISABLE", "PERMISSIVE", "STRICT"] as const;
export const mtlsMode = z.enum(MTLS_MODES);
export type MtlsMode = z.infer<typeof mtlsMode>;
/** A mode after inheritance: UNSET never survives resolution. */
export type ResolvedMode = Exclude<MtlsMode, "UNSET">;

// Written as the number itself: "08080" and "8080" would otherwise be two keys for one port, the last one winning.
const portKey = z
  .string()
  .refine((k) => /^[1-9][0-9]{0,4}$/.test(k) && Number(k) <= 65535, "must be a port number from 1 to 65535, without leading zeros");

// Both our short form `8080: STRICT` and Istio's own `8080: { mode: STRICT }` are accepted, so a
// policy can be pasted from Istio's docs.
const portMode = z
  .union([mtlsMode, z.strictObject({ mode: mtlsMode.default("UNSET") })], {
    error: `must be one of ${MTLS_MODES.join(", ")}, or { mode: <one of them> }`,
  })
  .transform((v) => (typeof v === "string" ? v : v.mode));

/**
 * The rules a stage may accept a finding of, with a reason: those a live cluster can break before any rollout (and a
 * port left open on purpose). DISABLE has allowDisable, a broken call acknowledgeBrokenCalls.
 */
export const ACKNOWLEDGEABLE_RULES = [
  "one-default-per-scope",
  "one-policy-per-workload",
  "no-selector-in-root-namespace",
  "port-level-needs-selector",
  "port-level-uses-target-ports",
  "selector-matches-a-workload",
  "namespace-disable-breaks-strict-workloads",
  "client-tls-conflicts",
  "partial-sidecar-not-strict",
  "last-stage-leaves-ports-open",
] as const;

export const peerAuthenticationSchema = z.strictObject({
  name: dns1123Subdomain,
  namespace: dns1123Label,
  selector: labels.nullable().optional(),
  mode: mtlsMode.default("UNSET"),
  portLevelMtls: z.record(portKey, portMode).optional(),
  /** Accept mode DISABLE (top-level or port-level) on this policy, for this reason. */
  allowDisable: z.string().trim().min(1, "must give the reason").max(500).optional(),
  /**
   * The policy is on the cluster already (made by someone else): the stack adopts it on its first
   * `up` and never deletes it. Only on a policy of the first stage, the cluster as it was.
   */
  existing: z.boolean().optional(),
  /**
   * Who else manages it on the cluster (discover reads its labels and annotations: Helm, Argo CD, Flux, another Pulumi
   * stack): adopting it means fighting that owner over it, which `pulumi up` refuses without `takeOver`.
   */
  managedBy: z.string().trim().min(1).max(200).optional(),
  /** Adopt a policy another tool manages anyway, for this reason (that tool must stop managing it). */
  takeOver: z.string().trim().min(1, "must give the reason").max(500).optional(),
});

/** A workload port (`namespace/workload:port`) and why a stage accepts what it says about it. */
const portAcknowledgements = z
  .array(
    z.strictObject({
      target: z
        .string()
        .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?\/[a-z0-9]([-a-z0-9]*[a-z0-9])?:[0-9]{1,5}$/, "must be namespace/workload:port"),
      reason: z.string().trim().min(1, "must give the reason").max(500),
    }),
  )
  .default([]);

export const stageSchema = z.strictObject({
  name: dns1123Label,
  description: z.string().max(1024).optional(),
  peerAuthentications: z.array(peerAuthenticationSchema).default([]),
  /** Workload ports the pre-flight gate may find receiving plaintext, each with the reason (`namespace/workload:port`). */
  acknowledgePlaintext: portAcknowledgements,
  /**
   * Workload ports whose probed edges no evidence on this cluster can decide (verify says which and why), each with
   * the reason the stage may pass without that proof. In force from this stage on.
   */
  acknowledgeUnverifiable: portAcknowledgements,
  /**
   * Guardrail findings this stage accepts, each with the reason: the cluster as discover found it (stage `current`
   * holds every live policy, a second policy on one workload included). In force from this stage on.
   */
  acknowledgeFindings: z
    .array(
      z.strictObject({
        rule: z.enum(ACKNOWLEDGEABLE_RULES, `must be one of ${ACKNOWLEDGEABLE_RULES.join(", ")}`),
        /** The finding's subject: `namespace/name` of the policy or workload it names, `namespace/workload:port` of a port. */
        resource: z
          .string()
          .regex(
            /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?\/[a-z0-9]([-a-z0-9.]*[a-z0-9])?(:[0-9]{1,5})?$/,
            "must be namespace/name or namespace/workload:port",
          ),
        reason: z.string().trim().min(1, "must give the reason").max(500),
      }),
    )
    .default([]),
  /**
   * Policies in force before this stage that it retires: from this stage on they are declared in their dormant form
   * (UNSET, selecting nothing), so that removing them is an update the stage's verification sees done, never a delete
   * Pulumi would run after it. Drop a policy from a rollout only by retiring it.
   */
  retire: z
    .array(z.strictObject({ namespace: dns1123Label, name: dns1123Subdomain }))
    .max(1000)
    .default([]),
  /** Declared calls this stage may turn into `refused`, each with the reason. */
  acknowledgeBrokenCalls: z
    .array(z.strictObject({ from: workloadRef, to: workloadRef, reason: z.string().trim().min(1, "must give the reason").max(500) }))
    .default([]),
});

export const namespaceSchema = z.strictObject({
  name: dns1123Label,
  injection: z.boolean().default(false),
  /** The namespace exists already and is not managed here. Defaults to true for Kubernetes' and Istio's own. */
  existing: z.boolean().optional(),
});

export const servicePortSchema = z.strictObject({
  name: servicePortName.optional(),
  port: portNumber,
  /** The workload's port: a number, or the name of one of its `ports`. Default: the same as `port`. */
  targetPort: z.union([portNumber, containerPortName], "must be a port number or the name of a workload port").optional(),
  // Sidecars intercept TCP only: a UDP or SCTP port has no mTLS to roll out.
  protocol: z.literal("TCP", "must be TCP: Istio's sidecars do not intercept UDP or SCTP").default("TCP"),
  /** The Service port's appProtocol, which Istio's protocol selection reads before the port name. */
  appProtocol: labelKey.optional(),
});

/** A port the workload's container listens on: a number, or a named port a Service may target by name. */
export const containerPortSchema = z.union(
  [portNumber, z.strictObject({ name: containerPortName, containerPort: portNumber })],
  "must be a port number or { name, containerPort }",
);

export const WORKLOAD_KINDS = ["Deployment", "StatefulSet", "DaemonSet"] as const;

/** A Service that selects a workload's pods. */
const serviceSchema = z.strictObject({
  name: dns1035Label.optional(),
  /** The Service's own selector, when it is not the workload's labels (a Service on the cluster selects by fewer). */
  selector: labels.optional(),
  ports: z.array(servicePortSchema).min(1, "a service needs at least one port"),
});

export const workloadSchema = z.strictObject({
  name: dns1123Label,
  namespace: dns1123Label,
  /** false: the workload runs on the cluster already, deployed by someone else; the stack creates nothing for it. */
  deploy: z.boolean().default(true),
  /** The controller kubectl reaches its pods through (`deployment/NAME`); the stack deploys Deployments only. */
  kind: z.enum(WORKLOAD_KINDS).default("Deployment"),
  /** The pod labels (of the pod template); what the Deployment and Service select by when the stack deploys it. */
  labels: labels.optional(),
  /**
   * Whether its pods run an istio-proxy sidecar; `partial` (a workload running already): some do and some do not,
   * as after injection was switched on without a restart (discover reads it from the pods).
   */
  sidecar: z.union([z.boolean(), z.literal("partial")], "must be true, false or partial").optional(),
  image: imageRef.optional(),
  container: dns1123Label.optional(),
  command: z.array(z.string().max(4096)).optional(),
  args: z.array(z.string().max(4096)).optional(),
  env: z.record(envVarName, z.string().max(32768)).optional(),
  serviceAccount: dns1123Subdomain.optional(),
  replicas: z.number().int().min(1, "at least one pod: a workload without pods has no behaviour to verify").max(1000).optional(),
  /** Its one Service; `services` for more (an HTTP and a gRPC one, say). */
  service: serviceSchema.optional(),
  /** Its Services, when it has more than one: each its own name. */
  services: z.array(serviceSchema).min(1, "list at least one Service, or leave services out").max(16).optional(),
  /** Ports the container listens on besides its Service's target ports (Istio applies port-level mTLS to them too), and named ports. */
  ports: z.array(containerPortSchema).default([]),
  /**
   * Declared traffic: `namespace/workload`, or `{ to, observed, requests }` where Prometheus saw the call otherwise
   * than the model expects it at the first stage (discover writes it): there the expectation is what was observed.
   */
  calls: z
    .array(
      z.union(
        [
          workloadRef,
          z.strictObject({
            to: workloadRef,
            observed: z.enum(["mtls", "plaintext"]),
            requests: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER),
          }),
        ],
        "must be namespace/workload, or { to, observed: mtls | plaintext, requests }",
      ),
    )
    .default([]),
  /**
   * Ports its sidecar does not intercept, as its pods' `traffic.sidecar.istio.io/excludeInboundPorts` (or
   * `includeInboundPorts`) say (discover reads them): connections reach the application directly, so no policy
   * applies there. Only for a workload that runs already.
   */
  notIntercepted: z.array(portNumber).max(64).default([]),
  probe: z.boolean().default(false),
  /** The path probes request from this workload's service; `/headers` on httpbin echoes the XFCC header. */
  probePath: urlPath.default("/"),
});

/** The probe kit: small curl clients the stack deploys, so verification never depends on application images. */
export const probesSchema = z.strictObject({
  /** One probe with a sidecar in each of these namespaces. */
  namespaces: z.array(dns1123Label).default([]),
  /** One probe without a sidecar, in this namespace (created by the stack unless declared); false for none. */
  outsideMesh: z.union([z.literal(false), z.strictObject({ namespace: dns1123Label })]).default({ namespace: "mtls-rollout-probes" }),
  /** A curl image, pinned by tag or digest. */
  image: imageRef.optional(),
});

/** A DestinationRule's `tls` (ClientTLSSettings): only its mode matters to what a sidecar sends. DISABLE is proto's 0. */
const clientTlsSettings = z.strictObject({ mode: z.enum(CLIENT_TLS_MODES).default("DISABLE") });
/** A trafficPolicy as far as TLS goes, in Istio's own shape (a portLevelSettings entry without tls leaves it to auto mTLS). */
const trafficPolicySchema = z.strictObject({
  tls: clientTlsSettings.optional(),
  portLevelSettings: z
    .array(z.strictObject({ port: z.strictObject({ number: portNumber }), tls: clientTlsSettings.optional() }))
    .max(4096)
    .optional(),
});

/**
 * A DestinationRule on the cluster (discover reads them): a fact of the cluster, which the stack never creates nor
 * changes, but which decides what clients' sidecars send. In Istio's order: those with a workloadSelector first,
 * then the older first.
 */
export const destinationRuleSchema = z.strictObject({
  name: dns1123Subdomain,
  namespace: dns1123Label,
  host: z
    .string()
    .min(1)
    .max(253)
    .regex(
      /^(\*|(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*)$/,
      "must be a host name, a *.suffix wildcard or *",
    ),
  exportTo: z
    .array(z.union([z.literal("."), z.literal("*"), dns1123Label]))
    .max(4096)
    .optional(),
  workloadSelector: z.strictObject({ matchLabels: labels }).optional(),
  trafficPolicy: trafficPolicySchema.optional(),
  subsets: z
    .array(z.strictObject({ name: dns1123Label, trafficPolicy: trafficPolicySchema.optional() }))
    .max(4096)
    .optional(),
});

export const rolloutFileSchema = z.strictObject({
  meshRootNamespace: dns1123Label.default("istio-system"),
  /** The mesh config's `enableAutoMtls` (discover reads it): false makes clients send what DestinationRules say, else plaintext. */
  enableAutoMtls: z.boolean().default(true),
  /**
   * The mesh config's `defaultDestinationRuleExportTo` is `["."]` (discover reads it): a DestinationRule without
   * exportTo is private to its namespace.
   */
  destinationRulesPrivateByDefault: z.boolean().default(false),
  /** The cluster's DestinationRules that may set what clients send (discover reads them). */
  destinationRules: z.array(destinationRuleSchema).max(20_000).default([]),
  namespaces: z.array(namespaceSchema).default([]),
  workloads: z.array(workloadSchema).default([]),
  probes: probesSchema.optional(),
  stages: z.array(stageSchema).min(1, "a rollout needs at least one stage"),
});

export type RolloutFile = z.infer<typeof rolloutFileSchema>;
