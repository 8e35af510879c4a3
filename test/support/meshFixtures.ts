import * as fs from "node:fs";
import * as path from "node:path";
import { parseRollout } from "../../src/model/rollout";

/**
 * The mesh of istio.io's authentication tasks: httpbin and sleep in foo and bar (sidecars) and in
 * legacy (no sidecar), with go-httpbin's Service port 8000 -> 8080.
 */
export function istioTaskRollout(stages: { name: string; peerAuthentications: unknown[] }[]) {
  const namespaces = ["foo", "bar", "legacy"];
  return parseRollout({
    namespaces: namespaces.map((name) => ({ name, injection: name !== "legacy" })),
    workloads: namespaces.flatMap((ns) => [
      {
        name: "httpbin",
        namespace: ns,
        image: "docker.io/mccutchen/go-httpbin:v2.15.0",
        service: { ports: [{ name: "http", port: 8000, targetPort: 8080 }] },
      },
      { name: "sleep", namespace: ns, image: "docker.io/curlimages/curl:8.16.0", probe: true },
    ]),
    stages,
  });
}

export interface RecordedCall {
  from: string;
  to: string;
  httpCode: string;
  curlExit?: number;
}

/** Reads `sleep.X to httpbin.Y: CODE` lines, each optionally followed by kubectl's `command terminated with exit code N`. */
export function readRecordedSections(file: string): Map<string, RecordedCall[]> {
  const sections = new Map<string, RecordedCall[]>();
  let current: RecordedCall[] | undefined;
  for (const line of fs.readFileSync(path.join(__dirname, "..", "fixtures", file), "utf8").split("\n")) {
    const section = /^== (.+)$/.exec(line);
    const call = /^sleep\.(\w+) to httpbin\.(\w+): (\d{3})$/.exec(line);
    const exit = /^command terminated with exit code (\d+)$/.exec(line);
    if (section) sections.set(section[1], (current = []));
    else if (call && current) current.push({ from: `${call[1]}/sleep`, to: `${call[2]}/httpbin`, httpCode: call[3] });
    else if (exit && current) current[current.length - 1].curlExit = Number(exit[1]);
  }
  return sections;
}
