// Every table the CLI prints on a terminal or in a log. It fits the width it is given: the names keep their
// width and the prose column (a reason, a message, evidence) wraps; a value is coloured by what it says, on a
// terminal that wants colour only.
import stringWidth from "string-width";
import { terminalSafe } from "../model/text";

/** Where text output goes: how wide it may be, and whether it may be coloured. */
export interface TextStyle {
  width: number;
  color: boolean;
}

/** For output that is read by a program or a test rather than a person: no wrapping, no colour. */
export const UNBOUNDED: TextStyle = { width: Infinity, color: false };

/** The width when stdout is no terminal and $COLUMNS says nothing. */
export const DEFAULT_WIDTH = 100;

/** What a terminal or a log can take: the terminal's width, else $COLUMNS, else 100; colour on a terminal, unless $NO_COLOR. */
export function textStyleOf(stream: { isTTY?: boolean; columns?: number }, env: NodeJS.ProcessEnv): TextStyle {
  const columns = Number(env.COLUMNS);
  const width =
    stream.isTTY && stream.columns && stream.columns > 0
      ? stream.columns
      : /^\d+$/.test(env.COLUMNS ?? "") && columns >= 20
        ? columns
        : DEFAULT_WIDTH;
  // no-color.org: NO_COLOR set to anything but the empty string turns colour off.
  const color = Boolean(stream.isTTY) && !env.NO_COLOR && env.TERM !== "dumb";
  return { width, color };
}

/** Select Graphic Rendition: a foreground colour, and back to the default one. */
const SGR = { green: "\u001b[32m", red: "\u001b[31m", yellow: "\u001b[33m" } as const;
const SGR_END = "\u001b[39m";
type Colour = keyof typeof SGR;

/** Those sequences: the only escapes the CLI prints (as a capture, so that a split keeps them). */
export const TABLE_COLOURS = /(\u001b\[(?:3[123]|39)m)/;

/** The colour of a word the model uses for an outcome or a verdict; undefined for any other text. */
const COLOURS = new Map<string, Colour>([
  ["mtls", "green"],
  ["holds", "green"],
  ["clear", "green"],
  ["pass", "green"],
  ["=", "green"],
  ["STRICT", "green"],
  ["plaintext", "yellow"],
  ["inconclusive", "yellow"],
  ["unverifiable", "yellow"],
  ["PERMISSIVE", "yellow"],
  ["advisory", "yellow"],
  ["refused", "red"],
  ["contradicts", "red"],
  ["fail", "red"],
  ["mandatory", "red"],
  ["DIFFERS", "red"],
  ["DISABLE", "red"],
]);

export interface Column {
  head: string;
  /** A column that wraps when the table is wider than the style allows; of several, the widest gives way first. */
  prose?: boolean;
  /** Colour the cell by the word it holds (outcomes, verdicts, modes, levels). */
  coloured?: boolean;
}

const PADDING = 2; // a space either side of a cell
const MIN_PROSE_WIDTH = 12;

const PRINTABLE_ASCII = /^[\x20-\x7e]*$/;

/** Columns on a terminal (string-width: wide characters count two, combining ones none); ASCII counts itself. */
const columnsOf = (text: string) => (PRINTABLE_ASCII.test(text) ? text.length : stringWidth(text));

function displayWidth(text: string): number {
  let width = 0;
  for (const line of text.split("\n")) width = Math.max(width, columnsOf(line));
  return width;
}

/**
 * `paragraph` broken at spaces into lines of at most `width` columns. A word longer than that is split where a
 * table cell must keep its width, and keeps a line of its own in running text.
 */
function wrapWords(paragraph: string, width: number, splitLongWords: boolean): string[] {
  const lines: string[] = [];
  let line = "";
  for (let word of paragraph.split(" ")) {
    while (splitLongWords && columnsOf(word) > width) {
      if (line) lines.push(line);
      line = "";
      let cut = width;
      while (cut > 1 && columnsOf(word.slice(0, cut)) > width) cut--;
      lines.push(word.slice(0, cut));
      word = word.slice(cut);
    }
    if (line && columnsOf(line) + 1 + columnsOf(word) > width) {
      lines.push(line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  lines.push(line);
  return lines;
}

/** A cell's text in lines of at most `width` columns, its own line breaks kept. */
const wrapCell = (text: string, width: number) => text.split("\n").flatMap((paragraph) => wrapWords(paragraph, width, true));

const pad = (text: string, width: number) => text + " ".repeat(Math.max(0, width - columnsOf(text)));

/**
 * The rows as a box-drawn table `style.width` wide at most, as far as the columns other than the prose ones allow.
 * Drawn here rather than by a table library: those spread every row into one call, which overflows the stack
 * at 200,000 rows, and take most of a minute to get there.
 */
export function textTable(columns: readonly Column[], rows: readonly (readonly (string | number)[])[], style: TextStyle): string {
  // Escaped first, so that printing can tell the colours added below from any escape a value held.
  const cells = rows.map((row) => columns.map((_, i) => terminalSafe(String(row[i]))));
  const widths = columns.map((c) => displayWidth(c.head));
  for (const row of cells) for (let i = 0; i < columns.length; i++) widths[i] = Math.max(widths[i], displayWidth(row[i]));
  const total = widths.reduce((a, b) => a + b + PADDING, 0) + columns.length + 1;
  const prose = new Set(columns.flatMap((c, i) => (c.prose ? [i] : [])));
  // The excess is taken from the widest prose column, a column at a time, so that they end as even as they can.
  for (let excess = total - style.width; excess > 0; excess--) {
    let widest = -1;
    for (const i of prose) if (widths[i] > MIN_PROSE_WIDTH && (widest < 0 || widths[i] > widths[widest])) widest = i;
    if (widest < 0) break;
    widths[widest]--;
  }

  const border = (left: string, middle: string, right: string) => left + widths.map((w) => "─".repeat(w + PADDING)).join(middle) + right;
  const out = [border("┌", "┬", "┐")];
  const draw = (row: readonly string[], colour: (column: number, text: string) => string) => {
    const wrapped = row.map((text, i) => (prose.has(i) ? wrapCell(text, widths[i]) : text.split("\n")));
    const height = Math.max(...wrapped.map((lines) => lines.length));
    for (let l = 0; l < height; l++) {
      out.push(`│ ${wrapped.map((lines, i) => colour(i, pad(lines[l] ?? "", widths[i]))).join(" │ ")} │`);
    }
  };
  draw(
    columns.map((c) => c.head),
    (_, text) => text,
  );
  for (const row of cells) {
    draw(row, (i, text) => {
      const colour = style.color && columns[i].coloured ? COLOURS.get(row[i].split(" ")[0]) : undefined;
      return colour ? `${SGR[colour]}${text}${SGR_END}` : text;
    });
  }
  out.push(border("└", "┴", "┘"));
  return out.join("\n");
}

/**
 * A paragraph broken at spaces into lines of at most `width` columns (a longer word keeps its line), each indented.
 * Measured as printed: what a terminal would obey is shown as `\uXXXX` (six columns) before the lines are cut.
 */
export function wrapText(text: string, width: number, indent = ""): string {
  return wrapWords(terminalSafe(text), width - indent.length, false)
    .map((line) => indent + line)
    .join("\n");
}
