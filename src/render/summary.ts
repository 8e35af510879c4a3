// How text output stays readable at any size: beyond SUMMARY_ROWS rows a table becomes counts per group (groups
// with the same counts on one row), and the rows that need a reader's attention are listed in full beside it.
// `--wide` prints every row; `--json` has everything.

import { count } from "../model/text";
import { textTable, type TextStyle } from "./textTable";

/** How a command's text is printed: as wide as the terminal, and summarised unless `wide`. */
export interface TextOptions {
  style: TextStyle;
  /** Every row of every table, however many. */
  wide?: boolean;
}

/** More rows than this are summarised in text, unless --wide: a person reads the summary, a program the JSON. */
export const SUMMARY_ROWS = 60;

/** "a", "a, b", or "a, b, c and 997 more (1,000)": a summary row stays a line. */
export function groupNames(groups: string[]): string {
  return groups.length <= 3
    ? groups.join(", ")
    : `${groups.slice(0, 3).join(", ")} and ${groups.length - 3} more (${count(groups.length)})`;
}

const natural = new Intl.Collator("en", { numeric: true }).compare;

/**
 * Counts of `value` per group, as table rows: the groups with the same counts in one row (the first few named),
 * then one column per value seen, then the total; the largest totals first.
 */
function countsBy<T>(items: readonly T[], group: (t: T) => string, value: (t: T) => string): { values: string[]; rows: string[][] } {
  const counts = new Map<string, Map<string, number>>();
  const values = new Set<string>();
  for (const item of items) {
    const g = group(item);
    const v = value(item);
    values.add(v);
    const byValue = counts.get(g) ?? new Map<string, number>();
    byValue.set(v, (byValue.get(v) ?? 0) + 1);
    counts.set(g, byValue);
  }
  const ordered = [...values].sort();
  const alike = new Map<string, { groups: string[]; cells: string[]; total: number }>();
  for (const g of [...counts.keys()].sort(natural)) {
    const byValue = counts.get(g)!;
    const cells = ordered.map((v) => String(byValue.get(v) ?? 0));
    const key = cells.join(" ");
    const row = alike.get(key) ?? { groups: [], cells, total: [...byValue.values()].reduce((a, b) => a + b, 0) };
    row.groups.push(g);
    alike.set(key, row);
  }
  const rows = [...alike.values()]
    .sort((a, b) => b.total * b.groups.length - a.total * a.groups.length)
    .map((r) => [groupNames(r.groups), ...r.cells, String(r.total)]);
  return { values: ordered, rows };
}

/**
 * Those counts as a table: a column of groups headed `groups`, one column per value, and the total headed `total`.
 */
export function countsTable<T>(
  items: readonly T[],
  group: (t: T) => string,
  value: (t: T) => string,
  heads: { groups: string; total: string },
  style: TextStyle,
): string {
  const { values, rows } = countsBy(items, group, value);
  return textTable([{ head: heads.groups }, ...values.map((v) => ({ head: v })), { head: heads.total }], rows, style);
}

/**
 * Rows that share one cause many times over (a deadline, an unreachable Prometheus), a screen of them: `title` with
 * their number, the first SUMMARY_ROWS rendered, and how many more. Nothing when there are none.
 */
export function firstScreen<T>(title: string, items: readonly T[], render: (shown: readonly T[]) => string[], more: string): string[] {
  if (items.length === 0) return [];
  const shown = items.slice(0, SUMMARY_ROWS);
  const left = items.length - shown.length;
  return [
    `${title} (${items.length}${left > 0 ? `, the first ${shown.length}` : ""})`,
    ...render(shown),
    ...(left > 0 ? [`… and ${left} more ${more}: --wide or --json for every one.`] : []),
  ];
}

/** The namespace of a `namespace/name` reference. */
export const namespaceOf = (ref: string) => ref.slice(0, ref.indexOf("/"));
