/**
 * Strings from a rollout file or a cluster, made safe for where they are printed. A description, a reason,
 * a label or a kubectl error is text, never markup or a terminal command: a `<!--` must not hide the rest of a
 * pull-request report, a newline must not end a table row, an escape sequence must not reach a terminal.
 */

/**
 * What a terminal obeys or reorders: C0 controls but tab and line feed (a carriage return rewrites the line),
 * DEL, C1 controls, and Unicode's bidirectional controls and line separators.
 */
const TERMINAL_UNSAFE = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

const visible = (c: string) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`;

/** The same set, to look for without the allocation of a replace: most output has none of them. */
const HAS_TERMINAL_UNSAFE = new RegExp(TERMINAL_UNSAFE.source);

/** Text for a terminal or a log: every character it would obey is shown as `\uXXXX` instead. */
export function terminalSafe(text: string): string {
  return HAS_TERMINAL_UNSAFE.test(text) ? text.replace(TERMINAL_UNSAFE, visible) : text;
}

/** Markdown's inline punctuation: escaped, it is printed as itself instead of starting emphasis, a link, code or a cell. */
const MARKDOWN_PUNCTUATION = /[\\`*_[\]|~]/g;
/** What would start a heading, a list or a quote at the beginning of a paragraph or quote. */
const BLOCK_START = /^(\s*)(?:([#+\-=])|(\d+)([.)]))/;

/**
 * Plain text inside a Markdown table cell or a line of text, as GitHub renders it: HTML is escaped (so `<!--`
 * cannot open a comment that hides what follows), Markdown punctuation is escaped, and line breaks become
 * spaces (so the text cannot end a table row and start a block of its own).
 */
export function markdownText(text: string): string {
  return terminalSafe(text.replace(/\r\n|\r|\n/g, " "))
    .replace(/&/g, "&amp;")
    .replace(/</g, "&lt;")
    .replace(/>/g, "&gt;")
    .replace(MARKDOWN_PUNCTUATION, (c) => `\\${c}`);
}

/** markdownText that begins a paragraph or a quote, where `# `, `- ` or `1. ` would start a heading or a list. */
export function markdownParagraph(text: string): string {
  return markdownText(text).replace(BLOCK_START, (_m, space: string, mark?: string, digits?: string, after?: string) =>
    mark !== undefined ? `${space}\\${mark}` : `${space}${digits}\\${after}`,
  );
}

/**
 * A label inside a Mermaid node or edge (`["…"]`, `|…|`): quotes, brackets, pipes and HTML as Mermaid's entity
 * codes, line breaks as spaces, and no backtick, which could end the fenced block the graph sits in.
 */
export function mermaidLabel(text: string): string {
  return terminalSafe(text.replace(/\r\n|\r|\n/g, " ")).replace(/["<>|[\]{}()`#&;]/g, (c) => `#${c.charCodeAt(0)};`);
}

/** A count as a reader writes it: 10,000. */
export const count = (n: number): string => n.toLocaleString("en-US");

/** Where a command reads the cluster, in its progress lines and reports. */
export const contextText = (context: string | undefined): string => (context ? `kube context ${context}` : "the current kube context");
