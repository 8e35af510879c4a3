// Once before every test file: the CLI's build (what the process tests run, as a user's npm ci leaves it) and
// the fake kubectl's, both from the current sources.
import { buildCli } from "../scripts/buildCli";
import { buildFakeKubectl } from "./support/fakeKubectlBuild";

export default async function setup(): Promise<void> {
  await Promise.all([buildCli(), buildFakeKubectl()]);
}
