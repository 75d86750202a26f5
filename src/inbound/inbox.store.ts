import { Injectable, Logger, type BeforeApplicationShutdown } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource, EntityManager } from 'typeorm';
import { storedBody, WebhookInboxEntry, type InboxStatus } from '../database/entities/webhook-inbox.entity.js';
import { Batcher } from '../database/batcher.js';
import { idTimePrefix, newId } from '../database/ids.js';
import { TransactionRunner } from '../database/transaction.runner.js';
import {
  unstorable,
  isDataError,
  placeholders,
  preparedOn,
  returnedRows,
  runSql,
  sqliteConnection,
  withReturnedRows,
} from '../database/sql.js';
import { InboxUnavailableError } from '../errors/inbox-unavailable.error.js';
import { InboxDataError } from '../errors/inbox-data.error.js';

/** A verified call about to be claimed. */
export interface InboxClaim {
  source: string;
  eventId: string;
  type: string;
  rawBody: string;
  headers: Record<string, string>;
  /** `received` to run handlers; `ignored` when none matches (stored, never run). */
  status: Extract<InboxStatus, 'received' | 'ignored'>;
}

/** A claimed row: its id and how many runs of its handlers came before. */
export interface ClaimedRow {
  id: string;
  attempts: number;
}

/**
 * A `received` row older than this is taken to belong to a process that died while running its
 * handlers, so a retry may claim it again. Far above any sender's timeout (5–30 s).
 */
export const CLAIM_LEASE_MS = 5 * 60_000;
const ERROR_LENGTH = 500;
const MAX_GROUP = 200;
/**
 * Event-loop turns a group waits after its first statement, so that calls whose bodies are still
 * being parsed join it; an idle loop turns in microseconds.
 */
const GROUP_TURNS = 2;
/**
 * Statements that make a group worth its commit at once, without waiting for the turns: a burst
 * is answered in parts, so senders work on the first answers while the rest are read
 * (bench/NOTES.md, "Group commit").
 */
const GROUP_READY = 8;

type Row = { id: string; attempts?: number };

/** A page of {@link InboxStore.receivedAmong}. */
export interface ReceivedPage {
  ids: string[];
  last: string | null;
}

/**
 * The claim's INSERT. Its `RETURNING id` is left off on better-sqlite3, where a RETURNING clause
 * costs more than the rest of the insert (SQLite gathers the rows of a RETURNING write in a
 * temporary table); whether it inserted is then read from the change count.
 */
export const CLAIM_INSERT = `INSERT INTO webhook_inbox (id, source, event_id, type, raw_body, headers, status, attempts, received_at, updated_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, 0, ?, ?) ON CONFLICT (source, event_id) DO NOTHING`;

/** The processed mark: after the handlers ran, in the next group's commit. */
export const MARK_PROCESSED = `UPDATE webhook_inbox SET status = ?, attempts = ?, processed_at = ?, updated_at = ? WHERE id = ?`;

/** A statement waiting for the next grouped commit. */
interface PendingStatement {
  sql: string;
  params: unknown[];
  /** better-sqlite3: run this instead, a write without RETURNING; `rows` are its result when it changed a row. */
  direct?: { sql: string; rows: Row[] };
}

/**
 * The inbox table: claims each (source, event id) once, atomically, and records what became of
 * it. Every statement is a single write; on SQLite they go through the {@link TransactionRunner},
 * grouped into shared commits.
 */
