/**
 * Option objects are checked key by key: a key the module does not read would otherwise be
 * ignored in silence (a typo such as `bodylimit` or `sorce`), so it is refused, naming the
 * closest known key.
 */

/** The first key of `given` that is not in `known`, with the known key it most likely meant. */
export function unknownKey(given: object, known: readonly string[]): { key: string; suggestion?: string } | undefined {
  for (const key of Object.keys(given)) {
    if (!known.includes(key)) return { key, suggestion: closest(key, known) };
  }
  return undefined;
}

/** `(did you mean "x"?)`, or nothing when no known key is close. */
export function didYouMean(suggestion: string | undefined): string {
  return suggestion ? ` (did you mean "${suggestion}"?)` : '';
}

/** The known name a typo most likely meant: the same letters in another case, or at most two edits away. */
function closest(key: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = 3;
  for (const name of known) {
    const d = editDistance(key.toLowerCase(), name.toLowerCase());
    if (d < bestDistance) [best, bestDistance] = [name, d];
  }
  return best;
}

/** Levenshtein distance. */
function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      row[j] = Math.min(prev[j] + 1, row[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = row;
  }
  return prev[b.length];
}
