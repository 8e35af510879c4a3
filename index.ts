// The Pulumi program of mtls-rollout: `pulumi up` declares the stage named by `mtls-rollout:stage`.
import { defineRolloutStack } from "./src/program";

const { outputs } = defineRolloutStack();

export const stage = outputs.stage;
export const digest = outputs.digest;
export const verification = outputs.verification;
export const verifiedAt = outputs.verifiedAt;
