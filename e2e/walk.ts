/**
 * The end-to-end walk on a real cluster: a throwaway stack that installs Istio walks every lab stage,
 * each `up` must succeed (its pre-flight gate and verification included), then an `up` whose
 * expectations are deliberately wrong must fail; the stack is destroyed in any case. The Automation
 * API stack is a seam, so a test can drive the same walk with a stub.
 */

export interface WalkStack {
  setAllConfig(config: Record<string, { value: string }>): Promise<void>;
  up(options: { onOutput: (out: string) => void }): Promise<{ summary: { result?: string } }>;
  destroy(options: { onOutput: (out: string) => void }): Promise<unknown>;
}

export interface WalkOptions {
  stages: string[];
  kubeContext: string;
  /** A rollout file whose expectations the cluster contradicts. */
  wrongRollout: string;
  log: (line: string) => void;
}

const config = (o: WalkOptions, stage: string, rollout?: string) => ({
  "mtls-rollout:stage": { value: stage },
  "mtls-rollout:installIstio": { value: "true" },
  "mtls-rollout:installPrometheus": { value: "true" },
  "mtls-rollout:kubeContext": { value: o.kubeContext },
  ...(rollout ? { "mtls-rollout:rollout": { value: rollout } } : {}),
});

export async function walkLab(stack: WalkStack, o: WalkOptions): Promise<void> {
  const output = { onOutput: (out: string) => o.log(out.trimEnd()) };
  try {
    for (const stage of o.stages) {
      o.log(`== up: stage ${stage}`);
      await stack.setAllConfig(config(o, stage));
      const result = await stack.up(output);
      if (result.summary.result !== "succeeded") throw new Error(`up of stage ${stage} ended ${result.summary.result}`);
    }
    const last = o.stages[o.stages.length - 1];
    o.log(`== up: stage ${last} with deliberately wrong expectations (${o.wrongRollout}): must fail`);
    await stack.setAllConfig(config(o, last, o.wrongRollout));
    let failed = false;
    try {
      await stack.up(output);
    } catch {
      failed = true;
    }
    if (!failed) throw new Error("an up whose expectations the cluster contradicts succeeded: the verification did not fail it");
    o.log("== the wrong expectations failed the update, as they must");
  } finally {
    o.log("== destroy");
    await stack.destroy(output);
  }
}
