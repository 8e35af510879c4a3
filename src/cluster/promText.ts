/**
 * The few Prometheus text-format facts the verifier and the gate need: a sample's metric, labels and
 * value. Istio's series are counters, so a value that is not a finite number of at least zero is
 * malformed, and a reader that relies on them must not take the rest of the answer as complete.
 */
import { sampleValue } from "./prometheus";

export interface Sample {
  metric: string;
  labels: Record<string, string>;
  value: number;
}

export interface ParsedSamples {
  samples: Sample[];
  /** Lines of the named metrics that could not be read (bad labels, NaN, a negative count), as written. */
  malformed: string[];
}

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+-?\d+)?\s*$/;
const METRIC_NAME = /^([a-zA-Z_:][a-zA-Z0-9_:]*)/;

function parseLabels(text: string): Record<string, string> | undefined {
  const labels: Record<string, string> = Object.create(null);
  let i = 0;
  while (i < text.length) {
    const name = /^\s*,?\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"/.exec(text.slice(i));
    if (!name) return /^\s*,?\s*$/.test(text.slice(i)) ? labels : undefined;
    i += name[0].length;
    let value = "";
    for (;;) {
      if (i >= text.length) return undefined;
      const c = text[i++];
      if (c === '"') break;
      if (c === "\\") {
        const e = text[i++];
        value += e === "n" ? "\n" : e;
      } else value += c;
    }
    if (name[1] in labels) return undefined; // a label twice: which one counts is anyone's guess
    labels[name[1]] = value;
  }
  return labels;
}

/** Samples of the named metrics; comments and other metrics are skipped, unreadable lines of the named ones reported. */
export function parseSamples(text: string, metrics: ReadonlySet<string>): ParsedSamples {
  const samples: Sample[] = [];
  const malformed: string[] = [];
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    const name = METRIC_NAME.exec(line)?.[1];
    if (!name || !metrics.has(name)) continue;
    const m = SAMPLE.exec(line);
    const labels = m && m[1] === name ? parseLabels(m[2] ?? "") : undefined;
    const value = m ? sampleValue(m[3]) : undefined;
    if (!labels || value === undefined) malformed.push(line.length > 120 ? `${line.slice(0, 117)}...` : line);
    else samples.push({ metric: name, labels: { ...labels }, value });
  }
  return { samples, malformed };
}
