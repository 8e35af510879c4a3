import { evaluate } from "@marcbachmann/cel-js";
import Ajv from "ajv";
import * as fs from "node:fs";
import * as YAML from "yaml";

interface Schema {
  properties?: Record<string, Schema>;
  additionalProperties?: Schema | boolean;
  items?: Schema;
  "x-kubernetes-validations"?: { rule: string; message?: string }[];
  [key: string]: unknown;
}

/**
 * Validates an object against one served version of a CustomResourceDefinition the way the API
 * server does: the structural OpenAPI v3 schema (with ajv) and the CEL `x-kubernetes-validations`
 * rules at every level (with a CEL evaluator), `self` bound to the value at that level.
 */
export function crdValidator(crdPath: string, version: string) {
  const crd = YAML.parse(fs.readFileSync(crdPath, "utf8"));
  const served = crd.spec.versions.find((v: { name: string }) => v.name === version);
  if (!served) throw new Error(`${crdPath} serves no version ${version}`);
  const schema: Schema = served.schema.openAPIV3Schema;
  // date-time appears only under status, which a manifest never sets; the API server checks it, not us.
  const ajv = new Ajv({ strict: false, allErrors: true, formats: { "date-time": true, int32: true, int64: true } });
  const validateStructure = ajv.compile(schema);

  function celErrors(node: Schema, value: unknown, path: string): string[] {
    if (value === undefined || value === null) return [];
    const errors: string[] = [];
    for (const { rule, message } of node["x-kubernetes-validations"] ?? []) {
      let ok: unknown;
      try {
        ok = evaluate(rule, { self: value });
      } catch (err) {
        ok = `error: ${(err as Error).message}`;
      }
      if (ok !== true) errors.push(`${path || "."}: ${message ?? rule}`);
    }
    if (typeof value === "object" && !Array.isArray(value)) {
      for (const [key, child] of Object.entries(value as Record<string, unknown>)) {
        const sub = node.properties?.[key] ?? (typeof node.additionalProperties === "object" ? node.additionalProperties : undefined);
        if (sub) errors.push(...celErrors(sub, child, `${path}.${key}`));
      }
    }
    if (Array.isArray(value) && node.items) value.forEach((item, i) => errors.push(...celErrors(node.items!, item, `${path}[${i}]`)));
    return errors;
  }

  return (object: unknown): string[] => {
    const errors: string[] = [];
    if (!validateStructure(object)) {
      errors.push(...(validateStructure.errors ?? []).map((e) => `${e.instancePath || "."}: ${e.message}`));
    }
    return [...errors, ...celErrors(schema, object, "")];
  };
}
