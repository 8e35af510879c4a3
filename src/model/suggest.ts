/** Levenshtein distance, or Infinity once it exceeds `max` (a name is short; candidates may be many). */
function distance(a: string, b: string, max: number): number {
  if (Math.abs(a.length - b.length) > max) return Infinity;
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    let rowMin = i;
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
      rowMin = Math.min(rowMin, current[j]);
    }
    if (rowMin > max) return Infinity;
    previous = current;
  }
  return previous[b.length] <= max ? previous[b.length] : Infinity;
}

/**
 * The candidate a mistyped name most likely meant: the same but for case, else the nearest within a third of its
 * length (at most 3 edits), the first of equally near ones; undefined when none is near.
 */
export function closestName(value: string, candidates: readonly string[]): string | undefined {
  const folded = value.toLowerCase();
  const sameButCase = candidates.find((c) => c.toLowerCase() === folded);
  if (sameButCase !== undefined) return sameButCase;
  const max = Math.min(3, Math.floor(value.length / 3));
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of candidates) {
    const d = distance(folded, candidate.toLowerCase(), Math.min(max, bestDistance - 1));
    if (d < bestDistance) [best, bestDistance] = [candidate, d];
  }
  return best;
}

/** "a, b, c", or the first `max` and how many more: a message line stays a line. */
export function someNames(names: readonly string[], max = 10): string {
  return names.length <= max ? names.join(", ") : `${names.slice(0, max).join(", ")} and ${names.length - max} more`;
}
