// Once for the whole run: the CLI's build (what the process tests run, as a user's npm ci leaves it) and the
// fake kubectl (test/support/fakeKubectlBuild.ts), both from the current sources; the fake kubectl's server
// stops with the run.
import { buildCli } from "../scripts/buildCli";
import { startFakeKubectl } from "./support/fakeKubectlBuild";

export default async function setup(): Promise<() => void> {
  const [, stop] = await Promise.all([buildCli(), startFakeKubectl()]);
  return stop;
}
