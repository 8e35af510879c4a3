/**
 * The fields of Kubernetes objects mtls-rollout reads from `kubectl get -o json`, validated at the edge.
 * Shapes follow the Kubernetes API (core/v1 and apps/v1 OpenAPI; Istio's PeerAuthentication CRD):
 * only what is read is checked and kept. An object that does not fit is a malformed answer, never an
 * object with fields quietly missing.
 */
import { z } from "zod";
import { CLIENT_TLS_MODES } from "../model/clientTls";
import { MTLS_MODES } from "../model/schema";

/**
 * A map of strings (labels, annotations, a selector's matchLabels) exactly as the answer has it. Not zod's record:
 * it rebuilds the map by assignment, so a key `__proto__` would vanish (and a selector with only that key would
 * become empty, which Istio reads as "every workload"). Here every key stays an own property, `__proto__` too, and
 * every lookup in the model is of own keys: such a key simply matches no pod.
 */
export const stringMap = z.custom<Record<string, string>>(
  (v) =>
    v !== null &&
    typeof v === "object" &&
    !Array.isArray(v) &&
    Object.getPrototypeOf(v) === Object.prototype &&
    Object.values(v).every((x) => typeof x === "string"),
  { message: "must be a map of strings to strings" },
);

/** metav1.Time as the API server writes it (RFC 3339, UTC, whole seconds; fractions are accepted). */
const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;
const time = z.string().refine((t) => RFC3339.test(t) && Number.isFinite(Date.parse(t)), "must be an RFC 3339 time");

export const objectMetaSchema = z.object({
  name: z.string().min(1),
  /** Set by the API server once: the kube-system namespace's tells one cluster from another. */
  uid: z.string().nullish(),
  namespace: z.string().min(1).optional(),
  labels: stringMap.nullish(),
  annotations: stringMap.nullish(),
  /** RFC 3339, as the API server writes metav1.Time. */
  creationTimestamp: time.nullish(),
  /** Set once the object is being deleted: a terminating pod gets no traffic from Istio. */
  deletionTimestamp: time.nullish(),
  ownerReferences: z.array(z.object({ kind: z.string().min(1), name: z.string().min(1), controller: z.boolean().nullish() })).nullish(),
  /** Who wrote which fields (server-side apply's managers), where kubectl was asked to show them. */
  managedFields: z.array(z.object({ manager: z.string().nullish() })).nullish(),
});
export type ObjectMeta = z.infer<typeof objectMetaSchema>;

const namespacedMeta = objectMetaSchema.extend({ namespace: z.string().min(1) });

export const namespaceObjectSchema = z.object({ metadata: objectMetaSchema });
export type NamespaceObject = z.infer<typeof namespaceObjectSchema>;

const containerPortSchema = z.object({
  containerPort: z.number().int().min(1).max(65535),
  name: z.string().nullish(),
  protocol: z.string().nullish(),
});

const containerSchema = z.object({
  name: z.string().min(1),
  args: z.array(z.string()).nullish(),
  ports: z.array(containerPortSchema).nullish(),
  /** `Always` on an init container makes it a native sidecar (Kubernetes ≥ 1.29). */
  restartPolicy: z.string().nullish(),
});
export type Container = z.infer<typeof containerSchema>;

export const podSpecSchema = z.object({
  containers: z.array(containerSchema),
  initContainers: z.array(containerSchema).nullish(),
  /** A pod on the node's network is never injected (Istio's injectRequired). */
  hostNetwork: z.boolean().nullish(),
});

export const labelSelectorSchema = z.object({
  matchLabels: stringMap.nullish(),
  matchExpressions: z
    .array(
      z.object({ key: z.string(), operator: z.enum(["In", "NotIn", "Exists", "DoesNotExist"]), values: z.array(z.string()).nullish() }),
    )
    .nullish(),
});
export type LabelSelector = z.infer<typeof labelSelectorSchema>;

/** A Deployment, StatefulSet or DaemonSet: a selector and the pod template it stamps pods from. */
export const controllerSchema = z.object({
  kind: z.enum(["Deployment", "StatefulSet", "DaemonSet"]),
  metadata: namespacedMeta,
  spec: z.object({
    selector: labelSelectorSchema,
    template: z.object({
      metadata: z.object({ labels: stringMap.nullish(), annotations: stringMap.nullish() }).nullish(),
      spec: podSpecSchema,
    }),
  }),
});
export type ControllerObject = z.infer<typeof controllerSchema>;

export const serviceObjectSchema = z.object({
  metadata: namespacedMeta,
  spec: z.object({
    type: z.string().nullish(),
    selector: stringMap.nullish(),
    ports: z
      .array(
        z.object({
          name: z.string().nullish(),
          port: z.number().int().min(1).max(65535),
          targetPort: z.union([z.number().int().min(1).max(65535), z.string().min(1)]).nullish(),
          protocol: z.string().nullish(),
          appProtocol: z.string().nullish(),
        }),
      )
      .nullish(),
  }),
});
export type ServiceObject = z.infer<typeof serviceObjectSchema>;

