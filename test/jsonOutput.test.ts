/** The plan's JSON, written in pieces: byte for byte what JSON.stringify(value, null, 2) writes. */
import { describe, expect, it } from "vitest";
import { writeJson } from "../src/cli/jsonOutput";
import { planJson } from "../src/cli/renderPlan";
import { buildPlan } from "../src/model/plan";
import { loadRollout } from "../src/rollout/load";

const written = (value: object) => {
  const pieces: string[] = [];
  writeJson(value, (t) => pieces.push(t));
  return pieces;
};

describe("writeJson", () => {
  it("writes every stage of the lab's plan as JSON.stringify does", () => {
    const lab = loadRollout();
    for (const stage of lab.stages) {
      const json = planJson(buildPlan(lab, stage.name));
      expect(written(json).join("")).toBe(JSON.stringify(json, null, 2) + "\n");
    }
  });

  it("keeps empty arrays and objects, nested arrays, undefined and escaped strings as JSON.stringify does", () => {
    const value = {
      empty: [],
      none: {},
      skipped: undefined,
      nested: [[1, [2]], { a: [{ b: null }] }, 'line\nbreak \u2028 "quoted"'],
      object: { deep: { deeper: [1, 2] } },
      last: [undefined, 3],
    };
    expect(written(value).join("")).toBe(JSON.stringify(value, null, 2) + "\n");
    expect(written([1, 2]).join("")).toBe("[\n  1,\n  2\n]\n");
    expect(written({}).join("")).toBe("{}\n");
  });

  it("writes a long array in pieces of some 64 KiB, never as one string", () => {
    const edges = Array.from({ length: 20_000 }, (_, i) => ({
      from: `ns${i}/a`,
      to: `ns${i}/b`,
      reason: "auto mTLS to a sidecar whose port is STRICT",
    }));
    const pieces = written({ stage: "s", expectations: edges });
    expect(pieces.length).toBeGreaterThan(20);
    expect(Math.max(...pieces.map((p) => p.length))).toBeLessThan(70_000);
    expect(pieces.join("")).toBe(JSON.stringify({ stage: "s", expectations: edges }, null, 2) + "\n");
  });
});
