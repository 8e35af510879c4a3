/**
 * YAML from a file a stranger may have written, read within bounds set by its size as written: the bytes,
 * the values it expands to through its aliases, how deep it nests, how many keys a mapping has. What a YAML
 * reader would accept quietly but that changes what is deployed is refused instead: keys that read the same
 * (`8080` and `"8080"`), complex keys, `__proto__`, tags outside YAML's core schema, control characters.
 * Every check is linear in the document.
 */
import * as fs from "node:fs";
import * as jsyaml from "js-yaml";
import { Lexer } from "yaml";

import { describeValue, formatPath, InputError, Problem } from "../model/errors";
import { count } from "../model/text";

export interface YamlLimits {
  /** The file's size. */
  maxBytes: number;
  /** Values (scalars, mappings, lists), counting an alias as everything its anchor holds. */
  maxNodes: number;
  /** Levels of nesting, through aliases too. */
  maxDepth: number;
  maxKeysPerMapping: number;
}

/**
 * Far above any rollout within the model's own limits (10,000 workloads take about 2.5 MiB in block style),
 * and small enough that reading the worst file within them stays within seconds and 512 MiB.
 */
export const DEFAULT_YAML_LIMITS: YamlLimits = {
  maxBytes: 4 * 1024 * 1024,
  maxNodes: 1_000_000,
  maxDepth: 64,
  maxKeysPerMapping: 10_000,
};

/** Where the walk stops collecting: a hostile file could have a problem in every one of a million values. */
const MAX_PROBLEMS = 10_000;

/**
 * Characters no name, label, reason or description needs, and which a terminal obeys: C0 controls except tab,
 * line feed and carriage return, DEL, and C1 controls. NUL among them: it would reach a Deployment's env or args.
 * (The reader itself refuses them written raw; these arrive through escapes such as "\0" and "\e".)
 */
const CONTROL = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]/;

const tooLarge = (maxBytes: number) => `is larger than ${count(maxBytes)} bytes, the most a file here may have`;

/** Decodes UTF-8 strictly: a byte that is not UTF-8 would otherwise become U+FFFD in a value. */
function decodeUtf8(bytes: Uint8Array, source: string): string {
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    throw new InputError([{ path: "", message: `is not UTF-8 text (an invalid byte at offset ${firstInvalidUtf8(bytes)})` }], source);
  }
}

/** The offset of the first byte that does not start or continue a well-formed UTF-8 character. */
function firstInvalidUtf8(bytes: Uint8Array): number {
  const decoder = new TextDecoder("utf-8", { fatal: true });
  let i = 0;
  while (i < bytes.length) {
    const b = bytes[i];
    const length = b < 0x80 ? 1 : b >= 0xc2 && b < 0xe0 ? 2 : b >= 0xe0 && b < 0xf0 ? 3 : b >= 0xf0 && b < 0xf5 ? 4 : 0;
    if (length === 0 || i + length > bytes.length) return i;
    try {
      decoder.decode(bytes.subarray(i, i + length));
    } catch {
      return i;
    }
    i += length;
  }
  return i;
}

/**
 * Reads a regular file of at most `maxBytes` as UTF-8. Reads at most one byte past the limit, so a file that
 * grows after its size was taken, or a device that never ends, cannot be read whole.
 */
