import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource, EntityManager } from 'typeorm';
import { WebhookDelivery } from '../database/entities/webhook-delivery.entity.js';
import { WebhookMessage } from '../database/entities/webhook-message.entity.js';
import { idTimePrefix, newId } from '../database/ids.js';
import { deleteInBatches, pruneCutoff } from '../database/prune.js';
import { Batcher } from '../database/batcher.js';
import {
  chunks,
  forDriver,
  isDataError,
  type PgStatement,
  pgNamed,
  placeholders,
  returnedRows,
  rows,
  runSql,
  withReturnedRows,
} from '../database/sql.js';
import { TransactionRunner } from '../database/transaction.runner.js';
import type { SendResult } from '../interfaces/webhook-service.interface.js';
import { filtersMatching, matchesAnyFilter } from '../utils/event-types.js';

/** Delivery ids made ahead for one PostgreSQL send; most events reach fewer endpoints. */
export const DELIVERY_IDS_MADE = 4;

/**
 * Rows per delivery INSERT (6 parameters each): under SQLite's limit of 32,766 parameters per
 * statement and PostgreSQL's of 65,535, so a send to many endpoints is split, never refused.
 */
export const DELIVERY_ROWS_PER_INSERT = 5_000;

const INSERT_DELIVERIES =
  'INSERT INTO webhook_deliveries (id, message_id, endpoint_id, status, attempts, next_attempt_at, created_at, updated_at) VALUES';

/** A new delivery: id, message id, endpoint id. */
type DeliveryRow = readonly [string, string, string];

type MessageRow = Pick<WebhookMessage, 'id' | 'type' | 'customerId' | 'body' | 'createdAt'>;

/** An endpoint's filters as raw SQL reads them (`event_types` is simple-json: JSON text on both databases). */
function storedFilters(eventTypes: string | null): string[] | null {
  return eventTypes ? (JSON.parse(eventTypes) as string[]) : null;
}

/**
 * PostgreSQL `send()` without an idempotency key: the message, the endpoint match and the delivery
 * rows in one statement. Endpoints are matched by testing their filter list against every filter
 * that matches the type ({@link filtersMatching}), the same rule as {@link matchesAnyFilter}.
 * Delivery ids come from the few made in JavaScript ($7); past those (an event reaching many
 * endpoints) the database makes them in the same format from the same time prefix ($8).
 * Parameters: id, type, customer id, body, time (ms), matching filters, ids, id time prefix.
 */
export function pgSend(forCustomer: boolean): PgStatement {
  return forCustomer ? PG_SEND_CUSTOMER : PG_SEND_NO_CUSTOMER;
}
const pgSendText = (customer: string) => `WITH inserted AS (
    INSERT INTO webhook_messages (id, type, customer_id, idempotency_key, idempotency_scope, body, created_at)
    VALUES ($1, $2, $3, NULL, NULL, $4, $5)),
  matched AS (
    SELECT id, CAST(row_number() OVER (ORDER BY id) AS int) AS n FROM webhook_endpoints
    WHERE ${customer} AND enabled = TRUE
      AND (event_types IS NULL OR event_types = '[]' OR jsonb_exists_any(CAST(event_types AS jsonb), CAST($6 AS text[]))))
  INSERT INTO webhook_deliveries (id, message_id, endpoint_id, status, attempts, next_attempt_at, created_at, updated_at)
  SELECT COALESCE((CAST($7 AS varchar[]))[n], $8 || upper(substr(md5(random()::text || n::text), 1, 16))), $1, id, 'pending', 0, $5, $5, $5
  FROM matched ORDER BY n RETURNING id`;
const PG_SEND_CUSTOMER: PgStatement = { name: 'webhooks_send_customer_v1', text: pgSendText('customer_id = $3') };
const PG_SEND_NO_CUSTOMER: PgStatement = { name: 'webhooks_send_v1', text: pgSendText('customer_id IS NULL') };

