/** The few Prometheus text-format facts the verifier needs: a sample's metric, labels and value. */
export interface Sample {
  metric: string;
  labels: Record<string, string>;
  value: number;
}

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+-?\d+)?\s*$/;

function parseLabels(text: string): Record<string, string> | undefined {
  const labels: Record<string, string> = {};
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
    labels[name[1]] = value;
  }
  return labels;
}

/** Samples of the named metrics; comments, other metrics and malformed lines are skipped. */
export function parseSamples(text: string, metrics: ReadonlySet<string>): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split("\n")) {
    if (line.startsWith("#")) continue;
    const m = SAMPLE.exec(line.trim());
    if (!m || !metrics.has(m[1])) continue;
    const labels = parseLabels(m[2] ?? "");
    const value = Number(m[3]);
    if (labels && Number.isFinite(value)) samples.push({ metric: m[1], labels, value });
  }
  return samples;
}
