// The policy pack's entry point: `pulumi preview --policy-pack policies`. It only constructs the pack:
// a PolicyPack starts a gRPC server and may exist once per process, so tests import ./src instead.
import { PolicyPack } from "@pulumi/policy";
import { mtlsPolicies } from "./src/mtlsPolicies";

new PolicyPack("mtls-rollout", { policies: mtlsPolicies });
