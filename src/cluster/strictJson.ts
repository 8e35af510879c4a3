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
const OPEN_ARRAY = 0x5b;
const COLON = 0x3a;

/** Where the structure of a JSON text is: a string's start, an object's or an array's bounds. */
const STRUCTURE = /["{}[\]]/g;

/**
 * The first key that appears twice in one object, with where; undefined when there is none. One pass over the
 * text, keeping a set of keys per open object: linear in the answer, and most of it (the strings) skipped by the
 * engine's own search for the closing quote. It relies on the text being JSON, which `JSON.parse` checks first.
 */
export function firstDuplicateKey(text: string): { key: string; offset: number } | undefined {
  // One entry per open container: the keys of an object, or null for an array.
  const open: (Set<string> | null)[] = [];
  const structure = new RegExp(STRUCTURE.source, "g");
  for (let m = structure.exec(text); m !== null; m = structure.exec(text)) {
    const at = m.index;
    const c = text.charCodeAt(at);
    if (c !== QUOTE) {
      if (c === OPEN_OBJECT) open.push(new Set());
      else if (c === OPEN_ARRAY) open.push(null);
      else open.pop(); // CLOSE_OBJECT, CLOSE_ARRAY
      continue;
    }
    // The closing quote: the next one not escaped by an odd number of backslashes.
    let end = at;
    for (;;) {
      end = text.indexOf('"', end + 1);
      if (end < 0) return undefined; // not JSON: JSON.parse said so already
      let backslashes = 0;
      while (text.charCodeAt(end - 1 - backslashes) === BACKSLASH) backslashes++;
      if (backslashes % 2 === 0) break;
    }
    structure.lastIndex = end + 1;
    const keys = open[open.length - 1];
    if (!keys) continue;
    // A string in an object is a key when a colon follows it (after white space).
    let j = end + 1;
    for (let w = text.charCodeAt(j); w === 0x20 || w === 0x0a || w === 0x0d || w === 0x09; w = text.charCodeAt(++j));
    if (text.charCodeAt(j) !== COLON) continue;
    const raw = text.slice(at + 1, end);
    const key = raw.includes("\\") ? (JSON.parse(`"${raw}"`) as string) : raw;
    if (keys.has(key)) return { key, offset: at };
    keys.add(key);
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