export function readBoundedTextFile(file: string, maxBytes: number, source: string = file): string {
  let fd: number | undefined;
  try {
    fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
    // A device or FIFO reports size 0 and may never end: only regular files are read.
    if (!fs.fstatSync(fd).isFile()) throw new InputError([{ path: "", message: "is not a regular file" }], source);
    const buffer = Buffer.alloc(maxBytes + 1);
    let length = 0;
    for (;;) {
      const n = fs.readSync(fd, buffer, length, buffer.length - length, null);
      if (n === 0) break;
      length += n;
      if (length > maxBytes) throw new InputError([{ path: "", message: tooLarge(maxBytes) }], source);
    }
    return decodeUtf8(buffer.subarray(0, length), source);
  } catch (err) {
    if (err instanceof InputError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    throw new InputError([{ path: "", message: `cannot be read (${code ?? (err as Error).message})` }], source);
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

/**
 * What could be a key that is not a plain value: an explicit key (`? `), a flow collection or an alias before a
 * `:`. A cheap test of the text first; only a file that passes it is lexed, to find such a key for certain.
 */
const MAYBE_COMPLEX_KEY = /(^|[\s,{[])\?(\s|$)|[\]}][ \t]*:|\*[^\s,[\]{}]+[ \t]*:/m;

/**
 * The line of the first key that is not a plain value. The reader would turn `? [app] : api` into the key "app",
 * and an alias of a list into its items joined by commas: a selector would then say something else than it reads.
 */
function complexKeyLine(text: string): number | undefined {
  if (!MAYBE_COMPLEX_KEY.test(text)) return undefined;
  let line = 1;
  let previous = "";
  for (const token of new Lexer().lex(text)) {
    // The lexer marks where scalars, documents and flow collections start with single control characters.
    const marker = token.length === 1 && token < " " && token !== "\n" && token !== "\t" && token !== "\r";
    if (marker) continue;
    if (token === "?") return line;
    if (token === ":" && (previous === "]" || previous === "}" || previous.startsWith("*"))) return line;
    if (token.trim() !== "" && !token.startsWith("#")) previous = token;
    for (let i = token.indexOf("\n"); i >= 0; i = token.indexOf("\n", i + 1)) line++;
  }
  return undefined;
}

/** The reader's own complaint, as one line: what is wrong and on which line, with the text of that line. */
function readerProblem(err: jsyaml.YAMLException, text: string, limits: YamlLimits): Problem {
  const reason = err.reason ?? err.message.split("\n")[0];
  if (/maxDepth/.test(reason)) return { path: "", message: `nests deeper than ${limits.maxDepth} levels` };
  const line = err.mark ? err.mark.line + 1 : undefined;
  const where = line === undefined ? "" : ` at line ${line}`;
  const written = line === undefined ? "" : (text.split(/\r\n|\r|\n/, line)[line - 1] ?? "").trim();
  const context = written ? ` (${describeValue(written)})` : "";
  if (/duplicated mapping key/.test(reason)) {
    return {
      path: "",
      message: `not valid YAML${where}: a duplicate key${context}; keys that read the same, such as 8080 and "8080", are one key`,
    };
  }
  return { path: "", message: `not valid YAML${where}: ${reason}${context}` };
}

/** Parses YAML text into plain data, or throws InputError with one problem per line. */
export function parseBoundedYaml(text: string, source: string, limits: YamlLimits = DEFAULT_YAML_LIMITS): unknown {
  if (Buffer.byteLength(text, "utf8") > limits.maxBytes) throw new InputError([{ path: "", message: tooLarge(limits.maxBytes) }], source);
  const nul = text.indexOf("\u0000");
  if (nul >= 0) {
    // The reader refuses it too, but names the first line whatever line it is on.
    const line = text.slice(0, nul).split(/\r\n|\r|\n/).length;
    throw new InputError([{ path: "", message: `contains a NUL character at line ${line}` }], source);
  }
  let data: unknown;
  try {
    // The core schema: strings, numbers, booleans and null; any other tag (!!binary, !!set, a local !tag) is
    // refused, and `<<` is a plain key, not a merge. Keys are compared as the strings they become, so 8080 and
    // "8080" are a duplicate; keys that are not plain values are found below, where the text is lexed.
    // maxDepth is js-yaml's own (4.3), not yet in its type definitions.
    data = jsyaml.load(text, { schema: jsyaml.CORE_SCHEMA, json: false, maxDepth: limits.maxDepth } as jsyaml.LoadOptions);
  } catch (err) {
    if (err instanceof jsyaml.YAMLException) throw new InputError([readerProblem(err, text, limits)], source);
    // A reader that recurses once per level may run out of stack before its own depth check.
    if (err instanceof RangeError) throw new InputError([{ path: "", message: `nests deeper than ${limits.maxDepth} levels` }], source);
    throw err;
  }
  const complexKey = complexKeyLine(text);
  if (complexKey !== undefined) {
    throw new InputError(
      [
        {
          path: "",
          message: `has a key that is not a plain value at line ${complexKey} (an explicit ? key, a list, a mapping or an alias as a key)`,
        },
      ],
      source,
    );
  }
  const problems = checkValues(data, limits);
  if (problems.length > 0) throw new InputError(problems, source);
  return data;
}

type Container = Record<string, unknown> | unknown[];
const isContainer = (v: unknown): v is Container => v !== null && typeof v === "object";

/**
 * The data as read: every value once (an alias is the same object as its anchor), checked for keys and strings,
 * then measured as its aliases expand it, memoised per object, so 999 aliases to a list of 100,000 count as
 * 99,900,000 values without building them, and an alias inside its own anchor is found instead of followed.
 */
function checkValues(data: unknown, limits: YamlLimits): Problem[] {
  const problems: Problem[] = [];
  const report = (path: PropertyKey[], message: string) => {
    if (problems.length < MAX_PROBLEMS) problems.push({ path: formatPath(path), message });
  };
  const checkString = (path: PropertyKey[], s: string, what: string) => {
    const control = CONTROL.exec(s);
    if (control) report(path, `${what} the control character U+${control[0].charCodeAt(0).toString(16).toUpperCase().padStart(4, "0")}`);
  };

  // Only containers are stacked, with their paths: a list of two million numbers costs no allocation per item.
  const seen = new Set<object>();
  const stack: { value: Container; path: PropertyKey[] }[] = [];
  const visit = (value: unknown, path: () => PropertyKey[]) => {
    if (typeof value === "string") checkString(path(), value, "contains");
    else if (isContainer(value) && !seen.has(value)) stack.push({ value, path: path() });
  };
  visit(data, () => []);
  while (stack.length > 0) {
    const { value, path } = stack.pop()!;
    if (seen.has(value)) continue;
    seen.add(value);
    if (Array.isArray(value)) {
      for (let i = value.length - 1; i >= 0; i--) {
        const item = value[i];
        if (typeof item === "string" ? CONTROL.test(item) : isContainer(item)) visit(item, () => [...path, i]);
      }
      continue;
    }
    const keys = Object.keys(value);
    if (keys.length > limits.maxKeysPerMapping) {
      report(path, `has ${count(keys.length)} keys; a mapping may have at most ${count(limits.maxKeysPerMapping)}`);
      continue;
    }
    for (let i = keys.length - 1; i >= 0; i--) {
      const key = keys[i];
      if (key === "__proto__") {
        report([...path, key], "is not accepted as a key (it names the prototype of a JavaScript object)");
        continue;
      }
      checkString(path, key, "has a key with");
      const item = value[key];
      if (typeof item === "string" ? CONTROL.test(item) : isContainer(item)) visit(item, () => [...path, key]);
    }
  }
  if (problems.length > 0) return problems;

  // Expanded size and depth, children before parents, without recursion.
  const measured = new Map<object, { size: number; depth: number }>();
  const open = new Set<object>();
  const cap = limits.maxNodes + 1;
  const children = (c: Container) => (Array.isArray(c) ? c : Object.values(c)).filter(isContainer);
  const sizeOf = (c: Container) => (Array.isArray(c) ? c.length : Object.keys(c).length);
  const work: { node: Container; expanded: boolean }[] = isContainer(data) ? [{ node: data, expanded: false }] : [];
  while (work.length > 0) {
    const top = work[work.length - 1];
    if (measured.has(top.node)) {
      work.pop();
      continue;
    }
    if (!top.expanded) {
      top.expanded = true;
      open.add(top.node);
      for (const child of children(top.node)) {
        if (open.has(child)) return [{ path: "", message: "has an alias that refers to a node containing itself" }];
        if (!measured.has(child)) work.push({ node: child, expanded: false });
      }
      continue;
    }
    work.pop();
    open.delete(top.node);
    // The container and its scalar members; its containers as they expand.
    let size = 1 + sizeOf(top.node);
    let depth = 0;
    for (const child of children(top.node)) {
      const c = measured.get(child)!;
      size = Math.min(cap, size - 1 + c.size);
      depth = Math.max(depth, c.depth);
    }
    measured.set(top.node, { size, depth: depth + 1 });
  }
  const whole = isContainer(data) ? measured.get(data)! : { size: 1, depth: 0 };
  if (whole.size > limits.maxNodes) {
    return [
      { path: "", message: `expands to more than ${count(limits.maxNodes)} values through its aliases, the most a file here may hold` },
    ];
  }
  if (whole.depth > limits.maxDepth) return [{ path: "", message: `nests deeper than ${limits.maxDepth} levels through its aliases` }];
  return [];
}
