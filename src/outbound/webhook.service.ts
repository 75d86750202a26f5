import { InjectQueue } from '@nestjs/bull';
import { Inject, Injectable, Logger } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { Queue } from 'bull';
import { type DataSource, type EntityManager, In, IsNull, MoreThanOrEqual, type ObjectLiteral, type Repository } from 'typeorm';
import { WebhookAttempt } from '../entities/webhook-attempt.entity.js';
import { WebhookDelivery } from '../entities/webhook-delivery.entity.js';
import { WebhookEndpoint } from '../entities/webhook-endpoint.entity.js';
import { WebhookMessage } from '../entities/webhook-message.entity.js';
import { WebhookNotFoundError, WebhookValidationError } from '../errors/webhook-validation.error.js';
import { filtersMatching, isValidEventType, matchesAnyFilter } from '../event-types.js';
import { idTimePrefix, newId } from '../ids.js';
import type {
  CreateEndpointInput,
  ListDeliveriesOptions,
  ListEndpointsOptions,
  ListMessagesOptions,
  Page,
  PageOptions,
  RecoverFailedOptions,
  SendOptions,
  SendResult,
  UpdateEndpointInput,
} from '../interfaces/webhook-service.interface.js';
import type { ResolvedWebhooksOptions } from '../interfaces/webhooks-options.interface.js';
import { findPage } from '../pagination.js';
import { deleteInBatches, pruneCutoff } from '../prune.js';
import { generateSecret } from '../signing/standard-webhooks.js';
import { TransactionRunner } from '../transaction.runner.js';
import { WebhookEvents } from '../webhook.events.js';
import { WEBHOOKS_OPTIONS, WEBHOOKS_QUEUE } from '../webhooks.constants.js';
import { messages } from '../webhooks.messages.js';
import { validateFilters, validateHeaders, validateKey, validateSecret, validateUrl } from './endpoint.validation.js';
import { OutboxService } from './outbox.service.js';
import { RedisStalledError } from './redis.breaker.js';
import { forDriver, marks, pgNamed, type PgStatement, returnedRows, rows, runSql, withReturnedRows } from './sql.js';
import { TransactionOutbox } from './transaction.outbox.js';

/** Delivery ids made ahead for one PostgreSQL send; most events reach fewer endpoints. */
const DELIVERY_IDS_MADE = 4;

type MessageRow = Pick<WebhookMessage, 'id' | 'type' | 'customerId' | 'body' | 'createdAt'>;

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

const SQLITE_INSERT_MESSAGE = `INSERT INTO webhook_messages (id, type, customer_id, idempotency_key, idempotency_scope, body, created_at) VALUES (${marks(7)})`;

/**
 * The module's API: send events (transactionally when given a manager), manage endpoints,
 * read the delivery log and replay deliveries.
 */
@Injectable()
export class WebhookService {
  private readonly logger = new Logger(WebhookService.name);

  constructor(
    @Inject(WEBHOOKS_OPTIONS) private readonly options: ResolvedWebhooksOptions,
    @InjectDataSource() private readonly dataSource: DataSource,
    @InjectQueue(WEBHOOKS_QUEUE) private readonly queue: Queue,
    private readonly tx: TransactionRunner,
    private readonly outbox: OutboxService,
    private readonly transactionOutbox: TransactionOutbox,
    private readonly events: WebhookEvents,
  ) {}

  /**
   * Records `type` with `data` for every matching endpoint of the customer and enqueues the
   * deliveries. With `manager` inside a transaction, the rows commit or roll back with it and the
   * jobs are enqueued only after the real commit. Throws {@link WebhookValidationError} for a bad
   * type or payload, writing nothing.
   */
  async send(type: string, data: unknown, opts: SendOptions = {}): Promise<SendResult> {
    if (!isValidEventType(type)) throw new WebhookValidationError('type', messages.invalidEventType(type));
    const customerId = validateKey('customerId', opts.customerId);
    const idempotencyKey = validateKey('idempotencyKey', opts.idempotencyKey);
    const now = new Date();
    const body = this.serialise(type, data, now);

    const write = (m: EntityManager) => this.writeMessage(m, { type, customerId, idempotencyKey, body, now });
    const runner = opts.manager?.queryRunner;
    if (runner?.isTransactionActive) {
      const result = await write(opts.manager!);
      if (result.created) this.transactionOutbox.hold(runner, result.deliveryIds);
      return result;
    }
    const result = opts.manager ? await opts.manager.transaction(write) : await this.tx.run(write);
    if (result.created) await this.enqueueQuietly(result.deliveryIds);
    return result;
  }

  /** Creates an endpoint; its `whsec_` secret is generated when not given. */
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

