import { z } from "zod";
import { InputError, problemsFromZod } from "./model/errors";
import { dns1123Label } from "./model/names";

/** The Pulumi config namespace of every key this program reads (`mtls-rollout:stage`). */
export const CONFIG_NAMESPACE = "mtls-rollout";

/** Pulumi passes every config value as a string: "true" or "false" here. */
const flag = (byDefault: "true" | "false") =>
  z
    .enum(["true", "false"], "must be true or false")
    .default(byDefault)
    .transform((v) => v === "true");

/** A whole number of seconds, given as a string, within bounds. */
const seconds = (min: number, max: number) =>
  z
    .string()
    .regex(/^\d+$/, "must be a whole number of seconds")
    .transform(Number)
    .refine((n) => n >= min && n <= max, `must be from ${min} to ${max} seconds`);

export const stackConfigSchema = z.strictObject({
  /** The rollout stage this stack declares. */
  stage: dns1123Label,
  /** A rollout file, relative to the project directory; the lab when absent. */
  rollout: z.string().min(1, "must not be empty").optional(),
  /** The kubeconfig context to act on; the current context when absent. */
  kubeContext: z
    .string()
    .min(1, "must not be empty")
    .max(253)
    .regex(/^[^\s]+$/, "must not contain white space")
    .optional(),
  /**
   * The UID of the `kube-system` namespace of the cluster this stack acts on (discover prints it): each Kubernetes
   * provider's clusterIdentifier, and what the gate and the verification check before reading anything. Required
   * where the rollout has workloads the stack does not deploy or policies it adopts.
   */
  clusterUid: z
    .string()
    .regex(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/, "must be a namespace UID, as discover prints it")
    .optional(),
  /**
   * Hand the policies over on `pulumi destroy`: every PeerAuthentication is left on the cluster as the stage has it
   * (retainOnDelete), for a team that is done with the tool. Without it, a destroy past the first stage is refused.
   */
  handover: flag("false"),
  /**
   * The names this stack had (`organization/project/stack`, comma-separated), after `pulumi stack rename` or a move to
   * another organization or backend: the policies it wrote then name it so, and are still its own.
   */
  formerStacks: z
    .string()
    .regex(/^[^\s,/]+\/[^\s,/]+\/[^\s,/]+(,[^\s,/]+\/[^\s,/]+\/[^\s,/]+)*$/, "must be organization/project/stack names, comma-separated")
    .optional(),
  /** Declare the post-deploy verification Command (default true). */
  verify: flag("true"),
  /** Install Istio from its Helm charts with the stack (default false: the cluster has Istio). */
  installIstio: flag("false"),
  /** The pinned chart version of Istio's base and istiod charts. */
  istioVersion: z
    .string()
    .regex(/^\d+\.\d+\.\d+$/, "must be a release version such as 1.29.6")
    .default("1.29.6"),
  /** With installIstio, also Istio's Prometheus addon, for the pre-flight gate. */
  installPrometheus: flag("false"),
  /** With installPrometheus, Istio's Kiali addon of that release, reading that Prometheus. */
  installKiali: flag("false"),
  /** Run the pre-flight gate before a stage tightens workloads to STRICT (default true). */
  preflight: flag("true"),
  /** A Prometheus the gate reads Istio's metrics from, instead of the sidecars. */
  prometheusUrl: z
    .string()
    .regex(/^https?:\/\/[^\s"'$`\\]+$/, "must be an http(s) URL")
    .optional(),
  /** A bearer token for that Prometheus: set it with `pulumi config set --secret`; the gate gets it in its environment. */
  prometheusToken: z.string().min(1, "must not be empty").max(16384).optional(),
  /** A file holding that bearer token (relative to the project directory), read at every query. */
  prometheusTokenFile: z.string().min(1, "must not be empty").optional(),
  /**
   * Headers sent with every query, such as a tenant's `X-Scope-OrgID`: structured config,
   * `pulumi config set --path 'mtls-rollout:prometheusHeaders.X-Scope-OrgID' team-a`, which reaches the program as JSON.
   */
  prometheusHeaders: z
    .string()
    .transform((text, ctx) => {
      try {
        return JSON.parse(text) as unknown;
      } catch {
        ctx.addIssue({ code: "custom", message: "must be a map of header names to values" });
        return z.NEVER;
      }
    })
    .pipe(z.record(z.string(), z.string(), "must be a map of header names to values"))
    .optional(),
  /** A PEM file of the CA certificates an https Prometheus' certificate chains to (relative to the project directory). */
  prometheusCaFile: z.string().min(1, "must not be empty").optional(),
  /** How long the gate watches for plaintext, in seconds; unset: 60 between sidecar reads, 3600 of Prometheus history. */
  preflightWindow: seconds(1, 86400).optional(),
  /**
   * Envoy's access log for the sidecars of workloads the stack does not deploy whose refusals on a port that is not
   * HTTP the verifier cannot read otherwise: `off` (default), `all` (their every inbound connection and request),
   * `refusals` (only refused connections, with Envoy's CEL access-log filter).
   */
  accessLogs: z.enum(["off", "all", "refusals"], "must be off, all or refusals").default("off"),
  /** The verifier's deadline in seconds (default 180). */
  verifyTimeout: seconds(10, 3600).default(180),
  /**
   * Seconds at the start of a verification whose rounds do not count, while istiod pushes the stage (default 5,
   * the CLI's --settle): longer on a mesh whose pushes take longer.
   */
  verifySettle: seconds(0, 600).default(5),
});

export type StackConfig = z.infer<typeof stackConfigSchema>;

/**
 * Validates every `mtls-rollout:*` key of the stack's config (the runtime's flat `ns:key` map).
 * Unknown keys are rejected too: a misspelt key would otherwise silently fall back to a default.
 */
export function parseStackConfig(all: Record<string, string>): StackConfig {
  const prefix = `${CONFIG_NAMESPACE}:`;
  const ours = Object.fromEntries(
    Object.entries(all)
      .filter(([key]) => key.startsWith(prefix))
      .map(([key, value]) => [key.slice(prefix.length).replace(/^config:/, ""), value]),
  );
  const parsed = stackConfigSchema.safeParse(ours);
  if (!parsed.success) {
    const problems = problemsFromZod(parsed.error, ours).map((p) => ({ ...p, path: `${prefix}${p.path}` }));
    throw new InputError(problems);
  }
  // Rounds within the settle time do not count: one as long as the deadline would leave none that does.
  if (parsed.data.verifySettle >= parsed.data.verifyTimeout) {
    throw new InputError([
      {
        path: `${prefix}verifySettle`,
        message: `must be shorter than mtls-rollout:verifyTimeout (${parsed.data.verifyTimeout}), or no round counts (got "${ours.verifySettle}")`,
      },
    ]);
  }
  return parsed.data;
}
