/** `n` placeholders: `?, ?, ?`. */
export function marks(n: number): string {
  return Array.from({ length: n }, () => '?').join(', ');
}

/** `row` repeated `n` times, comma-separated: the VALUES of a multi-row statement. */
export function rows(n: number, row: string): string {
  return Array.from({ length: n }, () => row).join(', ');
}

/**
 * SQL written with `?` placeholders, as the driver wants it: unchanged on SQLite, `$1, $2…` on
 * PostgreSQL. The module's hand-written statements never contain a literal `?`.
 */
export function forDriver(text: string, isSqlite: boolean): string {
  if (isSqlite) return text;
  let n = 0;
  return text.replace(/\?/g, () => `$${++n}`);
}