  /** Changes an endpoint. `enabled: true` on a disabled endpoint re-enables it and resets its health. */
  async updateEndpoint(id: string, patch: UpdateEndpointInput): Promise<WebhookEndpoint> {
    const endpoint = await this.getEndpoint(id);
    const wasEnabled = endpoint.enabled;
    if (patch.url !== undefined) endpoint.url = validateUrl(patch.url, this.options.outbound.network.httpsOnly);
    if (patch.eventTypes !== undefined) endpoint.eventTypes = validateFilters(patch.eventTypes);
    if (patch.customerId !== undefined) endpoint.customerId = validateKey('customerId', patch.customerId);
    if (patch.headers !== undefined) endpoint.headers = validateHeaders(patch.headers);
    if (patch.description !== undefined) endpoint.description = patch.description;
    if (patch.enabled !== undefined) {
      endpoint.enabled = patch.enabled;
      if (patch.enabled) Object.assign(endpoint, { disabledReason: null, failingSince: null, consecutiveFailures: 0 });
      else endpoint.disabledReason ??= 'disabled by the app';
    }
    endpoint.updatedAt = new Date();
    await this.tx.write((m) => m.save(WebhookEndpoint, endpoint));
    if (!wasEnabled && endpoint.enabled) this.events.emit('endpoint.enabled', { endpointId: id, customerId: endpoint.customerId });
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
   * receivers can switch without rejecting anything.
   */
  async rotateEndpointSecret(id: string, opts: { graceSeconds?: number; secret?: string } = {}): Promise<WebhookEndpoint> {
    const grace = opts.graceSeconds ?? 86_400;
    if (!Number.isSafeInteger(grace) || grace < 0) throw new WebhookValidationError('graceSeconds', 'graceSeconds must be an integer >= 0.');
    const endpoint = await this.getEndpoint(id);
    const next = opts.secret === undefined ? generateSecret() : validateSecret(opts.secret);
    const now = Date.now();
    Object.assign(endpoint, {
      previousSecret: grace > 0 ? endpoint.secret : null,
      previousSecretExpiresAt: grace > 0 ? new Date(now + grace * 1000) : null,
      secret: next,
      updatedAt: new Date(now),
    });
    await this.tx.write((m) => m.save(WebhookEndpoint, endpoint));
    return endpoint;
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
   * logged as `manual`. Refused while its endpoint is disabled (re-enable it first).
   */
  async redeliver(deliveryId: string): Promise<WebhookDelivery> {
    const delivery = await this.findOrThrow(WebhookDelivery, 'delivery', deliveryId);
    const endpoint = await this.getEndpoint(delivery.endpointId);
    if (!endpoint.enabled) {
      throw new WebhookValidationError('deliveryId', `Endpoint ${endpoint.id} is disabled (${endpoint.disabledReason}); re-enable it with updateEndpoint before redelivering.`);
    }
    const job = await this.queue.getJob(deliveryId);
    if (job && (await job.isActive())) {
      throw new WebhookValidationError('deliveryId', `Delivery ${deliveryId} is being attempted right now.`);
    }
    await job?.remove();
    Object.assign(delivery, { status: 'pending', nextAttemptAt: new Date(), enqueuedAt: null, updatedAt: new Date() });
    await this.tx.write((m) => m.save(WebhookDelivery, delivery));
    await this.outbox.enqueue([deliveryId], 'manual');
    return delivery;
  }

  /** Redelivers an endpoint's failed and discarded deliveries created since `since`. */
  async recoverFailed(opts: RecoverFailedOptions): Promise<{ deliveryIds: string[] }> {
    if (!(opts.since instanceof Date) || Number.isNaN(opts.since.getTime())) {
      throw new WebhookValidationError('since', 'since must be a valid Date.');
    }
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
    msg: { type: string; customerId: string | null; idempotencyKey: string | null; body: string; now: Date },
  ): Promise<SendResult> {
    const scope = msg.idempotencyKey === null ? null : JSON.stringify([msg.customerId, msg.idempotencyKey]);
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
      // event_types is a simple-json column: JSON text on both databases.
      .filter((e) => matchesAnyFilter(e.event_types ? (JSON.parse(e.event_types) as string[]) : null, msg.type))
      .map((e) => [newId('dlv', t), e.id] as const);
    if (ids.length) {
      await runSql(
        m,
        `INSERT INTO webhook_deliveries (id, message_id, endpoint_id, status, attempts, next_attempt_at, created_at, updated_at) VALUES ${rows(ids.length, "(?, ?, ?, 'pending', 0, ?, ?, ?)")}`,
        ids.flatMap(([id, endpointId]) => [id, messageId, endpointId, t, t, t]),
      );
    }
    return { messageId, deliveryIds: ids.map(([id]) => id), created: true };
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
