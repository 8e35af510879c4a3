/**
 * The end-to-end walk on a real cluster: a throwaway stack that installs Istio walks every lab stage,
 * each `up` must succeed (its pre-flight gate and verification included); then a PeerAuthentication
 * applied behind the stack's back makes the cluster contradict the model, and the `up` that rolls back
 * to an earlier stage must fail on its verification. The stack is destroyed in any case. The
 * Automation API stack and kubectl are seams, so a test can drive the same walk with stubs.
 */

export interface WalkStack {
  setAllConfig(config: Record<string, { value: string; secret?: boolean }>): Promise<void>;
  up(options: { onOutput: (out: string) => void }): Promise<{ summary: { result?: string } }>;
  destroy(options: { onOutput: (out: string) => void }): Promise<unknown>;
}

export interface WalkOptions {
  stages: string[];
  kubeContext: string;
  /** kubectl with the walk's context: `apply -f -` / `delete -f -` with the manifest on stdin. */
  kubectl: (args: string[], stdin: string) => Promise<void>;
  log: (line: string) => void;
}

/**
 * STRICT for httpbin, which the lab keeps PERMISSIVE until its last stage: at any earlier stage the
 * out-of-mesh sleep is refused where the model expects it to get through, a contradiction.
 */
export const OUT_OF_BAND_POLICY = `apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata:
  name: e2e-out-of-band-strict
  namespace: default
spec:
  selector:
    matchLabels:
      app: httpbin
  mtls:
    mode: STRICT
`;

const config = (o: WalkOptions, stage: string) => ({
  "mtls-rollout:stage": { value: stage },
  "mtls-rollout:installIstio": { value: "true" },
  "mtls-rollout:installPrometheus": { value: "true" },
  "mtls-rollout:installKiali": { value: "true" },
  "mtls-rollout:kubeContext": { value: o.kubeContext },
});

export async function walkLab(stack: WalkStack, o: WalkOptions): Promise<void> {
  const output = { onOutput: (out: string) => o.log(out.trimEnd()) };
  let failure: unknown;
  try {
    for (const stage of o.stages) {
      o.log(`== up: stage ${stage}`);
      await stack.setAllConfig(config(o, stage));
      const result = await stack.up(output);
      if (result.summary.result !== "succeeded") throw new Error(`up of stage ${stage} ended ${result.summary.result}`);
    }
    const back = o.stages[o.stages.length - 2];
    o.log(`== a STRICT policy for httpbin behind the stack's back, then up: stage ${back}; its verification must fail`);
    await o.kubectl(["apply", "-f", "-"], OUT_OF_BAND_POLICY);
    try {
      await stack.setAllConfig(config(o, back));
      let error: unknown;
      try {
        await stack.up(output);
      } catch (err) {
        error = err;
      }
      if (!error) throw new Error("an up whose expectations the cluster contradicts succeeded: the verification did not fail it");
      const text = String((error as Error).message ?? error);
      if (!text.includes(`FAIL: stage ${back}`))
        throw new Error(`the up failed, but not on its verification's contradiction: ${text.slice(0, 500)}`);
      o.log("== the contradiction failed the update, as it must");
    } finally {
      await o.kubectl(["delete", "--ignore-not-found", "-f", "-"], OUT_OF_BAND_POLICY);
    }
  } catch (err) {
    failure = err;
  }
  o.log("== destroy");
  try {
    await stack.destroy(output);
  } catch (err) {
    if (failure) o.log(`destroy failed too: ${String(err)}`);
    else failure = err;
  }
  if (failure) throw failure;
}
