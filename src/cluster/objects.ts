/**
 * The fields of Kubernetes objects mtls-rollout reads from `kubectl get -o json`, validated at the edge.
 * Shapes follow the Kubernetes API (core/v1 and apps/v1 OpenAPI; Istio's PeerAuthentication CRD):
 * only what is read is checked, every other field passes through untouched. An object that does not
 * fit is a malformed answer, never an object with fields quietly missing.
 */
import { z } from "zod";
import { MTLS_MODES } from "../model/schema";

const stringMap = z.record(z.string(), z.string());

export const objectMetaSchema = z.object({
  name: z.string().min(1),
  namespace: z.string().min(1).optional(),
  labels: stringMap.nullish(),
  annotations: stringMap.nullish(),
  /** RFC 3339, as the API server writes metav1.Time. */
  creationTimestamp: z.string().nullish(),
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
});

const labelSelectorSchema = z.object({
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
const portKey = z.string().refine((k) => /^[0-9]{1,5}$/.test(k) && Number(k) >= 1 && Number(k) <= 65535, "must be a port number");

/** `security.istio.io/v1` PeerAuthentication, as its CRD allows it. */
export const peerAuthenticationObjectSchema = z.object({
  metadata: namespacedMeta,
  spec: z
    .object({
      selector: z.object({ matchLabels: stringMap.nullish() }).nullish(),
      mtls: z.object({ mode: mode.nullish() }).nullish(),
      portLevelMtls: z.record(portKey, z.object({ mode: mode.nullish() })).nullish(),
    })
    .nullish(),
});
export type PeerAuthenticationObject = z.infer<typeof peerAuthenticationObjectSchema>;
