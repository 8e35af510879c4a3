/**
 * Hostile rollout files too large to keep in the repository: each is generated, written to a temporary
 * directory, and answered by the CLI as a whole process (the tests check the answer, `npm run bench` its time
 * and memory). Every one is what a red-team pass sent: small to write, costly to read without bounds.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

export interface HostileFile {
  name: string;
  /** What the CLI must say about it (a part of its one error line). */
  expect: string;
  text: () => string;
}

const namespaces = "namespaces:\n  - { name: shop, injection: true }\n";

export const HOSTILE_FILES: HostileFile[] = [
  {
    // Valid in shape: 999 workloads whose args are one list of 100,000 items, written once.
    name: "aliases-to-a-large-list",
    expect: "expands to more than 1,000,000 values through its aliases, the most a file here may hold",
    text: () =>
      namespaces +
      `workloads:\n  - { name: w0, namespace: shop, image: "i:1", args: &big [${Array.from({ length: 100_000 }, () => "x").join(",")}] }\n` +
      Array.from({ length: 998 }, (_, i) => `  - { name: w${i + 1}, namespace: shop, image: "i:1", args: *big }\n`).join("") +
      "stages: [ { name: s } ]\n",
  },
  {
    name: "mapping-with-60000-keys",
    expect: "workloads[0].env: has 60,000 keys; a mapping may have at most 10,000",
    text: () =>
      namespaces +
      "workloads:\n  - name: w\n    namespace: shop\n    image: i:1\n    env:\n" +
      Array.from({ length: 60_000 }, (_, i) => `      K${i}: v\n`).join("") +
      "stages: [ { name: s } ]\n",
  },
  {
    name: "a-duplicate-among-10000-keys",
    expect: 'not valid YAML at line 10007: a duplicate key ("K0: again"); keys that read the same, such as 8080 and "8080", are one key',
    text: () =>
      namespaces +
      "workloads:\n  - name: w\n    namespace: shop\n    image: i:1\n    env:\n" +
      Array.from({ length: 9_999 }, (_, i) => `      K${i}: v\n`).join("") +
      "      K0: again\nstages: [ { name: s } ]\n",
  },
  {
    name: "indented-mapping-2000-levels-deep",
    expect: "nests deeper than 64 levels",
    text: () =>
      "stages: [ { name: s } ]\nx:\n" +
      Array.from({ length: 2000 }, (_, i) => `${"  ".repeat(i + 1)}k${i}:\n`).join("") +
      `${"  ".repeat(2001)}v\n`,
  },
  {
    name: "100000-stages",
    expect: "stages: has 100,000 entries; a rollout may have at most 500",
    text: () => "stages:\n" + Array.from({ length: 100_000 }, (_, i) => `  - { name: s${i} }\n`).join(""),
  },
  {
    name: "10001-workloads",
    expect: "workloads: has 10,001 entries; a rollout may have at most 10,000",
    text: () =>
      namespaces +
      "workloads:\n" +
      Array.from({ length: 10_001 }, (_, i) => `  - { name: w${i}, namespace: shop, image: "i:1" }\n`).join("") +
      "stages: [ { name: s } ]\n",
  },
  {
    // Probe kit namespaces are probe workloads: 200,000 of them were 6.3 s and 629 MiB of problems before counting.
    name: "200000-probe-namespaces",
    expect:
      "probes.namespaces: has 200,000 entries, each a probe workload: 200,000 workloads with the 0 declared; a rollout may have at most 10,000",
    text: () =>
      namespaces +
      "probes:\n  namespaces:\n" +
      Array.from({ length: 200_000 }, (_, i) => `    - n${i}\n`).join("") +
      "stages: [ { name: s } ]\n",
  },
  {
    // Within the limits, and every one of 10,000 workloads selects the pods of every other.
    name: "10000-workloads-with-the-same-labels",
    expect: 'workloads[0].labels: {"app":"same"} also select the pods of shop/w1',
    text: () =>
      namespaces +
      "workloads:\n" +
      Array.from({ length: 10_000 }, (_, i) => `  - { name: w${i}, namespace: shop, image: "i:1", labels: { app: same } }\n`).join("") +
      "stages: [ { name: s } ]\n",
  },
  {
    // 800 probes, each with a Service: 639,200 expected outcomes per stage.
    name: "millions-of-expectation-edges",
    expect: "workloads: 800 probes calling 800 Service ports make 639,200 expected outcomes per stage; at most 500,000",
    text: () =>
      namespaces +
      "workloads:\n" +
      Array.from(
        { length: 800 },
        (_, i) => `  - { name: p${i}, namespace: shop, image: "i:1", probe: true, service: { ports: [ { port: 80 } ] } }\n`,
      ).join("") +
      "stages: [ { name: s } ]\n",
  },
  {
    name: "20001-policies",
    expect: "stages: declare 20,001 PeerAuthentications; a rollout may have at most 20,000",
    text: () =>
      namespaces +
      "stages:\n" +
      Array.from({ length: 41 }, (_, s) => {
        const count = s < 40 ? 500 : 1;
        return `  - name: s${s}\n    peerAuthentications:\n${Array.from({ length: count }, (_, i) => `      - { name: p${s}-${i}, namespace: shop, selector: { app: a${i} } }\n`).join("")}`;
      }).join(""),
  },
  {
    name: "a-file-of-5-MiB",
    expect: "is larger than 4,194,304 bytes, the most a file here may have",
    text: () => `stages: [ { name: s } ]\n# ${"x".repeat(5 * 1024 * 1024)}\n`,
  },
  {
    // Just within the size limit: two million values in one flow list, cheap to write, costly to build.
    name: "a-flat-list-of-2-million-values",
    expect: "expands to more than 1,000,000 values through its aliases, the most a file here may hold",
    text: () => `stages: [ { name: s } ]\nx: [${"1,".repeat(2_000_000)}1]\n`,
  },
];

/** Writes every hostile file into a new temporary directory; returns its path for each. */
export function writeHostileFiles(): Map<HostileFile, string> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mtls-rollout-hostile-"));
  return new Map(
    HOSTILE_FILES.map((f) => {
      const file = path.join(dir, `${f.name}.yaml`);
      fs.writeFileSync(file, f.text());
      return [f, file];
    }),
  );
}
