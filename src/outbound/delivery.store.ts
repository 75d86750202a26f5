import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource, EntityManager } from 'typeorm';
import type { AttemptErrorClass } from '../database/entities/webhook-attempt.entity.js';
import type { DeliveryStatus } from '../database/entities/webhook-delivery.entity.js';
import { TransactionRunner } from '../database/transaction.runner.js';
import { Batcher } from '../database/batcher.js';
import { isDataError, placeholders, pgNamed, type PgStatement, rows, runSql } from '../database/sql.js';
import type { DeliveryJobData } from './outbox.relay.js';

/** What an attempt needs of its delivery, endpoint and message, read in one query. */
export interface LoadedDelivery {
  id: string;
  messageId: string;
  endpointId: string;
  status: DeliveryStatus;
  attempts: number;
  body: string;
  endpoint: {
    id: string;
    url: string;
    customerId: string | null;
    secret: string;
    previousSecret: string | null;
    previousSecretExpiresAt: Date | null;
    headers: Record<string, string> | null;
    enabled: boolean;
    disabledReason: string | null;
    failingSince: Date | null;
    consecutiveFailures: number;
  };
}

/** One finished attempt and the delivery state it leads to. */
export interface AttemptRecord {
  /** The attempt row's id, chosen once: a write retried after a commit it did not hear of stores nothing twice. */
  id: string;
  deliveryId: string;
  number: number;
  statusCode: number | null;
  durationMs: number;
  responseBody: string | null;
  errorClass: AttemptErrorClass | null;
  errorMessage: string | null;
  trigger: DeliveryJobData['trigger'];
  /** The headers sent, as JSON text. */
  requestHeaders: string;
  /** The response headers, as bounded JSON text (see storableHeaders); null when no response came. */
  responseHeaders: string | null;
  at: Date;
  status: DeliveryStatus;
  nextAttemptAt: Date | null;
  /**
   * A failure's endpoint health writes, run in the same transaction; returns why it disabled the
   * endpoint. A success needs none: recording it ends the endpoint's failure streak, if any.
   */
  health?: (m: EntityManager) => Promise<string | null>;
}

/** Batches close at the end of the event-loop turn: waiting longer cost more than it gathered (bench/NOTES.md). */
const LOAD_BATCH = { max: 50, waitMs: 0, serial: false };
/**
 * SQLite: one write at a time on its one connection, so what ends during a flush is written by the
 * next one (group commit). PostgreSQL: each batch is one atomic statement, flushed at once; the
 * server groups concurrent commits itself, so waiting for the previous flush only adds latency.
 */
const RECORD_BATCH = (isSqlite: boolean) => ({ max: 50, waitMs: 0, serial: isSqlite });

const LOAD_SQL = `SELECT d.id, d.message_id, d.endpoint_id, d.status, d.attempts, m.body,
  e.url, e.customer_id, e.secret, e.previous_secret, e.previous_secret_expires_at, e.headers,
  e.enabled, e.disabled_reason, e.failing_since, e.consecutive_failures
  FROM webhook_deliveries d
  JOIN webhook_endpoints e ON e.id = d.endpoint_id
  JOIN webhook_messages m ON m.id = d.message_id
  WHERE d.id IN `;
const ATTEMPT_COLUMNS =
  'id, delivery_id, number, status_code, duration_ms, response_body, error_class, error_message, "trigger", created_at, request_headers, response_headers';
/**
 * A success ends its endpoint's failure streak, read from the row as it is now (the attempt's own
 * read of the endpoint may be stale). An endpoint with no streak is not written.
 */
const RESET_STREAK = `UPDATE webhook_endpoints SET failing_since = NULL, consecutive_failures = 0
  WHERE (failing_since IS NOT NULL OR consecutive_failures <> 0) AND id IN`;
// SQLite's multi-row record (PostgreSQL uses PG_RECORD); CAST keeps the columns' types exact.
const UPDATE_ROW =
  '(CAST(? AS varchar), CAST(? AS varchar), CAST(? AS integer), CAST(? AS bigint), CAST(? AS integer), CAST(? AS varchar), CAST(? AS bigint))';
const UPDATE_SQL = `UPDATE webhook_deliveries SET status = v.status, attempts = v.attempts, next_attempt_at = v.next_attempt_at,
  last_status_code = v.last_status_code, last_error = v.last_error, updated_at = v.updated_at
  FROM v WHERE webhook_deliveries.id = v.id`;
const UPDATE_WITH = 'v (id, status, attempts, next_attempt_at, last_status_code, last_error, updated_at) AS (VALUES ';

