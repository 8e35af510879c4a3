import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    globalSetup: ["test/globalSetup.ts"],
    // Some tests start the CLI or Pulumi's TypeScript loader as a child process.
    testTimeout: 60_000,
  },
});
