/** Writes a chunk at about this size: the output of a large plan is never one string of tens of megabytes. */
const CHUNK_CHARS = 1 << 16;

/**
 * Writes `value` exactly as `JSON.stringify(value, null, 2)` and a newline would, in pieces: the arrays of the
 * top-level object element by element, so that a 200,000-edge plan costs neither one 47 MB string nor its garbage.
 */
export function writeJson(value: object, write: (text: string) => void): void {
  const entries = Object.entries(value).filter(([, v]) => v !== undefined && typeof v !== "function");
  if (Array.isArray(value) || entries.length === 0) {
    write(JSON.stringify(value, null, 2) + "\n");
    return;
  }
  let chunk = "{\n";
  const flush = (force = false) => {
    if (force || chunk.length >= CHUNK_CHARS) {
      write(chunk);
      chunk = "";
    }
  };
  entries.forEach(([key, v], i) => {
    const comma = i < entries.length - 1 ? "," : "";
    if (Array.isArray(v) && v.length > 0) {
      chunk += `  ${JSON.stringify(key)}: [\n`;
      v.forEach((item, j) => {
        chunk += `    ${(JSON.stringify(item, null, 2) ?? "null").replace(/\n/g, "\n    ")}${j < v.length - 1 ? "," : ""}\n`;
        flush();
      });
      chunk += `  ]${comma}\n`;
    } else {
      chunk += `  ${JSON.stringify(key)}: ${JSON.stringify(v, null, 2).replace(/\n/g, "\n  ")}${comma}\n`;
    }
    flush();
  });
  chunk += "}\n";
  flush(true);
}