/**
 * PostgreSQL: the sends of several callers (no key, no chosen endpoint) in one statement, so that
 * they share a round trip and a commit. Per message, the same rows as {@link pgSend}: endpoints of
 * its own customer only (two index-scannable branches, one of which its customer rules out), the
 * same filter test, ids made in JavaScript first ($7: {@link DELIVERY_IDS_MADE} per message).
 * Parameters, one array element per message: id, type, customer id, body, time (ms), matching
 * filters as a JSON array, id time prefix; then the made ids.
 */
const PG_SEND_MANY: PgStatement = {
  name: 'webhooks_send_many_v1',
  text: `WITH msgs AS (
    SELECT * FROM unnest(CAST($1 AS varchar[]), CAST($2 AS varchar[]), CAST($3 AS varchar[]), CAST($4 AS text[]),
      CAST($5 AS bigint[]), CAST($6 AS text[]), CAST($8 AS text[])) WITH ORDINALITY
      AS u(id, type, customer_id, body, created_at, filters, prefix, k)),
  inserted AS (
    INSERT INTO webhook_messages (id, type, customer_id, idempotency_key, idempotency_scope, body, created_at)
    SELECT id, type, customer_id, NULL, NULL, body, created_at FROM msgs),
  matched AS (
    SELECT m.k, m.id AS message_id, m.created_at, m.prefix, e.id AS endpoint_id,
      CAST(row_number() OVER (PARTITION BY m.k ORDER BY e.id) AS int) AS n
    FROM msgs m CROSS JOIN LATERAL (
      SELECT id, event_types FROM webhook_endpoints
        WHERE m.customer_id IS NOT NULL AND customer_id = m.customer_id AND enabled = TRUE
      UNION ALL
      SELECT id, event_types FROM webhook_endpoints
        WHERE m.customer_id IS NULL AND customer_id IS NULL AND enabled = TRUE) e
    WHERE e.event_types IS NULL OR e.event_types = '[]'
      OR jsonb_exists_any(CAST(e.event_types AS jsonb), ARRAY(SELECT jsonb_array_elements_text(CAST(m.filters AS jsonb)))))
  INSERT INTO webhook_deliveries (id, message_id, endpoint_id, status, attempts, next_attempt_at, created_at, updated_at)
  SELECT COALESCE(CASE WHEN n <= ${DELIVERY_IDS_MADE} THEN (CAST($7 AS varchar[]))[(k - 1) * ${DELIVERY_IDS_MADE} + n] END,
      prefix || upper(substr(md5(random()::text || k::text || '.' || n::text), 1, 16))),
    message_id, endpoint_id, 'pending', 0, created_at, created_at, created_at
  FROM matched ORDER BY k, n RETURNING message_id, id`,
};

/** Sends that one {@link PG_SEND_MANY} statement takes at most. */
const SENDS_PER_STATEMENT = 100;

/** The message row of a send, with a new id. */
function messageRow(
  msg: NewMessage,
): MessageRow & Pick<WebhookMessage, 'idempotencyKey' | 'idempotencyScope' | 'endpointId'> {
  return {
    id: newId('msg', msg.now.getTime()),
    type: msg.type,
    customerId: msg.customerId,
    idempotencyKey: msg.idempotencyKey,
    idempotencyScope: msg.scope,
    body: msg.body,
    createdAt: msg.now,
    endpointId: msg.endpointId,
  };
}

/** Messages deleted per statement by {@link MessageStore.prune} (with their deliveries and attempts). */
export const LOG_PRUNE_BATCH = 500;

/**
 * Messages created before a time whose every delivery succeeded (or that had none), oldest first;
 * deleting them cascades to their deliveries and attempts. The id range (ids start with their
 * creation time) lets the primary key find them without reading the whole table; each batch starts
 * after the last id the batch before deleted.
 */
const PRUNE_MESSAGES = `DELETE FROM webhook_messages WHERE id IN (SELECT m.id FROM webhook_messages m
  WHERE m.id > ? AND m.id < ? AND m.created_at < ?
  AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.message_id = m.id AND d.status <> 'succeeded')
  ORDER BY m.id LIMIT ?) RETURNING id`;

/** Deliveries deleted per statement before their endpoint goes (with their attempts). */
export const ENDPOINT_DELETE_BATCH = 1_000;

