import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    globalSetup: ["test/globalSetup.ts"],
    // Two files at once even on two cores (vitest's default there is one): many tests wait on processes, a
    // verification's rounds or its deadline, and another file's work fits in that time.
    maxWorkers: 2,
    // Some tests start the CLI or Pulumi's TypeScript loader as a child process.
    testTimeout: 60_000,
  },
});
