import type { DataSource, EntityManager, QueryRunner } from 'typeorm';

/** Rows of a write's RETURNING: TypeORM answers PostgreSQL's UPDATE/DELETE … RETURNING as [rows, count], SQLite's as rows. */
export function returnedRows<R = Record<string, unknown>>(result: unknown): R[] {
  if (!Array.isArray(result)) return [];
  return (Array.isArray(result[0]) ? result[0] : result) as R[];
}

/**
 * A write with RETURNING, shaped so that every TypeORM SQLite driver hands its rows back:
 * typeorm 0.3's `sqlite` (sqlite3) runner runs a statement that starts with INSERT, UPDATE or
 * DELETE with run() and drops its rows, so the statement is given an (unused) WITH clause to
 * start with. The statement itself is unchanged; other texts (writes without RETURNING too) are
 * returned as they are.
 */
export function withReturnedRows(text: string): string {
  return /^\s*(INSERT|UPDATE|DELETE)\b/i.test(text) && /\bRETURNING\b/i.test(text)
    ? `WITH returned AS (SELECT 1) ${text.trimStart()}`
    : text;
}

/** U+0000, or a UTF-16 surrogate without its pair. */
const UNSTORABLE = /\u0000|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/**
 * Does `text` hold what no text column keeps as given? U+0000, which PostgreSQL refuses in any
 * text value, parameters included (SQLite takes it); or a lone surrogate, which no UTF-8 text
 * holds: the pg driver writes U+FFFD instead, so two different strings would be stored, and
 * matched, as one (two tenants' ids, say).
 */
export function unstorable(text: string): boolean {
  return UNSTORABLE.test(text);
}

/** `n` placeholders: `?, ?, ?`. */
export function placeholders(n: number): string {
  return rows(n, '?');
}

/**
 * `items` in runs of at most `size`: for multi-row statements that must stay under a driver's
 * parameter limit. A list that fits is returned as the one run, uncopied.
 */
export function chunks<T>(items: readonly T[], size: number): (readonly T[])[] {
  if (items.length <= size) return [items];
  const out: T[][] = [];
  for (let at = 0; at < items.length; at += size) out.push(items.slice(at, at + size));
  return out;
}

/** `row` repeated `n` times, comma-separated: the VALUES of a multi-row statement. */
export function rows(n: number, row: string): string {
  return n > 0 ? `${row}, `.repeat(n - 1) + row : '';
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
export const SQLITE = new Set([
  'sqlite',
  'better-sqlite3',
  'capacitor',
  'cordova',
  'expo',
  'nativescript',
  'react-native',
  'sqljs',
]);

/** The part of a better-sqlite3 statement used here. */
export interface SqliteStatement {
  readonly reader: boolean;
  run(...params: unknown[]): unknown;
  all(...params: unknown[]): unknown[];
}

/** The part of a better-sqlite3 connection used here. */
export interface SqliteConnection {
  readonly inTransaction: boolean;
  prepare(sql: string): SqliteStatement;
}

/** Prepared statements per better-sqlite3 connection, by text (the module's texts are few). */
const prepared = new WeakMap<object, Map<string, SqliteStatement>>();
const PREPARED_LIMIT = 200;

/**
 * better-sqlite3's one connection under a TypeORM DataSource, or null for another driver. Read
 * each time: a DataSource initialised again has a new one.
 */
export function sqliteConnection(dataSource: DataSource): SqliteConnection | null {
  const driver = dataSource.driver as unknown as { options: { type: string }; databaseConnection?: SqliteConnection };
  return driver.options.type === 'better-sqlite3' ? (driver.databaseConnection ?? null) : null;
}

/** The statement `text` prepared on `db`, kept for the next calls (per connection, by text). */
export function preparedOn(db: SqliteConnection, text: string): SqliteStatement {
  let cache = prepared.get(db);
  if (!cache) prepared.set(db, (cache = new Map()));
  let statement = cache.get(text);
  if (!statement) {
    if (cache.size >= PREPARED_LIMIT) cache.delete(cache.keys().next().value!);
    cache.set(text, (statement = db.prepare(text)));
  }
  return statement;
}

/**
 * Runs one of the module's hand-written statements (`?` placeholders) through `manager` and
 * returns its rows (none for a write). On better-sqlite3 it goes straight to the connection, which
 * is the one connection of the DataSource (so it joins any transaction open on it), with a cache
 * of its own: TypeORM's statement cache is a 100-entry FIFO that the app's own statements, whose
 * numbers TypeORM writes into the text, keep flushing, and its query wrapper costs more than the
 * statement. Elsewhere it is `manager.query`.
 */
export async function runSql<R = Record<string, unknown>>(
  manager: EntityManager,
  text: string,
  params: unknown[],
): Promise<R[]> {
  const db = sqliteConnection(manager.connection);
  if (!db) return (await manager.query(forDriver(text, SQLITE.has(manager.connection.options.type)), params)) as R[];
  const statement = preparedOn(db, text);
  if (statement.reader) return statement.all(...params) as R[];
  statement.run(...params);
  return [];
}

/** A PostgreSQL statement the module sends by name, so each connection parses and plans it once. */
export interface PgStatement {
  name: string;
  text: string;
}

/** The part of a node-postgres client used here. */
interface PgClient {
  query(statement: PgStatement & { values: unknown[] }): Promise<{ rows: Record<string, unknown>[] }>;
}

/**
 * Runs a named statement on the node-postgres client of `runner` (TypeORM's query() takes no
 * statement name), so it joins the transaction open on that runner, if any.
 */
export async function pgNamed<R = Record<string, unknown>>(
  runner: QueryRunner,
  statement: PgStatement,
  values: unknown[],
): Promise<R[]> {
  const client = (await runner.connect()) as PgClient;
  return (await client.query({ ...statement, values })).rows as R[];
}

/**
 * Whether the database refused a write for what it holds (PostgreSQL SQLSTATE classes 22 and 23,
 * SQLite's constraint and type errors), which trying again cannot fix; anything else (a lost
 * connection, a lock, a busy SQLite) is worth another try.
 */
export function isDataError(err: unknown): boolean {
  const e = err as { code?: unknown; driverError?: { code?: unknown } } | null;
  const code = String(e?.code ?? e?.driverError?.code ?? '');
  return /^2[23][0-9A-Z]{3}$/.test(code) || /^SQLITE_(CONSTRAINT|MISMATCH|TOOBIG|RANGE)/.test(code);
}