/**
 * Up to a batch of an endpoint's deliveries created at or after a time, oldest first, by the
 * endpoint's index; their attempts go with them (ON DELETE CASCADE). SQLite only.
 */
const DELETE_ENDPOINT_DELIVERIES = withReturnedRows(
  `DELETE FROM webhook_deliveries WHERE id IN
    (SELECT id FROM webhook_deliveries WHERE endpoint_id = ? AND created_at >= ? ORDER BY created_at LIMIT ?) RETURNING created_at`,
);

/**
 * A page of an endpoint's failed and discarded deliveries created at or after a time, after a
 * (created_at, id) cursor, in that order: the order of the endpoint's index, so that each page
 * reads its own rows, not every failed row of the endpoint since then, sorted by id.
 */
export const FAILED_OF_ENDPOINT = `SELECT id, created_at FROM webhook_deliveries
  WHERE endpoint_id = ? AND created_at >= ? AND (created_at > ? OR id > ?) AND status IN ('failed', 'discarded')
  ORDER BY created_at, id LIMIT ?`;

/**
 * A page of the customer's messages in a window with no delivery to an endpoint (`replayMissing`).
 * A message sent to one endpoint alone (a test event) is not one the others missed.
 * On SQLite the endpoint column is written `+d.endpoint_id`, which keeps SQLite off the endpoint
 * index: without statistics it would read every delivery of the endpoint for each message (a page
 * never ended at 85,000 deliveries of one endpoint), where the message's own index reads a few.
 */
export function missingMessagesSql(withoutCustomer: boolean, sqlite: boolean): string {
  return `SELECT m.id, m.type, m.created_at FROM webhook_messages m
    WHERE ${withoutCustomer ? 'm.customer_id IS NULL' : 'm.customer_id = ?'} AND m.created_at >= ? AND m.created_at < ? AND m.id > ?
      AND m.endpoint_id IS NULL
      AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.message_id = m.id AND ${sqlite ? '+' : ''}d.endpoint_id = ?)
    ORDER BY m.created_at, m.id LIMIT ${DELIVERY_ROWS_PER_INSERT}`;
}

const SQLITE_INSERT_MESSAGE = `INSERT INTO webhook_messages (id, type, customer_id, idempotency_key, idempotency_scope, body, created_at, endpoint_id) VALUES (${placeholders(8)})`;

/** An endpoint row as `WebhookService.replayMissing` reads it. */
export interface EndpointMatchRow {
  enabled: boolean | number;
  disabled_reason: string | null;
  customer_id: string | null;
  event_types: string | null;
}

/** A message to write, validated and serialised by `WebhookService.send`. */
export interface NewMessage {
  type: string;
  customerId: string | null;
  idempotencyKey: string | null;
  scope: string | null;
  body: string;
  now: Date;
  /** Only this endpoint of the customer, whatever its filters (a test event); null: every match. */
  endpointId: string | null;
}

/** The messages already written since a point, as {@link MessageStore.insertMissing} pages through them. */
export interface MissingPage {
  seen: { id: string; type: string; created_at: string | number }[];
  deliveryIds: string[];
}

/**
 * The send path's hand-written SQL: the message and its delivery rows (one named statement on
 * PostgreSQL), the deliveries an endpoint missed, and the pruning of the delivered log. Callers
 * give the transaction; `WebhookService` validates, and enqueues what committed.
 */
