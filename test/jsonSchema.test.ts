/**
 * The rollout file's JSON Schema for editors: generated from the zod schema (npm run build:schema), current,
 * accepting the files the loader accepts and refusing a misspelt key where an editor would underline it.
 */
import Ajv2020 from "ajv/dist/2020";
import * as fs from "node:fs";
import * as path from "node:path";
import * as YAML from "yaml";
import { describe, expect, it } from "vitest";
import { rolloutJsonSchema } from "../src/model/jsonSchema";
import { LAB_ROLLOUT_PATH, ROLLOUT_SCHEMA_PATH } from "../src/rollout/load";

const committed = JSON.parse(fs.readFileSync(ROLLOUT_SCHEMA_PATH, "utf8"));
const validate = new Ajv2020({ strict: false, allErrors: true }).compile(committed);
const yamlFile = (file: string) => YAML.parse(fs.readFileSync(file, "utf8"));

describe("the rollout file's JSON Schema", () => {
  it("is the one the zod schema generates today (else: npm run build:schema)", () => {
    expect(committed).toEqual(rolloutJsonSchema());
  });

  it("accepts the lab and a rollout of one's own mesh, as the loader does", () => {
    for (const file of [LAB_ROLLOUT_PATH, path.join(__dirname, "fixtures", "rollouts", "own-mesh.yaml")]) {
      expect(validate(yamlFile(file)), `${file}: ${JSON.stringify(validate.errors)}`).toBe(true);
    }
  });

  it("marks a misspelt key and a mode that does not exist, where an editor underlines them", () => {
    const lab = yamlFile(LAB_ROLLOUT_PATH);
    lab.stages[0].peerAuthentications[0].mdoe = "STRICT";
    lab.stages[1].peerAuthentications[0].mode = "STRCT";
    expect(validate(lab)).toBe(false);
    expect(validate.errors!.map((e) => `${e.instancePath} ${e.keyword}`)).toEqual(
      expect.arrayContaining(["/stages/0/peerAuthentications/0 additionalProperties", "/stages/1/peerAuthentications/0/mode enum"]),
    );
  });

  it("is named by the lab's first line, for yaml-language-server (VS Code's YAML extension and others)", () => {
    const first = fs.readFileSync(LAB_ROLLOUT_PATH, "utf8").split("\n")[0];
    expect(first).toBe("# yaml-language-server: $schema=../schema/rollout.schema.json");
    expect(path.resolve(path.dirname(LAB_ROLLOUT_PATH), "../schema/rollout.schema.json")).toBe(ROLLOUT_SCHEMA_PATH);
  });
});
