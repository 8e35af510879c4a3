import { JSDOM } from "jsdom";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mermaidGraph } from "../src/cli/renderReport";
import { buildStageReport } from "../src/model/report";
import { loadRollout } from "../src/rollout/load";

// Mermaid's parser wants a DOM (DOMPurify). A window of this file's own, not vitest's jsdom environment: a file in
// another environment cannot share a worker with the others (it costs two worker start-ups), and the globals are
// gone again when it ends, so the files after it in this worker see none.
const DOM_GLOBALS = ["window", "document", "navigator", "Element", "HTMLElement", "Node", "DocumentFragment"] as const;
const saved = new Map<string, PropertyDescriptor | undefined>();
beforeAll(() => {
  const { window } = new JSDOM("<!doctype html><html><body></body></html>", { pretendToBeVisual: true });
  for (const name of DOM_GLOBALS) {
    saved.set(name, Object.getOwnPropertyDescriptor(globalThis, name));
    Object.defineProperty(globalThis, name, { value: name === "window" ? window : window[name], configurable: true, writable: true });
  }
});
afterAll(() => {
  for (const name of DOM_GLOBALS) {
    const descriptor = saved.get(name);
    if (descriptor) Object.defineProperty(globalThis, name, descriptor);
    else delete (globalThis as Record<string, unknown>)[name];
  }
});

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
