import { InjectQueue } from '@nestjs/bull';
import { Inject, Injectable, Logger } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { Queue } from 'bull';
import {
  type DataSource,
  type EntityManager,
  In,
  IsNull,
  MoreThanOrEqual,
  type ObjectLiteral,
  type QueryDeepPartialEntity,
  type Repository,
} from 'typeorm';
import { WebhookAttempt } from '../database/entities/webhook-attempt.entity.js';
import { WebhookDelivery } from '../database/entities/webhook-delivery.entity.js';
import { WebhookEndpoint } from '../database/entities/webhook-endpoint.entity.js';
import { WebhookMessage } from '../database/entities/webhook-message.entity.js';
import { WebhookValidationError } from '../errors/webhook-validation.error.js';
import { filtersMatching, isValidEventType, matchesAnyFilter } from '../utils/event-types.js';
import { idTimePrefix, newId } from '../database/ids.js';
import type {
  CreateEndpointInput,
  ListDeliveriesOptions,
  ListEndpointsOptions,
  ListMessagesOptions,
  Page,
  PageOptions,
  RecoverFailedOptions,
  ReplayMissingOptions,
  SendOptions,
  SendResult,
  UpdateEndpointInput,
} from '../interfaces/webhook-service.interface.js';
import type { ResolvedWebhooksOptions } from '../interfaces/webhooks-options.interface.js';
import { findPage } from '../database/pagination.js';
import { deleteInBatches, pruneCutoff } from '../database/prune.js';
import { generateSecret } from '../signing/standard-webhooks.js';
import { TransactionRunner } from '../database/transaction.runner.js';
import { WebhookEvents } from '../webhook.events.js';
import { WEBHOOKS_OPTIONS, WEBHOOKS_QUEUE } from '../webhooks.constants.js';
import { messages } from '../webhooks.messages.js';
import { idempotencyScope, validateFilters, validateHeaders, validateKey, validateSecret, validateUrl } from './endpoint.validation.js';
import { OutboxRelay } from './outbox.relay.js';
import { chunks, forDriver, placeholders, pgNamed, type PgStatement, returnedRows, rows, runSql, withReturnedRows } from '../database/sql.js';
import { CommitHook } from './commit.hook.js';
import { WebhookNotFoundError } from '../errors/webhook-not-found.error.js';
import { RedisStalledError } from '../errors/redis-stalled.error.js';