@Injectable()
export class InboxStore implements BeforeApplicationShutdown {
  private readonly logger = new Logger(InboxStore.name);
  private readonly postgres: boolean;
  /** SQLite: the statements of calls arriving together, committed as one group. */
  private readonly group = new Batcher<PendingStatement, Row[]>((statements) => this.commitGroup(statements), {
    max: MAX_GROUP,
    ready: GROUP_READY,
    waitMs: 0,
    turns: GROUP_TURNS,
    serial: true,
  });
  private readonly dialected = new Map<string, string>();

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly tx: TransactionRunner,
  ) {
    this.postgres = dataSource.options.type === 'postgres';
  }

  /**
   * Claims the event: inserts it, or takes back a row whose claim was released (`failed`) or
   * whose lease ran out. Resolves to the row id, or null for a duplicate (processed, ignored,
   * or being run right now). Concurrent claims of one event: exactly one wins.
   */
  async claim(entry: InboxClaim, now = Date.now()): Promise<ClaimedRow | null> {
    const id = newId('in', now);
    const inserted = await this.rows(
      `${CLAIM_INSERT} RETURNING id`,
      [
        id,
        entry.source,
        entry.eventId,
        entry.type,
        storedBody(entry.rawBody),
        JSON.stringify(entry.headers),
        entry.status,
        now,
        now,
      ],
      { sql: CLAIM_INSERT, rows: [{ id }] },
    );
    if (inserted.length > 0) return { id, attempts: 0 };
    const retaken = await this.rows(
      `UPDATE webhook_inbox SET status = 'received', updated_at = ?
       WHERE source = ? AND event_id = ? AND (status = 'failed' OR (status = 'received' AND updated_at < ?)) RETURNING id, attempts`,
      [now, entry.source, entry.eventId, now - CLAIM_LEASE_MS],
    );
    return retaken.length > 0 ? { id: retaken[0].id, attempts: Number(retaken[0].attempts) } : null;
  }

  /**
   * Takes back the claim of one stored call by row id, for a replay: a `failed` row, or a
   * `received` row whose lease ran out (its process died mid-run). Never a row whose body could
   * not be read (empty type). Resolves to the row, or null when it is none of those.
   */
  async reclaim(id: string, now = Date.now()): Promise<ClaimedRow | null> {
    const taken = await this.rows(
      `UPDATE webhook_inbox SET status = 'received', updated_at = ?
       WHERE id = ? AND type <> '' AND (status = 'failed' OR (status = 'received' AND updated_at < ?)) RETURNING id, attempts`,
      [now, id, now - CLAIM_LEASE_MS],
    );
    return taken.length > 0 ? { id: taken[0].id, attempts: Number(taken[0].attempts) } : null;
  }

  /**
   * Deletes up to `limit` `processed` / `ignored` rows received before `before` (epoch ms) with ids
   * after `after`, oldest first, and resolves to their ids. The id range (ids start with their creation time) lets
   * the primary key find them without reading the whole table.
   */
  async prune(before: number, limit: number, after = ''): Promise<string[]> {
    const deleted = await this.rows(
      `DELETE FROM webhook_inbox WHERE id IN (SELECT id FROM webhook_inbox
       WHERE id > ? AND id < ? AND received_at < ? AND status IN ('processed', 'ignored') ORDER BY id LIMIT ?) RETURNING id`,
      [after, idTimePrefix('in', before), before, limit],
    );
    return deleted.map((r) => r.id);
  }

  /**
   * Keeps a verified call whose body could not be read (not JSON, no event type) as `failed`,
   * with an empty type and the reason, for inspection. It is never run; a resend is a no-op.
   */
  async recordUnreadable(entry: Omit<InboxClaim, 'type' | 'status'>, reason: string, now = Date.now()): Promise<void> {
    await this.exec(
      `INSERT INTO webhook_inbox (id, source, event_id, type, raw_body, headers, status, attempts, last_error, received_at, updated_at)
       VALUES (?, ?, ?, '', ?, ?, 'failed', 0, ?, ?, ?) ON CONFLICT (source, event_id) DO NOTHING`,
      [
        newId('in', now),
        entry.source,
        entry.eventId,
        storedBody(entry.rawBody),
        JSON.stringify(entry.headers),
        errorText(reason),
        now,
        now,
      ],
    );
  }

  /**
   * Releases the `received` rows first claimed since `since` (epoch ms) as `failed`, counting
   * the run that never finished, and resolves to how many. Only where no other process may still
   * be running them: SQLite, at boot. The id range keeps it to the newest rows, by the primary key.
   */
  async releaseUnfinished(since: number, reason: string, now = Date.now()): Promise<number> {
    const released = await this.rows(
      `UPDATE webhook_inbox SET status = 'failed', attempts = attempts + 1, last_error = ?, updated_at = ?
       WHERE id >= ? AND status = 'received' RETURNING id`,
      [errorText(reason), now, idTimePrefix('in', since)],
    );
    return released.length;
  }

  /**
   * Of `limit` inbox rows by id, the ids of those `received` and untouched since before
   * `olderThan` (epoch ms): the newest rows when `after` is null, else the rows after that id.
   * Only the primary key is read.
   * `last` is the last id read, or null when no row is left after it.
   */
  async receivedAmong(after: string | null, olderThan: number, limit: number): Promise<ReceivedPage> {
    const rows = await this.read<{ id: string; status: string; updated_at: number | string }>(
      after === null
        ? 'SELECT id, status, updated_at FROM webhook_inbox ORDER BY id DESC LIMIT ?'
        : 'SELECT id, status, updated_at FROM webhook_inbox WHERE id > ? ORDER BY id LIMIT ?',
      after === null ? [limit] : [after, limit],
    );
    const ids = rows.filter((r) => r.status === 'received' && Number(r.updated_at) < olderThan).map((r) => r.id);
    return { ids, last: rows.length === limit ? rows[rows.length - 1].id : null };
  }

  /** Of `ids`, those still `received` and untouched since before `olderThan`. */
  async stillReceived(ids: string[], olderThan: number): Promise<string[]> {
    const rows = await this.read<{ id: string }>(
      `SELECT id FROM webhook_inbox WHERE id IN (${placeholders(ids.length)}) AND status = 'received' AND updated_at < ?`,
      [...ids, olderThan],
    );
    return rows.map((r) => r.id);
  }

  /** Records a successful run of the handlers (`ignored` when a worker found none). */
  markProcessed(id: string, attempts: number, status: 'processed' | 'ignored' = 'processed'): Promise<unknown> {
    const now = Date.now();
    return this.exec(MARK_PROCESSED, [status, attempts, now, now, id]);
  }

  /**
   * Records a failed run. `failed` releases the claim (a retry may take it again); `received`
   * keeps it with the queue, which retries by itself.
   */
  markFailed(id: string, attempts: number, error: unknown, status: 'failed' | 'received' = 'failed'): Promise<unknown> {
    const message = errorText(error instanceof Error ? error.message : String(error));
    return this.exec(`UPDATE webhook_inbox SET status = ?, attempts = ?, last_error = ?, updated_at = ? WHERE id = ?`, [
      status,
      attempts,
      message,
      Date.now(),
      id,
    ]);
  }

  /** Lets the last group commit before the database closes. */
  async beforeApplicationShutdown(): Promise<void> {
    await this.group.drained();
  }

  /**
   * The row of that id, or null. Read from the primary under TypeORM read replication: the worker
   * and a replay read rows just written, which a replica that has not caught up would not have.
   */
  async find(id: string): Promise<WebhookInboxEntry | null> {
    // No row has it, and PostgreSQL would refuse it as a parameter rather than say so.
    if (typeof id !== 'string' || unstorable(id)) return null;
    const primary = this.dataSource.driver.isReplicated ? this.dataSource.createQueryRunner('master') : undefined;
    try {
      return await (primary?.manager ?? this.dataSource.manager).findOneBy(WebhookInboxEntry, { id });
    } catch (err) {
      throw this.storageError(err);
    } finally {
      await primary?.release();
    }
  }

  /** A read of the module's own rows, from the primary (TypeORM sends `query()` there). */
  private async read<R>(sql: string, params: unknown[]): Promise<R[]> {
    try {
      return await runSql<R>(this.dataSource.manager, sql, params);
    } catch (err) {
      throw this.storageError(err);
    }
  }

  // Not async: on the call path each wrapper would be one more promise per statement.
  private rows(sql: string, params: unknown[], direct?: PendingStatement['direct']): Promise<Row[]> {
    if (this.tx.isSqlite) return this.group.add({ sql, params, direct });
    return this.write((m) => m.query(this.dialect(sql), params)).then((result) => returnedRows<Row>(result));
  }

  /** A write whose rows nobody reads; resolves once it is committed. */
  private exec(sql: string, params: unknown[]): Promise<unknown> {
    return this.rows(sql, params);
  }

  /**
   * SQLite: calls arriving together share one commit (a commit costs far more than a row, and
   * there is one connection anyway); each caller still gets its own result. See
   * {@link GROUP_TURNS} and {@link GROUP_READY} for when a group is taken.
   */
  private async commitGroup(group: PendingStatement[]): Promise<Row[][]> {
    try {
      const results =
        this.runDirect(group) ??
        (await this.tx.run(async (m) => {
          const out: unknown[] = [];
          for (const statement of group) out.push(await m.query(withReturnedRows(statement.sql), statement.params));
          return out;
        }));
      return results.map((result) => returnedRows<Row>(result));
    } catch (err) {
      throw this.storageError(err);
    }
  }

  /**
   * better-sqlite3: runs the group as one transaction straight on the connection, synchronously,
   * with prepared statements kept for the next groups: nothing else can run on the connection
   * between BEGIN and COMMIT. Returns undefined (the caller goes through TypeORM, in turn) when
   * the driver is another one or a transaction of the app or the module is open on it.
   */
  private runDirect(group: PendingStatement[]): unknown[] | undefined {
    const db = sqliteConnection(this.dataSource);
    if (!db || db.inTransaction) return undefined;
    preparedOn(db, 'BEGIN').run();
    try {
      const out = group.map(({ sql, params, direct }) => {
        if (direct)
          return (preparedOn(db, direct.sql).run(...params) as { changes: number }).changes > 0 ? direct.rows : [];
        const statement = preparedOn(db, sql);
        return statement.reader ? statement.all(...params) : statement.run(...params);
      });
      preparedOn(db, 'COMMIT').run();
      return out;
    } catch (err) {
      if (db.inTransaction) preparedOn(db, 'ROLLBACK').run();
      throw err;
    }
  }

  private async write<T>(work: (m: EntityManager) => Promise<T>): Promise<T> {
    try {
      return await this.tx.write(work);
    } catch (err) {
      throw this.storageError(err);
    }
  }

  /** Unavailable (connection, lock, timeout, missing table: worth retrying later), or refused data. */
  private storageError(err: unknown): InboxUnavailableError | InboxDataError {
    const message = err instanceof Error ? err.message : String(err);
    if (isDataError(err)) {
      const code = String((err as { code?: unknown } | null)?.code ?? '');
      this.logger.error(`Webhook inbox refused the values (${code}): ${message}`);
      return new InboxDataError(message, { cause: err });
    }
    this.logger.error(`Webhook inbox unavailable: ${message}`);
    return new InboxUnavailableError(message, { cause: err });
  }

  /** `?` placeholders as the driver wants them. */
  private dialect(sql: string): string {
    if (!this.postgres) return sql;
    let out = this.dialected.get(sql);
    if (out === undefined) {
      let n = 0;
      this.dialected.set(sql, (out = sql.replace(/\?/g, () => `$${++n}`)));
    }
    return out;
  }
}

/** An error text as `last_error` keeps it: cut to the column, U+0000 (which PostgreSQL refuses) replaced. */
function errorText(text: string): string {
  return text.slice(0, ERROR_LENGTH).replaceAll('\u0000', '\uFFFD');
}