/**
 * PostgreSQL: one statement text whatever the batch size (arrays as parameters), sent as a named
 * statement, so each connection parses and plans it once (bench/NOTES.md).
 */
const PG_LOAD = {
  name: 'webhooks_load_deliveries_v1',
  text: LOAD_SQL.replace(/IN $/, '= ANY(CAST($1 AS varchar[]))'),
};
const PG_RECORD = {
  name: 'webhooks_record_attempts_v3',
  text: `WITH v AS (
    SELECT * FROM unnest(CAST($1 AS varchar[]), CAST($2 AS varchar[]), CAST($3 AS integer[]), CAST($4 AS integer[]), CAST($5 AS integer[]),
      CAST($6 AS text[]), CAST($7 AS varchar[]), CAST($8 AS varchar[]), CAST($9 AS varchar[]), CAST($10 AS bigint[]), CAST($11 AS text[]),
      CAST($12 AS text[]), CAST($13 AS varchar[]), CAST($14 AS bigint[]))
      AS v(attempt_id, delivery_id, number, status_code, duration_ms, response_body, error_class, error_message, trigger, at,
        request_headers, response_headers, status, next_attempt_at)),
  a AS (INSERT INTO webhook_attempts (${ATTEMPT_COLUMNS})
    SELECT attempt_id, delivery_id, number, status_code, duration_ms, response_body, error_class, error_message, trigger, at,
      request_headers, response_headers FROM v
    ON CONFLICT (id) DO NOTHING),
  e AS (${RESET_STREAK}
    (SELECT d.endpoint_id FROM webhook_deliveries d JOIN v ON d.id = v.delivery_id WHERE v.status = 'succeeded'))
  UPDATE webhook_deliveries SET status = v.status, attempts = v.number, next_attempt_at = v.next_attempt_at,
    last_status_code = v.status_code, last_error = v.error_message, updated_at = v.at
  FROM v WHERE webhook_deliveries.id = v.delivery_id`,
};

/**
 * The worker's database work in parametrised SQL, gathered across the jobs in flight: one
 * `WHERE id IN (…)` load for the jobs that start together, and one transaction (a single
 * statement on PostgreSQL when no endpoint health changes) for the attempts that end together.
 * Statement texts depend only on the batch size, so SQLite's prepared statements are reused.
 */
@Injectable()
export class DeliveryStore {
  private readonly loader = new Batcher<string, LoadedDelivery | null>((ids) => this.loadMany(ids), LOAD_BATCH);
  private readonly recorder: Batcher<AttemptRecord, string | null>;

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly tx: TransactionRunner,
  ) {
    this.recorder = new Batcher((records) => this.recordMany(records), RECORD_BATCH(tx.isSqlite));
  }

  /** The delivery with its endpoint and message, or null when any of them is gone. */
  load(id: string): Promise<LoadedDelivery | null> {
    return this.loader.add(id);
  }

  /**
   * Inserts the attempt row and updates the delivery (and the endpoint's health); resolves once
   * committed, with the reason when the endpoint was disabled.
   */
  record(record: AttemptRecord): Promise<string | null> {
    return this.recorder.add(record);
  }

  private async loadMany(ids: string[]): Promise<(LoadedDelivery | null)[]> {
    if (!this.tx.isSqlite) return byIds(ids, await this.borrowedNamed(PG_LOAD, [ids]));
    // runSql skips TypeORM's query hooks: wait, as any other query would, for the module's
    // transaction open on the shared connection to end, so as not to read inside it.
    await this.tx.beforeQuery();
    return byIds(ids, await runSql(this.dataSource.manager, `${LOAD_SQL}(${placeholders(ids.length)})`, ids));
  }

  private async recordMany(records: AttemptRecord[]): Promise<(string | null | Error)[]> {
    try {
      return await this.write(records);
    } catch (err) {
      // A database away fails each row alike: each caller retries. Only a row refused as data is singled out.
      if (records.length === 1 || !isDataError(err)) return records.map(() => err as Error);
      // One bad row (its delivery deleted meanwhile) must not fail its neighbours' jobs.
      const alone: (string | null | Error)[] = [];
      for (const r of records)
        alone.push(
          await this.write([r]).then(
            ([reason]) => reason,
            (e: Error) => e,
          ),
        );
      return alone;
    }
  }

  private async write(records: AttemptRecord[]): Promise<(string | null)[]> {
    if (!this.tx.isSqlite) {
      // One statement is atomic by itself: no BEGIN/COMMIT round trips unless health writes join it.
      if (records.every((r) => !r.health)) {
        await this.borrowedNamed(PG_RECORD, recordColumns(records));
        return records.map(() => null);
      }
      return this.tx.run(async (m) => {
        await m.query(PG_RECORD.text, recordColumns(records));
        return this.healthOf(records, m);
      });
    }
    const attempts = records.flatMap(attemptValues);
    const updates = records.flatMap((r) => [
      r.deliveryId,
      r.status,
      r.number,
      r.nextAttemptAt?.getTime() ?? null,
      r.statusCode,
      r.errorMessage,
      r.at.getTime(),
    ]);
    const succeeded = records.filter((r) => r.status === 'succeeded').map((r) => r.deliveryId);
    return this.tx.run(async (m) => {
      const values = rows(records.length, `(${placeholders(12)})`);
      await runSql(
        m,
        `INSERT INTO webhook_attempts (${ATTEMPT_COLUMNS}) VALUES ${values} ON CONFLICT (id) DO NOTHING`,
        attempts,
      );
      await runSql(m, `WITH ${UPDATE_WITH}${rows(records.length, UPDATE_ROW)}) ${UPDATE_SQL}`, updates);
      if (succeeded.length) {
        const endpoints = `SELECT endpoint_id FROM webhook_deliveries WHERE id IN (${placeholders(succeeded.length)})`;
        await runSql(m, `${RESET_STREAK} (${endpoints})`, succeeded);
      }
      return this.healthOf(records, m);
    });
  }

  /** Runs each record's endpoint health writes in the recording transaction; the reasons it disabled. */
  private async healthOf(records: AttemptRecord[], m: EntityManager): Promise<(string | null)[]> {
    const reasons: (string | null)[] = [];
    for (const r of records) reasons.push(r.health ? await r.health(m) : null);
    return reasons;
  }

  /**
   * Runs a named statement on a connection TypeORM lends (its query runner's node-postgres
   * client): TypeORM's query() takes no statement name. Borrowed through a query runner, not
   * from the pool directly, so that DataSource.destroy() still releases a connection whose query
   * hangs instead of waiting for it.
   */
  private async borrowedNamed(statement: PgStatement, values: unknown[]): Promise<Record<string, unknown>[]> {
    const runner = this.dataSource.createQueryRunner();
    try {
      return await pgNamed(runner, statement, values);
    } finally {
      await runner.release();
    }
  }
}

