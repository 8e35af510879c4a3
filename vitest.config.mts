import { defineConfig } from "vitest/config";
import { SlowestFirst } from "./test/sequencer.mjs";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    globalSetup: ["test/globalSetup.ts"],
    // Two files at once even on two cores (vitest's default there is one): many tests wait on processes, a
    // verification's rounds or its deadline, and another file's work fits in that time.
    maxWorkers: 2,
    // A worker keeps its modules from one file to the next: Pulumi's SDK, the model and the fixtures load once per
    // worker, not once per file (imports: 24 s of the suite to 9-14 s). Each file sets up what it uses itself (Pulumi's
    // mocks, fake timers, servers) and the suite passes with its files shuffled (--sequence.shuffle.files).
    isolate: false,
    // The slowest files first on a clean clone, before vitest has timed them (test/sequencer.mts).
    sequence: { sequencer: SlowestFirst },
    // Some tests start the CLI or Pulumi's TypeScript loader as a child process.
    testTimeout: 60_000,
  },
});
