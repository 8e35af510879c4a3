// @vitest-environment jsdom
import { describe, expect, it } from "vitest";
import { mermaidGraph } from "../src/cli/renderReport";
import { buildStageReport } from "../src/model/report";
import { loadRollout } from "../src/rollout/load";

describe("the report's Mermaid graph", () => {
  const lab = loadRollout();
  for (const [i, stage] of lab.stages.entries()) {
    it(`is accepted by mermaid's own parser as a flowchart at stage ${stage.name}`, async () => {
      const mermaid = (await import("mermaid")).default;
      const graph = mermaidGraph(buildStageReport(lab, stage.name, i === 0 ? null : lab.stages[i - 1].name));
      const parsed = await mermaid.parse(graph);
      expect(parsed).toMatchObject({ diagramType: "flowchart-v2" });
      // A graph mermaid cannot read is rejected, so the check above is a real one.
      await expect(mermaid.parse(`${graph}\n  w0 -->|broken w9`)).rejects.toThrow();
    });
  }
});
