import type { KubectlRunner, RunResult } from "../../src/cluster/runner";
import type { Target } from "../../src/model/preflight";

/** The workload of the recorded `prom-dest-none-nginx-15000.txt` scrape, as a pre-flight target. */
export const NGINX_TARGET: Target = {
  workload: "default/my-nginx",
  namespace: "default",
  name: "my-nginx",
  kind: "Deployment",
  ports: [80],
  keepsPlaintextPorts: [],
};

export const ok = (stdout: string): RunResult => ({ exitCode: 0, stdout, stderr: "", timedOut: false });

/** A sidecar whose `stats/prometheus` and `stats` answer from the given texts, first read then second. */
export function sidecar(metrics: [string, string], stats: [string, string] = ["", ""]): KubectlRunner {
  let metricReads = 0;
  let statReads = 0;
  return async (args) => {
    if (args[args.length - 1] === "stats/prometheus") return ok(metrics[Math.min(metricReads++, 1)]);
    return ok(stats[Math.min(statReads++, 1)]);
  };
}