export const podObjectSchema = z.object({
  metadata: namespacedMeta,
  spec: podSpecSchema,
  status: z.object({ phase: z.string().nullish() }).nullish(),
});
export type PodObject = z.infer<typeof podObjectSchema>;

const mode = z.enum(MTLS_MODES);
const portMode = z.object({ mode: mode.nullish() }).nullish();

/**
 * `portLevelMtls`, a map<uint32, …> written with its keys as JSON strings. Istio decodes it with golang/protobuf's
 * jsonpb (istio/api peer_authentication_json.gen.go), which reads a key as a JSON number: "05432" is an error there
 * (the policy is not applied as written), and two spellings of one port would leave the mode to whichever key
 * Go's map iteration meets last. A key that is not a port written plainly, or a port twice, makes the answer one
 * whose meaning to Istio cannot be told: refused.
 */
const portLevelMtls = z
  .custom<Record<string, unknown>>(
    (v) => v !== null && typeof v === "object" && !Array.isArray(v) && Object.getPrototypeOf(v) === Object.prototype,
    { message: "must be a map of ports" },
  )
  .superRefine((ports, ctx) => {
    for (const [key, value] of Object.entries(ports)) {
      if (!/^[1-9][0-9]{0,4}$/.test(key) || Number(key) > 65535) {
        ctx.addIssue({
          code: "custom",
          path: [key],
          message: `key ${JSON.stringify(key.slice(0, 40))} is not a port number as Istio reads one (1 to 65535, no sign, space or leading zero)`,
        });
        return;
      }
      if (!portMode.safeParse(value).success) {
        ctx.addIssue({ code: "custom", path: [key], message: `must be { mode: ${MTLS_MODES.join(" | ")} }` });
        return;
      }
    }
  });

/**
 * `security.istio.io/v1` PeerAuthentication, as its CRD allows it. Its creationTimestamp decides which of two
 * competing policies Istio applies, so a policy without one cannot be placed, and is refused.
 */
export const peerAuthenticationObjectSchema = z.object({
  metadata: namespacedMeta.extend({ creationTimestamp: time }),
  spec: z
    .object({
      selector: z.object({ matchLabels: stringMap.nullish() }).nullish(),
      mtls: z.object({ mode: mode.nullish() }).nullish(),
      portLevelMtls: portLevelMtls.nullish(),
    })
    .nullish(),
});
export type PeerAuthenticationObject = z.infer<typeof peerAuthenticationObjectSchema>;

/** A ConfigMap: Istio's mesh config is the `mesh` key of `istio` (or `istio-<revision>`) in istiod's namespace. */
export const configMapObjectSchema = z.object({
  metadata: namespacedMeta,
  data: stringMap.nullish(),
});
export type ConfigMapObject = z.infer<typeof configMapObjectSchema>;

/** A DestinationRule's ClientTLSSettings: only the mode (proto enum; absent is DISABLE, value 0). */
const clientTlsObject = z.object({ mode: z.enum(CLIENT_TLS_MODES).nullish() });
const trafficPolicyObject = z.object({
  tls: clientTlsObject.nullish(),
  portLevelSettings: z
    .array(
      z.object({ port: z.object({ number: z.number().int().min(0).max(4294967295).nullish() }).nullish(), tls: clientTlsObject.nullish() }),
    )
    .nullish(),
});

/**
 * A DestinationRule (networking.istio.io/v1, the CRD's schema: spec.host, exportTo, workloadSelector.matchLabels,
 * trafficPolicy.tls and portLevelSettings[].{port.number, tls}, subsets[].{name, trafficPolicy}): what sets the TLS
 * clients' sidecars send.
 */
export const destinationRuleObjectSchema = z.object({
  metadata: namespacedMeta.extend({ creationTimestamp: time }),
  spec: z
    .object({
      host: z.string().min(1),
      exportTo: z.array(z.string()).nullish(),
      workloadSelector: z.object({ matchLabels: stringMap.nullish() }).nullish(),
      trafficPolicy: trafficPolicyObject.nullish(),
      subsets: z.array(z.object({ name: z.string().min(1), trafficPolicy: trafficPolicyObject.nullish() })).nullish(),
    })
    .nullish(),
});
export type DestinationRuleObject = z.infer<typeof destinationRuleObjectSchema>;

/**
 * A MutatingWebhookConfiguration (admissionregistration.k8s.io/v1): its `istio.io/rev` label and each webhook's
 * name and selectors, which decide whether the API server calls Istio's injector for a pod.
 */
export const mutatingWebhookConfigurationSchema = z.object({
  metadata: objectMetaSchema,
  webhooks: z
    .array(
      z.object({
        name: z.string().min(1),
        namespaceSelector: labelSelectorSchema.nullish(),
        objectSelector: labelSelectorSchema.nullish(),
      }),
    )
    .nullish(),
});
export type MutatingWebhookConfigurationObject = z.infer<typeof mutatingWebhookConfigurationSchema>;