@Injectable()
export class MessageStore {
  /**
   * Sends outside a transaction (no key, no chosen endpoint), gathered over one event-loop turn:
   * the concurrent callers' messages share one commit (on PostgreSQL one statement too), each
   * caller still resolved only once its rows are committed.
   */
  private readonly together = new Batcher<NewMessage, SendResult>(
    (msgs) => (this.tx.isSqlite ? this.writeManySqlite(msgs) : this.writeManyPostgres(msgs.map(messageRow))),
    { max: SENDS_PER_STATEMENT, waitMs: 0, serial: true },
  );

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly tx: TransactionRunner,
  ) {}

  /** The endpoint's `enabled`, its row locked on PostgreSQL until `m` commits; undefined when there is none. */
  async lockEnabled(m: EntityManager, id: string): Promise<{ enabled: boolean | number } | undefined> {
    const sql = `SELECT enabled FROM webhook_endpoints WHERE id = ?${this.forUpdate}`;
    const [row] = await runSql<{ enabled: boolean | number }>(m, sql, [id]);
    return row;
  }

  /**
   * What a replay needs of the endpoint, its row locked on PostgreSQL until `m` commits, so that
   * concurrent replays of it take turns; undefined when there is none.
   */
  async lockEndpoint(m: EntityManager, endpointId: string): Promise<EndpointMatchRow | undefined> {
    const [ep] = await runSql<EndpointMatchRow>(
      m,
      `SELECT enabled, disabled_reason, customer_id, event_types FROM webhook_endpoints
           WHERE id = ?${this.forUpdate}`,
      [endpointId],
    );
    return ep;
  }

  /**
   * Up to {@link DELIVERY_ROWS_PER_INSERT} messages of the endpoint's customer created in
   * [`after`, `until`) with no delivery to it, and a pending delivery for each its filters match.
   */
  async insertMissing(
    m: EntityManager,
    endpointId: string,
    ep: EndpointMatchRow,
    after: { id: string; createdAt: number },
    until: Date | undefined,
  ): Promise<MissingPage> {
    const window = [after.createdAt, until?.getTime() ?? Number.MAX_SAFE_INTEGER, after.id];
    const messagesSeen = await runSql<{ id: string; type: string; created_at: string | number }>(
      m,
      missingMessagesSql(ep.customer_id === null, this.tx.isSqlite),
      [...(ep.customer_id === null ? [] : [ep.customer_id]), ...window, endpointId],
    );
    const filters = storedFilters(ep.event_types);
    const t = Date.now();
    const deliveries = messagesSeen
      .filter((msg) => matchesAnyFilter(filters, msg.type))
      .map((msg) => [newId('dlv', t), msg.id, endpointId] as const);
    await this.insertDeliveries(m, deliveries, t);
    return { seen: messagesSeen, deliveryIds: deliveries.map(([id]) => id) };
  }

  /**
   * On SQLite, deletes an endpoint's deliveries and their attempts, {@link ENDPOINT_DELETE_BATCH}
   * deliveries a statement, and resolves to how many went. better-sqlite3 runs a statement on the
   * event loop: one cascading delete of an endpoint with a long log blocked the app for seconds
   * (7 s for 85,000 deliveries on a 3.8 GB database); between batches other work goes on. Each
   * batch starts at the last one's newest delivery. On PostgreSQL the endpoint's own cascading
   * delete is left to do it: one statement that blocks nothing took half the time of the batches.
   */
  async deleteDeliveriesOf(endpointId: string): Promise<number> {
    if (!this.tx.isSqlite) return 0;
    const batch = async (after: number | null) =>
      returnedRows<{ created_at: string | number }>(
        await this.tx.write((m) =>
          m.query(DELETE_ENDPOINT_DELIVERIES, [endpointId, after ?? 0, ENDPOINT_DELETE_BATCH]),
        ),
      ).map((r) => Number(r.created_at));
    return deleteInBatches(ENDPOINT_DELETE_BATCH, batch);
  }

  /**
   * Up to `limit` of the endpoint's failed and discarded deliveries from `after` on (at first
   * `{ createdAt: since, id: '' }`), oldest first; pass the last one's key as the next `after`.
   */
  async failedOf(
    endpointId: string,
    after: { createdAt: number; id: string },
    limit: number,
  ): Promise<{ createdAt: number; id: string }[]> {
    const rows = await this.dataSource.query(forDriver(FAILED_OF_ENDPOINT, this.tx.isSqlite), [
      endpointId,
      after.createdAt,
      after.createdAt,
      after.id,
      limit,
    ]);
    return (rows as { id: string; created_at: string | number }[]).map((r) => ({
      id: r.id,
      createdAt: Number(r.created_at),
    }));
  }

  /** Deletes fully delivered messages created before `olderThan`, in batches; see `WebhookService.prune`. */
  async prune(olderThan: Date, signal?: AbortSignal): Promise<number> {
    const before = pruneCutoff(olderThan);
    const sql = this.tx.isSqlite ? withReturnedRows(PRUNE_MESSAGES) : forDriver(PRUNE_MESSAGES, false);
    const batch = async (after: string | null) =>
      returnedRows<{ id: string }>(
        await this.tx.write((m) => m.query(sql, [after ?? '', idTimePrefix('msg', before), before, LOG_PRUNE_BATCH])),
      ).map((r) => r.id);
    return deleteInBatches(LOG_PRUNE_BATCH, batch, signal);
  }

  /**
   * {@link write} in a transaction of its own, or, for a send without a key or a chosen endpoint,
   * in one shared with the concurrent callers' ({@link together}). On PostgreSQL such a send is
   * one statement, atomic by itself, run without BEGIN and COMMIT round trips.
   */
  async writeAlone(msg: NewMessage): Promise<SendResult> {
    if (!this.dataSource.isInitialized) return this.tx.refuseClosed();
    if (msg.scope === null && msg.endpointId === null) return this.together.add(msg);
    return this.tx.run((m) => this.write(m, msg));
  }

  /** Writes the message and a pending delivery for each matching endpoint, in `m`'s transaction. */
  async write(m: EntityManager, msg: NewMessage): Promise<SendResult> {
    const { scope } = msg;
    const row = messageRow(msg);
    const messageId = row.id;
    const only = msg.endpointId === null ? '' : ' AND id = ?';
    const endpointsSql =
      msg.customerId === null
        ? `SELECT id, event_types FROM webhook_endpoints WHERE customer_id IS NULL AND enabled = TRUE${only}`
        : `SELECT id, event_types FROM webhook_endpoints WHERE customer_id = ? AND enabled = TRUE${only}`;
    const endpointsParams = [
      ...(msg.customerId === null ? [] : [msg.customerId]),
      ...(msg.endpointId === null ? [] : [msg.endpointId]),
    ];
    let endpoints: { id: string; event_types: string | null }[];
    if (scope !== null) {
      // ON CONFLICT DO NOTHING: a concurrent twin neither fails nor aborts the caller's transaction.
      await m.createQueryBuilder().insert().into(WebhookMessage).values(row).orIgnore().execute();
      const first = await m.findOne(WebhookMessage, { select: { id: true }, where: { idempotencyScope: scope } });
      if (first && first.id !== messageId) {
        const deliveries = await m.find(WebhookDelivery, {
          select: { id: true },
          where: { messageId: first.id },
          order: { id: 'ASC' },
        });
        return { messageId: first.id, deliveryIds: deliveries.map((d) => d.id), created: false };
      }
      endpoints = await runSql(m, endpointsSql, endpointsParams);
    } else {
      // Parametrised SQL, not m.insert: no read-back of defaulted columns, and a statement text
      // that SQLite prepares once (TypeORM writes numbers into the text).
      if (!this.tx.isSqlite && msg.endpointId === null) return this.writePostgres(m, row);
      await runSql(m, SQLITE_INSERT_MESSAGE, [
        row.id,
        row.type,
        row.customerId,
        row.idempotencyKey,
        row.idempotencyScope,
        row.body,
        msg.now.getTime(),
        row.endpointId,
      ]);
      endpoints = await runSql(m, endpointsSql, endpointsParams);
    }
    const t = msg.now.getTime();
    const ids = endpoints
      .filter((e) => msg.endpointId !== null || matchesAnyFilter(storedFilters(e.event_types), msg.type))
      .map((e) => [newId('dlv', t), messageId, e.id] as const);
    await this.insertDeliveries(m, ids, t);
    return { messageId, deliveryIds: ids.map(([id]) => id), created: true };
  }

  /**
   * Pending delivery rows `[id, messageId, endpointId]` created at `t`: one statement as a rule,
   * several (in the caller's transaction) when the rows would exceed the drivers' parameter limits.
   */
  private async insertDeliveries(m: EntityManager, deliveries: readonly DeliveryRow[], t: number): Promise<void> {
    if (deliveries.length === 0) return;
    for (const run of chunks(deliveries, DELIVERY_ROWS_PER_INSERT)) {
      await runSql(
        m,
        `${INSERT_DELIVERIES} ${rows(run.length, "(?, ?, ?, 'pending', 0, ?, ?, ?)")}`,
        run.flatMap(([id, messageId, endpointId]) => [id, messageId, endpointId, t, t, t]),
      );
    }
  }

  /**
   * PostgreSQL: the message, the endpoint match and the delivery rows in one named statement, one
   * round trip inside the caller's transaction (see {@link pgSend}).
   */
  private async writePostgres(m: EntityManager, row: MessageRow): Promise<SendResult> {
    const t = row.createdAt.getTime();
    const made = Array.from({ length: DELIVERY_IDS_MADE }, () => newId('dlv', t));
    const runner = m.queryRunner ?? this.dataSource.createQueryRunner();
    try {
      const created = await pgNamed<{ id: string }>(runner, pgSend(row.customerId !== null), [
        row.id,
        row.type,
        row.customerId,
        row.body,
        t,
        filtersMatching(row.type),
        made,
        idTimePrefix('dlv', t),
      ]);
      return { messageId: row.id, deliveryIds: created.map((r) => r.id), created: true };
    } finally {
      if (runner !== m.queryRunner) await runner.release();
    }
  }

  /**
   * SQLite: the sends of {@link together}'s batch in one transaction, or each in a transaction of
   * its own when the database refused the batch for what one of them holds, so that it alone fails.
   */
  private async writeManySqlite(msgs: NewMessage[]): Promise<(SendResult | Error)[]> {
    const each = (msg: NewMessage) => this.tx.run((m) => this.write(m, msg));
    if (msgs.length === 1) return [await each(msgs[0])];
    try {
      return await this.tx.run(async (m) => {
        const results: SendResult[] = [];
        for (const msg of msgs) results.push(await this.write(m, msg));
        return results;
      });
    } catch (err) {
      if (!isDataError(err)) throw err;
      return Promise.all(msgs.map((msg) => each(msg).catch((e: Error) => e)));
    }
  }

  /**
   * PostgreSQL: the sends of {@link together}'s batch in one statement, or each in a statement of
   * its own when the database refused the batch for what one of them holds, so that it alone fails.
   */
  private async writeManyPostgres(rows: MessageRow[]): Promise<(SendResult | Error)[]> {
    const own = this.dataSource.manager;
    if (rows.length === 1) return [await this.writePostgres(own, rows[0])];
    let created: { message_id: string; id: string }[];
    try {
      created = await this.borrowedNamed<{ message_id: string; id: string }>(PG_SEND_MANY, [
        rows.map((r) => r.id),
        rows.map((r) => r.type),
        rows.map((r) => r.customerId),
        rows.map((r) => r.body),
        rows.map((r) => r.createdAt.getTime()),
        rows.map((r) => JSON.stringify(filtersMatching(r.type))),
        rows.flatMap((r) => Array.from({ length: DELIVERY_IDS_MADE }, () => newId('dlv', r.createdAt.getTime()))),
        rows.map((r) => idTimePrefix('dlv', r.createdAt.getTime())),
      ]);
    } catch (err) {
      if (!isDataError(err)) throw err;
      return Promise.all(rows.map((r) => this.writePostgres(own, r).catch((e: Error) => e)));
    }
    const ids = new Map<string, string[]>(rows.map((r) => [r.id, []]));
    for (const { message_id, id } of created) ids.get(message_id)!.push(id);
    return rows.map((r) => ({ messageId: r.id, deliveryIds: ids.get(r.id)!, created: true }));
  }

  /** A named statement on a connection of its own, borrowed through a query runner. */
  private async borrowedNamed<R>(statement: PgStatement, values: unknown[]): Promise<R[]> {
    const runner = this.dataSource.createQueryRunner();
    try {
      return await pgNamed<R>(runner, statement, values);
    } finally {
      await runner.release();
    }
  }

  /** ` FOR UPDATE` where row locks exist; on SQLite the {@link TransactionRunner} serialises writes instead. */
  private get forUpdate(): string {
    return this.tx.isSqlite ? '' : ' FOR UPDATE';
  }
}
