import { z } from "zod";
import { DNS1123_LABEL, DNS1123_SUBDOMAIN, isDns1123Label } from "./nameRules";

// Kubernetes' own rules (k8s.io/apimachinery/pkg/util/validation), so a name that passes here is
// accepted by the API server and is safe to pass as one argv element to kubectl.
const QUALIFIED_NAME_PART = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const DNS1035_LABEL = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;
const IANA_SVC_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const ENV_VAR_NAME = /^[-._a-zA-Z][-._a-zA-Z0-9]*$/;

export const dns1123Label = z
  .string()
  .max(63, "must be at most 63 characters")
  .regex(DNS1123_LABEL, "must be a DNS-1123 label (lower-case letters, digits and '-', starting and ending with a letter or digit)");

export const dns1123Subdomain = z
  .string()
  .max(253, "must be at most 253 characters")
  .regex(DNS1123_SUBDOMAIN, "must be a DNS-1123 subdomain (lower-case letters, digits, '-' and '.')");

export function isLabelKey(key: string): boolean {
  const slash = key.lastIndexOf("/");
  const prefix = slash >= 0 ? key.slice(0, slash) : undefined;
  const name = slash >= 0 ? key.slice(slash + 1) : key;
  if (prefix !== undefined && (prefix.length === 0 || prefix.length > 253 || !DNS1123_SUBDOMAIN.test(prefix))) return false;
  return name.length > 0 && name.length <= 63 && QUALIFIED_NAME_PART.test(name);
}

export const labelKey = z
  .string()
  .refine(
    isLabelKey,
    "must be a label key: an optional DNS subdomain prefix and '/', then a name of at most 63 letters, digits, '-', '_' or '.'",
  );

export const labelValue = z
  .string()
  .max(63, "must be at most 63 characters")
  .refine(
    (v) => v === "" || QUALIFIED_NAME_PART.test(v),
    "must be a label value: letters, digits, '-', '_' or '.', starting and ending with a letter or digit",
  );

export const labels = z.record(labelKey, labelValue);

export const portNumber = z
  .number()
  .int("must be a whole number")
  .min(1, "must be a port from 1 to 65535")
  .max(65535, "must be a port from 1 to 65535");

/** A Service's name is a DNS-1035 label (apimachinery ValidateServiceName): it starts with a letter. */
export const dns1035Label = z
  .string()
  .max(63, "must be at most 63 characters")
  .regex(
    DNS1035_LABEL,
    "must be a DNS-1035 label (lower-case letters, digits and '-', starting with a letter and ending with a letter or digit)",
  );

/** Kubernetes' IsValidPortName (a container port's name): an IANA service name of at most 15 characters with a letter and no "--". */
export function isPortName(name: string): boolean {
  return name.length <= 15 && IANA_SVC_NAME.test(name) && /[a-z]/.test(name) && !name.includes("--");
}

export const containerPortName = z
  .string()
  .refine(isPortName, "must be a port name: at most 15 lower-case letters, digits and '-', with at least one letter and no '--'");

/** A Service port's name is a DNS-1123 label (ValidateServicePort). */
export const servicePortName = dns1123Label;

export const envVarName = z.string().regex(ENV_VAR_NAME, "must be an environment variable name");

/** A container image reference: no white space or shell metacharacters, which no registry accepts anyway. */
export const imageRef = z
  .string()
  .min(1, "must not be empty")
  .max(512, "must be at most 512 characters")
  .regex(/^[A-Za-z0-9][A-Za-z0-9._\-/:@]*$/, "must be an image reference such as registry/name:tag or name@sha256:digest");

/** `namespace/name` as written in `calls` and in edge endpoints. */
export const workloadRef = z.string().refine((v) => {
  const parts = v.split("/");
  return parts.length === 2 && parts.every(isDns1123Label);
}, "must be namespace/workload, both DNS-1123 labels");

/**
 * An absolute URL path for probes: unreserved characters, "/", "%"-escapes and a plain query. It is one
 * argv element (never a shell word), but nothing a shell would read specially is accepted all the same.
 */
export const urlPath = z
  .string()
  .max(1024, "must be at most 1024 characters")
  .regex(/^\/[A-Za-z0-9._~%/-]*(\?[A-Za-z0-9._~%=&-]*)?$/, "must be a URL path starting with / (letters, digits, . _ ~ % / - and a query)");

/** A label value as Kubernetes takes it (apimachinery IsValidLabelValue). */
export function isLabelValue(value: string): boolean {
  return value.length <= 63 && (value === "" || QUALIFIED_NAME_PART.test(value));
}

/**
 * Why a map of labels read from a cluster cannot be written to a rollout file as it is, or undefined: a key or
 * value Kubernetes would not take (a `__proto__` key among them, which a JavaScript object would turn into its
 * prototype), or more keys than a mapping of the file may have.
 */
export function labelMapProblem(labels: Record<string, string>, maxKeys: number): string | undefined {
  const entries = Object.entries(labels);
  if (entries.length > maxKeys) return `has ${entries.length} labels, more than the ${maxKeys} a mapping of a rollout file may have`;
  for (const [key, value] of entries) {
    if (!isLabelKey(key)) return `has the label key ${JSON.stringify(key.slice(0, 80))}, which is no Kubernetes label key`;
    if (typeof value !== "string" || !isLabelValue(value))
      return `has the label ${key}=${JSON.stringify(String(value).slice(0, 80))}, whose value is no Kubernetes label value`;
  }
  return undefined;
}
