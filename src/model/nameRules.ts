// The name rules the command line checks before it loads anything heavy; ./names.ts builds the rollout schema's
// checks on the same expressions (Kubernetes' k8s.io/apimachinery/pkg/util/validation).
export const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
export const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** A namespace's name: a DNS-1123 label of at most 63 characters. */
export function isDns1123Label(value: string): boolean {
  return value.length <= 63 && DNS1123_LABEL.test(value);
}
