// The rollout file's JSON Schema, generated from the zod schema the loader validates with (never written by
// hand), for editors: with the yaml-language-server modeline a rollout file names it, and VS Code and other
// editors complete and check keys while typing. The loader stays the judge: some rules (a Service's ports
// against the workload's, names across stages) are the model's, not a schema's.
import { z } from "zod";
import { rolloutFileSchema } from "./schema";

export function rolloutJsonSchema(): Record<string, unknown> {
  return {
    ...z.toJSONSchema(rolloutFileSchema, { io: "input", unrepresentable: "any" }),
    title: "mtls-rollout rollout file",
    description: "Namespaces, workloads and the stages of an Istio mutual TLS rollout. Generated from src/model/schema.ts.",
  };
}
