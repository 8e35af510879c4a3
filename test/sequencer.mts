// The order of the test files. Vitest starts the files it timed last run longest first; on a clean clone (CI) it
// has no timings and starts the largest files first, which leaves the slowest, mostly small ones (an npm ci, Pulumi's
// TypeScript loader, verifications waiting on their rounds) for the end, each alone on a worker while the other is
// idle. Without timings these start first, slowest first, as measured with `vitest run --reporter=json`.
import * as path from "node:path";
import { BaseSequencer, type TestSpecification } from "vitest/node";

const SLOWEST_FIRST = [
  "realServers",
  "userMesh",
  "policyPackPublishable",
  "verifyProcess",
  "pulumiRuntime",
  "textOutput",
  "verifySetup",
  "verifyCommand",
  "discoverWrites",
  "program",
  "hostileFiles",
  "e2e",
  "workflow",
  "policyPack",
  "discover",
  "gateWalk",
  "mermaid",
  "preflightProcess",
  "status",
  "signals",
  "liveCluster",
];

export class SlowestFirst extends BaseSequencer {
  async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const sorted = await super.sort(files);
    const timed = files.every((f) =>
      this.ctx.cache.getFileTestResults(`${f.project.name}:${path.relative(this.ctx.config.root, f.moduleId)}`),
    );
    if (timed) return sorted;
    const rank = (f: TestSpecification) => {
      const i = SLOWEST_FIRST.indexOf(path.basename(f.moduleId, ".test.ts"));
      return i === -1 ? SLOWEST_FIRST.length : i;
    };
    return sorted
      .map((f, i) => ({ f, i }))
      .sort((a, b) => rank(a.f) - rank(b.f) || a.i - b.i)
      .map(({ f }) => f);
  }
}
