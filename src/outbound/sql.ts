import type { EntityManager } from 'typeorm';

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

/** TypeORM's SQLite drivers: one shared connection, `?` placeholders. */
export const SQLITE = new Set(['sqlite', 'better-sqlite3', 'capacitor', 'cordova', 'expo', 'nativescript', 'react-native', 'sqljs']);

/** The part of a better-sqlite3 statement used here. */
interface SqliteStatement {
  readonly reader: boolean;
  run(...params: unknown[]): unknown;
  all(...params: unknown[]): unknown[];
}

/** Prepared statements per better-sqlite3 connection, by text (the module's texts are few). */
const prepared = new WeakMap<object, Map<string, SqliteStatement>>();
const PREPARED_LIMIT = 200;

/**
 * Runs one of the module's hand-written statements (`?` placeholders) through `manager` and
 * returns its rows (none for a write). On better-sqlite3 it goes straight to the connection, which
 * is the one connection of the DataSource (so it joins any transaction open on it), with a cache
 * of its own: TypeORM's statement cache is a 100-entry FIFO that the app's own statements, whose
 * numbers TypeORM writes into the text, keep flushing, and its query wrapper costs more than the
 * statement. Elsewhere it is `manager.query`.
 */
export async function runSql<R = Record<string, unknown>>(manager: EntityManager, text: string, params: unknown[]): Promise<R[]> {
  const driver = manager.connection.driver as unknown as { options: { type: string }; databaseConnection?: { prepare(sql: string): SqliteStatement } };
  const db = driver.options.type === 'better-sqlite3' ? driver.databaseConnection : undefined;
  if (!db) return (await manager.query(forDriver(text, SQLITE.has(driver.options.type)), params)) as R[];
  let cache = prepared.get(db);
  if (!cache) prepared.set(db, (cache = new Map()));
  let statement = cache.get(text);
  if (!statement) {
    if (cache.size >= PREPARED_LIMIT) cache.delete(cache.keys().next().value!);
    cache.set(text, (statement = db.prepare(text)));
  }
  if (statement.reader) return statement.all(...params) as R[];
  statement.run(...params);
  return [];
}
