// The Pulumi program of mtls-rollout: `pulumi up` declares the stage named by `mtls-rollout:stage`.
import { defineRolloutStack } from "./src/program";

const { outputs } = defineRolloutStack();

export const stage = outputs.stage;
export const effectiveModes = outputs.effectiveModes;
export const expectations = outputs.expectations;
export const calls = outputs.calls;
export const verification = outputs.verification;
export const verifiedAt = outputs.verifiedAt;