/** An attempt row's values, in ATTEMPT_COLUMNS order. */
function attemptValues(r: AttemptRecord): unknown[] {
  return [
    r.id,
    r.deliveryId,
    r.number,
    r.statusCode,
    r.durationMs,
    r.responseBody,
    r.errorClass,
    r.errorMessage,
    r.trigger,
    r.at.getTime(),
    r.requestHeaders,
    r.responseHeaders,
  ];
}

/** The records as the fourteen column arrays that PG_RECORD unnests. */
function recordColumns(records: AttemptRecord[]): unknown[][] {
  const columns: unknown[][] = Array.from({ length: 14 }, () => []);
  for (const r of records) {
    const row = [...attemptValues(r), r.status, r.nextAttemptAt?.getTime() ?? null];
    row.forEach((v, i) => columns[i].push(v));
  }
  return columns;
}

/** The loaded rows in the order of `ids`; null where a row is gone. */
function byIds(ids: string[], rows: Record<string, unknown>[]): (LoadedDelivery | null)[] {
  const byId = new Map(rows.map((r) => [r.id as string, toLoaded(r)]));
  return ids.map((id) => byId.get(id) ?? null);
}

const time = (v: unknown) => (v === null || v === undefined ? null : new Date(Number(v)));

function toLoaded(r: Record<string, unknown>): LoadedDelivery {
  return {
    id: r.id as string,
    messageId: r.message_id as string,
    endpointId: r.endpoint_id as string,
    status: r.status as DeliveryStatus,
    attempts: Number(r.attempts),
    body: r.body as string,
    endpoint: {
      id: r.endpoint_id as string,
      url: r.url as string,
      customerId: (r.customer_id as string | null) ?? null,
      secret: r.secret as string,
      previousSecret: (r.previous_secret as string | null) ?? null,
      previousSecretExpiresAt: time(r.previous_secret_expires_at),
      // simple-json column: JSON text on both databases.
      headers: r.headers ? (JSON.parse(r.headers as string) as Record<string, string>) : null,
      // SQLite answers 1/0, PostgreSQL true/false.
      enabled: Boolean(r.enabled),
      disabledReason: (r.disabled_reason as string | null) ?? null,
      failingSince: time(r.failing_since),
      consecutiveFailures: Number(r.consecutive_failures),
    },
  };
}
