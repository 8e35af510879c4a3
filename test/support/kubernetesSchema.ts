import Ajv, { type ValidateFunction } from "ajv";
import * as fs from "node:fs";
import * as path from "node:path";

/** The kinds test/fixtures/kubernetes/openapi-subset.json holds (see its SOURCES.md). */
const SCHEMA_OF: Record<string, string> = {
  Namespace: "io.k8s.api.core.v1.Namespace",
  Service: "io.k8s.api.core.v1.Service",
  Pod: "io.k8s.api.core.v1.Pod",
  Deployment: "io.k8s.api.apps.v1.Deployment",
  StatefulSet: "io.k8s.api.apps.v1.StatefulSet",
  DaemonSet: "io.k8s.api.apps.v1.DaemonSet",
  ConfigMap: "io.k8s.api.core.v1.ConfigMap",
  MutatingWebhookConfiguration: "io.k8s.api.admissionregistration.v1.MutatingWebhookConfiguration",
};

type Node = Record<string, unknown>;

/**
 * The published schemas leave objects open; the API server's strict field validation does not. Every
 * object schema that lists its properties is closed here, so a misspelt or invented field fails.
 */
function closeObjects(node: unknown): void {
  if (Array.isArray(node)) return node.forEach(closeObjects);
  if (node === null || typeof node !== "object") return;
  const n = node as Node;
  if (n.properties && n.additionalProperties === undefined && !n["x-kubernetes-preserve-unknown-fields"]) n.additionalProperties = false;
  for (const value of Object.values(n)) closeObjects(value);
}

let ajv: Ajv | undefined;
const validators = new Map<string, ValidateFunction>();

function validatorFor(kind: string): ValidateFunction {
  const name = SCHEMA_OF[kind];
  if (!name) throw new Error(`no schema for kind ${kind}`);
  if (!ajv) {
    const doc = JSON.parse(fs.readFileSync(path.join(__dirname, "..", "fixtures", "kubernetes", "openapi-subset.json"), "utf8"));
    closeObjects(doc.components);
    // Formats are the API server's (int32, int-or-string, date-time); their types are checked, not their syntax.
    ajv = new Ajv({ strict: false, allErrors: true, validateFormats: false });
    ajv.addSchema({ $id: "k8s", components: doc.components });
  }
  let validate = validators.get(name);
  if (!validate) {
    validate = ajv.compile({ $ref: `k8s#/components/schemas/${name}` });
    validators.set(name, validate);
  }
  return validate;
}

/** Problems of a Kubernetes object against its kind's published schema, as `path: message`; [] when valid. */
export function kubernetesSchemaErrors(object: { kind?: unknown }): string[] {
  const validate = validatorFor(String(object.kind));
  if (validate(object)) return [];
  return (validate.errors ?? []).map(
    (e) =>
      `${e.instancePath || "."}: ${e.message}${e.params && "additionalProperty" in e.params ? ` (${e.params.additionalProperty})` : ""}`,
  );
}

/** Every item of a `kubectl get -o json` List, validated against its own kind's schema. */
export function kubernetesListErrors(list: { kind?: string; items?: { kind?: unknown }[] }): string[] {
  if (list.kind !== "List" || !Array.isArray(list.items)) return ["not a List with items"];
  return list.items.flatMap((item, i) => kubernetesSchemaErrors(item).map((e) => `items[${i}]${e}`));
}