/** Delivery ids made ahead for one PostgreSQL send; most events reach fewer endpoints. */
const DELIVERY_IDS_MADE = 4;

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
function pgSend(forCustomer: boolean): PgStatement {
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

/** Messages deleted per statement by {@link WebhookService.prune} (with their deliveries and attempts). */
export const LOG_PRUNE_BATCH = 500;

/**
 * Messages created before a time whose every delivery succeeded (or that had none), oldest first;
 * deleting them cascades to their deliveries and attempts. The id range (ids start with their
 * creation time) lets the primary key find them without reading the whole table.
 */
const PRUNE_MESSAGES = `DELETE FROM webhook_messages WHERE id IN (SELECT m.id FROM webhook_messages m
  WHERE m.id < ? AND m.created_at < ?
  AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.message_id = m.id AND d.status <> 'succeeded')
  ORDER BY m.id LIMIT ?) RETURNING id`;

const SQLITE_INSERT_MESSAGE = `INSERT INTO webhook_messages (id, type, customer_id, idempotency_key, idempotency_scope, body, created_at) VALUES (${placeholders(7)})`;

function isValidDate(value: unknown): value is Date {
  return value instanceof Date && !Number.isNaN(value.getTime());
}

/** The refusal of an operation on a disabled endpoint's deliveries. */
function endpointDisabled(field: string, id: string, reason: string | null, doing: string): WebhookValidationError {
  const message = `Endpoint ${id} is disabled (${reason}); re-enable it with updateEndpoint before ${doing}.`;
  return new WebhookValidationError(field, message);
}

/** An endpoint row as {@link WebhookService.replayMissing} reads it. */
interface EndpointMatchRow {
  enabled: boolean | number;
  disabled_reason: string | null;
  customer_id: string | null;
  event_types: string | null;
}

/**
 * The module's API: send events (transactionally when given a manager), manage endpoints,
 * read the delivery log and replay deliveries.
 * @publicApi
 */
@Injectable()
export class WebhookService {
  private readonly logger = new Logger(WebhookService.name);

  constructor(
    @Inject(WEBHOOKS_OPTIONS) private readonly options: ResolvedWebhooksOptions,
    @InjectDataSource() private readonly dataSource: DataSource,
    @InjectQueue(WEBHOOKS_QUEUE) private readonly queue: Queue,
    private readonly tx: TransactionRunner,
    private readonly outbox: OutboxRelay,
    private readonly commitHook: CommitHook,
    private readonly events: WebhookEvents,
  ) {}

  /**
   * Records `type` with `data` for every matching endpoint of the customer and enqueues the
   * deliveries. With `manager` inside a transaction, the rows commit or roll back with it and the
   * jobs are enqueued only after the real commit. Throws {@link WebhookValidationError} for a bad
   * type or payload, writing nothing.
   * @example
   * ```ts
   * await dataSource.transaction(async (manager) => {
   *   await manager.save(order);
   *   await this.webhooks.send('order.completed', { order_id: order.id }, { customerId, manager });
   * });
   * ```
   */
  async send(type: string, data: unknown, opts: SendOptions = {}): Promise<SendResult> {
    if (!isValidEventType(type)) throw new WebhookValidationError('type', messages.invalidEventType(type));
    const customerId = validateKey('customerId', opts.customerId);
    const idempotencyKey = validateKey('idempotencyKey', opts.idempotencyKey);
    const scope = idempotencyScope(customerId, idempotencyKey);
    const now = new Date();
    const body = this.serialise(type, data, now);

    const write = (m: EntityManager) => this.writeMessage(m, { type, customerId, idempotencyKey, scope, body, now });
    const runner = opts.manager?.queryRunner;
    if (runner?.isTransactionActive) {
      const result = await write(opts.manager!);
      if (result.created) this.commitHook.hold(runner, result.deliveryIds);
      return result;
    }
    const result = opts.manager ? await opts.manager.transaction(write) : await this.tx.run(write);
    if (result.created) await this.enqueueQuietly(result.deliveryIds);
    return result;
  }

  /**
   * Creates an endpoint; its `whsec_` secret is generated when not given.
   * @example
   * ```ts
   * const endpoint = await webhooks.createEndpoint({ url: 'https://hooks.example.com/orders', eventTypes: ['order.*'] });
   * // hand endpoint.secret to the subscriber: it verifies the signatures with it
   * ```
   */
  async createEndpoint(input: CreateEndpointInput): Promise<WebhookEndpoint> {
    const now = new Date();
    const endpoint = this.repo(WebhookEndpoint).create({
      id: newId('ep'),
      url: validateUrl(input.url, this.options.outbound.network.httpsOnly),
      eventTypes: validateFilters(input.eventTypes),
      customerId: validateKey('customerId', input.customerId),
      secret: input.secret === undefined ? generateSecret() : validateSecret(input.secret),
      previousSecret: null,
      previousSecretExpiresAt: null,
      headers: validateHeaders(input.headers),
      description: input.description ?? null,
      enabled: input.enabled ?? true,
      disabledReason: null,
      failingSince: null,
      consecutiveFailures: 0,
      createdAt: now,
      updatedAt: now,
    });
    await this.tx.write((m) => m.insert(WebhookEndpoint, endpoint));
    return endpoint;
  }

  /**
   * Changes an endpoint. `enabled: true` on a disabled endpoint re-enables it and resets its health.
   * Only the given fields are written, so a worker's write meanwhile (a 410 disabling the endpoint,
   * a failure count) is kept; resolves to the endpoint as it is after the write.
   */
  async updateEndpoint(id: string, patch: UpdateEndpointInput): Promise<WebhookEndpoint> {
    const set: QueryDeepPartialEntity<WebhookEndpoint> = { updatedAt: new Date() };
    if (patch.url !== undefined) set.url = validateUrl(patch.url, this.options.outbound.network.httpsOnly);
    if (patch.eventTypes !== undefined) set.eventTypes = validateFilters(patch.eventTypes);
    if (patch.customerId !== undefined) set.customerId = validateKey('customerId', patch.customerId);
    if (patch.headers !== undefined) set.headers = validateHeaders(patch.headers);
    if (patch.description !== undefined) set.description = patch.description;
    if (patch.enabled !== undefined && typeof patch.enabled !== 'boolean') {
      throw new WebhookValidationError('enabled', 'enabled must be true or false.');
    }
    if (patch.enabled === false) {
      Object.assign(set, { enabled: false, disabledReason: () => "COALESCE(disabled_reason, 'disabled by the app')" });
    }
    let reenabled = false;
    if (patch.enabled === true) {
      Object.assign(set, { enabled: true, disabledReason: null, failingSince: null, consecutiveFailures: 0 });
      // Read and written in one transaction (the row locked on PostgreSQL), so 'endpoint.enabled'
      // is emitted exactly when this call turned a disabled endpoint on.
      reenabled = await this.tx.run(async (m) => {
        const sql = `SELECT enabled FROM webhook_endpoints WHERE id = ?${this.forUpdate}`;
        const [row] = await runSql<{ enabled: boolean | number }>(m, sql, [id]);
        if (row) await this.updateById(m, WebhookEndpoint, 'endpoint', id, set);
        return row !== undefined && !row.enabled;
      });
    } else {
      await this.tx.write((m) => this.updateById(m, WebhookEndpoint, 'endpoint', id, set));
    }
    const endpoint = await this.getEndpoint(id);
    if (reenabled) this.events.emit('endpoint.enabled', { endpointId: id, customerId: endpoint.customerId });
    return endpoint;
  }

  /** Deletes an endpoint with its deliveries and attempts. */
  async deleteEndpoint(id: string): Promise<void> {
    const result = await this.tx.write((m) => m.delete(WebhookEndpoint, { id }));
    if (!result.affected) throw new WebhookNotFoundError(messages.notFound('endpoint', id));
  }

  /** One endpoint, or {@link WebhookNotFoundError}. */
  async getEndpoint(id: string): Promise<WebhookEndpoint> {
    return this.findOrThrow(WebhookEndpoint, 'endpoint', id);
  }

  /** Endpoints, newest first; `customerId: null` lists endpoints without a customer. */
  async listEndpoints(opts: ListEndpointsOptions = {}): Promise<Page<WebhookEndpoint>> {
    const where = opts.customerId === undefined ? {} : { customerId: opts.customerId ?? IsNull() };
    return this.page(WebhookEndpoint, where, opts);
  }

  /**
   * Replaces the signing secret. The old one keeps signing alongside for `graceSeconds`, so
   * receivers can switch without rejecting anything. Writes only the secret columns.
   */
  async rotateEndpointSecret(id: string, opts: { graceSeconds?: number; secret?: string } = {}): Promise<WebhookEndpoint> {
    const grace = opts.graceSeconds ?? 86_400;
    if (!Number.isSafeInteger(grace) || grace < 0) throw new WebhookValidationError('graceSeconds', 'graceSeconds must be an integer >= 0.');
    const next = opts.secret === undefined ? generateSecret() : validateSecret(opts.secret);
    const now = Date.now();
    // The current secret moves to previous_secret within the statement: no read, nothing else written.
    await this.tx.write((m) =>
      this.updateById(m, WebhookEndpoint, 'endpoint', id, {
        previousSecret: grace > 0 ? () => 'secret' : null,
        previousSecretExpiresAt: grace > 0 ? new Date(now + grace * 1000) : null,
        secret: next,
        updatedAt: new Date(now),
      }),
    );
    return this.getEndpoint(id);
  }

  /** Messages, newest first. */
  async listMessages(opts: ListMessagesOptions = {}): Promise<Page<WebhookMessage>> {
    const where: ObjectLiteral = {};
    if (opts.customerId !== undefined) where.customerId = opts.customerId ?? IsNull();
    if (opts.type !== undefined) where.type = opts.type;
    return this.page(WebhookMessage, where, opts);
  }

  /** One message, or {@link WebhookNotFoundError}. */
  async getMessage(id: string): Promise<WebhookMessage> {
    return this.findOrThrow(WebhookMessage, 'message', id);
  }

  /** One delivery, or {@link WebhookNotFoundError}. */
  async getDelivery(id: string): Promise<WebhookDelivery> {
    return this.findOrThrow(WebhookDelivery, 'delivery', id);
  }

  /** Deliveries of a message, of an endpoint, or in a status; newest first. */
  async listDeliveries(opts: ListDeliveriesOptions = {}): Promise<Page<WebhookDelivery>> {
    const where: ObjectLiteral = {};
    if (opts.messageId !== undefined) where.messageId = opts.messageId;
    if (opts.endpointId !== undefined) where.endpointId = opts.endpointId;
    if (opts.status !== undefined) where.status = opts.status;
    return this.page(WebhookDelivery, where, opts);
  }

  /** Attempts of a delivery, newest first. */
  async listAttempts(deliveryId: string, opts: PageOptions = {}): Promise<Page<WebhookAttempt>> {
    return this.page(WebhookAttempt, { deliveryId }, opts);
  }

  /**
   * Sends a delivery again now, whatever its state, with a fresh schedule; the attempt is
   * logged as `manual`. Refused while its endpoint is disabled (re-enable it first). Writes only
   * the schedule columns: the attempt count and last result stay as the worker left them.
   */
  async redeliver(deliveryId: string): Promise<WebhookDelivery> {
    const delivery = await this.findOrThrow(WebhookDelivery, 'delivery', deliveryId);
    const endpoint = await this.getEndpoint(delivery.endpointId);
    if (!endpoint.enabled) throw endpointDisabled('deliveryId', endpoint.id, endpoint.disabledReason, 'redelivering');
    const job = await this.queue.getJob(deliveryId);
    if (job && (await job.isActive())) {
      throw new WebhookValidationError('deliveryId', `Delivery ${deliveryId} is being attempted right now.`);
    }
    await job?.remove();
    const now = new Date();
    const schedule = { status: 'pending' as const, nextAttemptAt: now, enqueuedAt: null, updatedAt: now };
    await this.tx.write((m) => this.updateById(m, WebhookDelivery, 'delivery', deliveryId, schedule));
    const redelivered = await this.getDelivery(deliveryId);
    await this.outbox.enqueue([deliveryId], 'manual');
    return redelivered;
  }

  /** Redelivers an endpoint's failed and discarded deliveries created since `since`. */
  async recoverFailed(opts: RecoverFailedOptions): Promise<{ deliveryIds: string[] }> {
    if (!isValidDate(opts.since)) throw new WebhookValidationError('since', 'since must be a valid Date.');
    await this.getEndpoint(opts.endpointId);
    const rows = await this.repo(WebhookDelivery).find({
      select: { id: true },
      where: { endpointId: opts.endpointId, status: In(['failed', 'discarded']), createdAt: MoreThanOrEqual(opts.since) },
      order: { id: 'ASC' },
    });
    for (const { id } of rows) await this.redeliver(id);
    return { deliveryIds: rows.map((r) => r.id) };
  }

  /**
   * Creates the deliveries an endpoint missed in [`since`, `until`): one for every message of its
   * customer whose type its filters match and that has no delivery to it (sent while it was
   * disabled, or before it existed). Written in batches of {@link DELIVERY_ROWS_PER_INSERT}
   * messages, each its own transaction, and enqueued like `send`'s; a second call creates nothing
   * more. Refused while the endpoint is disabled (re-enable it first).
   */
  async replayMissing(opts: ReplayMissingOptions): Promise<{ deliveryIds: string[] }> {
    const { endpointId, since, until } = opts ?? ({} as ReplayMissingOptions);
    if (typeof endpointId !== 'string' || endpointId === '') {
      throw new WebhookValidationError('endpointId', 'endpointId must be an endpoint id.');
    }
    if (!isValidDate(since)) throw new WebhookValidationError('since', 'since must be a valid Date.');
    if (until !== undefined && !(isValidDate(until) && until.getTime() > since.getTime())) {
      throw new WebhookValidationError('until', 'until must be a valid Date after since, or left out.');
    }
    const created: string[] = [];
    // Pages in message id order, which is creation order: created_at moves the index scan on.
    let after = { id: '', createdAt: since.getTime() };
    for (;;) {
      const page = await this.tx.run(async (m) => {
        // Checked in each page's transaction (the row locked on PostgreSQL): no deliveries are
        // created once the endpoint is disabled, and concurrent replays of it take turns.
        const [ep] = await runSql<EndpointMatchRow>(
          m,
          `SELECT enabled, disabled_reason, customer_id, event_types FROM webhook_endpoints
           WHERE id = ?${this.forUpdate}`,
          [endpointId],
        );
        if (!ep) throw new WebhookNotFoundError(messages.notFound('endpoint', endpointId));
        if (!ep.enabled) throw endpointDisabled('endpointId', endpointId, ep.disabled_reason, 'replaying');
        const customer = ep.customer_id === null ? 'm.customer_id IS NULL' : 'm.customer_id = ?';
        const window = [after.createdAt, until?.getTime() ?? Number.MAX_SAFE_INTEGER, after.id];
        const messagesSeen = await runSql<{ id: string; type: string; created_at: string | number }>(
          m,
          `SELECT m.id, m.type, m.created_at FROM webhook_messages m
           WHERE ${customer} AND m.created_at >= ? AND m.created_at < ? AND m.id > ?
             AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.message_id = m.id AND d.endpoint_id = ?)
           ORDER BY m.created_at, m.id LIMIT ${DELIVERY_ROWS_PER_INSERT}`,
          [...(ep.customer_id === null ? [] : [ep.customer_id]), ...window, endpointId],
        );
        const filters = storedFilters(ep.event_types);
        const t = Date.now();
        const deliveries = messagesSeen
          .filter((msg) => matchesAnyFilter(filters, msg.type))
          .map((msg) => [newId('dlv', t), msg.id, endpointId] as const);
        await this.insertDeliveries(m, deliveries, t);
        return { seen: messagesSeen, deliveryIds: deliveries.map(([id]) => id) };
      });
      created.push(...page.deliveryIds);
      await this.enqueueQuietly(page.deliveryIds);
      if (page.seen.length < DELIVERY_ROWS_PER_INSERT) break;
      const last = page.seen[page.seen.length - 1];
      after = { id: last.id, createdAt: Number(last.created_at) };
    }
    return { deliveryIds: created };
  }

  /**
   * Deletes the log of fully delivered messages created before `olderThan`: each message whose
   * every delivery succeeded (or that had none), with its deliveries and attempts, in batches of
   * {@link LOG_PRUNE_BATCH} (each its own transaction). Messages with a pending, failed or
   * discarded delivery are kept. Resolves to the number of messages deleted. The module runs this
   * daily with `outbound.retentionMs`; `signal` stops it between batches.
   */
  async prune(olderThan: Date, options: { signal?: AbortSignal } = {}): Promise<number> {
    const before = pruneCutoff(olderThan);
    const sql = this.tx.isSqlite ? withReturnedRows(PRUNE_MESSAGES) : forDriver(PRUNE_MESSAGES, false);
    const batch = async () => returnedRows(await this.tx.write((m) => m.query(sql, [idTimePrefix('msg', before), before, LOG_PRUNE_BATCH]))).length;
    return deleteInBatches(LOG_PRUNE_BATCH, batch, options.signal);
  }


  private serialise(type: string, data: unknown, now: Date): string {
    let json: string | undefined;
    try {
      json = JSON.stringify(data);
    } catch (err) {
      throw new WebhookValidationError('data', messages.payloadNotSerialisable((err as Error).message));
    }
    if (json === undefined) throw new WebhookValidationError('data', messages.payloadNotSerialisable(`${typeof data} has no JSON form`));
    const bytes = Buffer.byteLength(json);
    if (bytes > this.options.outbound.maxPayloadBytes) {
      throw new WebhookValidationError('data', messages.payloadTooLarge(bytes, this.options.outbound.maxPayloadBytes));
    }
    // Built once and stored: every attempt to every endpoint sends these exact bytes.
    return `{"type":${JSON.stringify(type)},"timestamp":${JSON.stringify(now.toISOString())},"data":${json}}`;
  }

  private async writeMessage(
    m: EntityManager,
    msg: { type: string; customerId: string | null; idempotencyKey: string | null; scope: string | null; body: string; now: Date },
  ): Promise<SendResult> {
    const { scope } = msg;
    const messageId = newId('msg', msg.now.getTime());
    const row = { id: messageId, type: msg.type, customerId: msg.customerId, idempotencyKey: msg.idempotencyKey, idempotencyScope: scope, body: msg.body, createdAt: msg.now };
    const endpointsSql = msg.customerId === null
      ? 'SELECT id, event_types FROM webhook_endpoints WHERE customer_id IS NULL AND enabled = TRUE'
      : 'SELECT id, event_types FROM webhook_endpoints WHERE customer_id = ? AND enabled = TRUE';
    const endpointsParams = msg.customerId === null ? [] : [msg.customerId];
    let endpoints: { id: string; event_types: string | null }[];
    if (scope !== null) {
      // ON CONFLICT DO NOTHING: a concurrent twin neither fails nor aborts the caller's transaction.
      await m.createQueryBuilder().insert().into(WebhookMessage).values(row).orIgnore().execute();
      const first = await m.findOne(WebhookMessage, { select: { id: true }, where: { idempotencyScope: scope } });
      if (first && first.id !== messageId) {
        const deliveries = await m.find(WebhookDelivery, { select: { id: true }, where: { messageId: first.id }, order: { id: 'ASC' } });
        return { messageId: first.id, deliveryIds: deliveries.map((d) => d.id), created: false };
      }
      endpoints = await runSql(m, endpointsSql, endpointsParams);
    } else {
      // Parametrised SQL, not m.insert: no read-back of defaulted columns, and a statement text
      // that SQLite prepares once (TypeORM writes numbers into the text).
      if (!this.tx.isSqlite) return this.writeMessagePostgres(m, row);
      await runSql(
        m,
        SQLITE_INSERT_MESSAGE,
        [row.id, row.type, row.customerId, row.idempotencyKey, row.idempotencyScope, row.body, msg.now.getTime()],
      );
      endpoints = await runSql(m, endpointsSql, endpointsParams);
    }
    const t = msg.now.getTime();
    const ids = endpoints
      .filter((e) => matchesAnyFilter(storedFilters(e.event_types), msg.type))
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
  private async writeMessagePostgres(m: EntityManager, row: MessageRow): Promise<SendResult> {
    const t = row.createdAt.getTime();
    const made = Array.from({ length: DELIVERY_IDS_MADE }, () => newId('dlv', t));
    const runner = m.queryRunner ?? this.dataSource.createQueryRunner();
    try {
      const created = await pgNamed<{ id: string }>(runner, pgSend(row.customerId !== null), [
        row.id, row.type, row.customerId, row.body, t,
        filtersMatching(row.type), made, idTimePrefix('dlv', t),
      ]);
      return { messageId: row.id, deliveryIds: created.map((r) => r.id), created: true };
    } finally {
      if (runner !== m.queryRunner) await runner.release();
    }
  }

  private async enqueueQuietly(ids: string[]): Promise<void> {
    try {
      await this.outbox.enqueue(ids);
    } catch (err) {
      // The rows are committed; the relay enqueues them once Redis answers. A known stall was
      // reported once, when it was found.
      if (err instanceof RedisStalledError) return;
      this.logger.warn(`Enqueue failed (${(err as Error).message}); the relay will pick up ${ids.length} deliveries.`);
    }
  }

  /** ` FOR UPDATE` where row locks exist; on SQLite the {@link TransactionRunner} serialises writes instead. */
  private get forUpdate(): string {
    return this.tx.isSqlite ? '' : ' FOR UPDATE';
  }

  /**
   * Writes only the columns in `set` of one row: a whole-row save would put back what a worker
   * wrote after the row was read. {@link WebhookNotFoundError} when there is no such row.
   */
  private async updateById<T extends ObjectLiteral>(
    m: EntityManager,
    entity: new () => T,
    kind: string,
    id: string,
    set: QueryDeepPartialEntity<T>,
  ): Promise<void> {
    if (typeof id !== 'string') throw new WebhookNotFoundError(messages.notFound(kind, String(id)));
    const result = await m.createQueryBuilder().update(entity).set(set).where('id = :id', { id }).execute();
    if (!result.affected) throw new WebhookNotFoundError(messages.notFound(kind, id));
  }

  private repo<T extends ObjectLiteral>(entity: new () => T): Repository<T> {
    return this.dataSource.getRepository(entity);
  }

  private async findOrThrow<T extends { id: string }>(entity: new () => T, kind: string, id: string): Promise<T> {
    const found = typeof id === 'string' ? await this.repo(entity).findOneBy({ id } as never) : null;
    if (!found) throw new WebhookNotFoundError(messages.notFound(kind, String(id)));
    return found;
  }

  private page<T extends { id: string }>(entity: new () => T, where: ObjectLiteral, opts: PageOptions): Promise<Page<T>> {
    return findPage(this.repo(entity), where, opts);
  }
}
