/**
 * JSON read the way the API server means it. `JSON.parse` keeps the last of two equal keys without a word, so an
 * answer with `"mode": "PERMISSIVE"` and then `"mode": "STRICT"` in one object would be read as whichever came
 * last, while another reader may take the first: such an answer is refused. Keys are compared as decoded
 * (`"a"` and `"\u0061"` are one key). `JSON.parse` itself keeps a `__proto__` key as an ordinary own property.
 */

export type StrictJson = { value: unknown } | { error: string };

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;
const COLON = 0x3a;

/**
 * The first key that appears twice in one object, with where; undefined when there is none. One pass over the
 * text, keeping a set of keys per open object: linear in the answer. It relies on the text being JSON, which
 * `JSON.parse` checks afterwards.
 */
export function firstDuplicateKey(text: string): { key: string; offset: number } | undefined {
  // One entry per open container: the keys of an object, or null for an array.
  const open: (Set<string> | null)[] = [];
  let i = 0;
  const n = text.length;
  while (i < n) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) {
      const start = i;
      let escaped = false;
      i++;
      while (i < n) {
        const d = text.charCodeAt(i);
        if (d === BACKSLASH) {
          escaped = true;
          i += 2;
          continue;
        }
        if (d === QUOTE) break;
        i++;
      }
      const end = i; // the closing quote
      i++;
      const keys = open[open.length - 1];
      if (!keys) continue;
      // A string in an object is a key when a colon follows it.
      let j = i;
      while (
        j < n &&
        (text.charCodeAt(j) === 0x20 || text.charCodeAt(j) === 0x0a || text.charCodeAt(j) === 0x0d || text.charCodeAt(j) === 0x09)
      )
        j++;
      if (text.charCodeAt(j) !== COLON) continue;
      let key = text.slice(start + 1, end);
      if (escaped) {
        try {
          key = JSON.parse(text.slice(start, end + 1)) as string;
        } catch {
          return undefined; // not JSON: JSON.parse says so
        }
      }
      if (keys.has(key)) return { key, offset: start };
      keys.add(key);
      continue;
    }
    if (c === OPEN_OBJECT) open.push(new Set());
    else if (c === OPEN_ARRAY) open.push(null);
    else if (c === CLOSE_OBJECT || c === CLOSE_ARRAY) open.pop();
    i++;
  }
  return undefined;
}

/** Parses `text` as JSON, refusing a key that appears twice in one object. */
export function parseStrictJson(text: string): StrictJson {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    return { error: `not JSON (${(err as Error).message.slice(0, 120)})` };
  }
  const twice = firstDuplicateKey(text);
  if (twice) return { error: `a key appears twice in one object: ${JSON.stringify(twice.key.slice(0, 80))} at offset ${twice.offset}` };
  return { value };
}
