import { InjectQueue } from '@nestjs/bull';
import { Inject, Injectable, Logger } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { Queue } from 'bull';
import {
  type DataSource,
  type EntityManager,
  In,
  type ObjectLiteral,
  type QueryDeepPartialEntity,
  type Repository,
} from 'typeorm';
import { WebhookAttempt } from '../database/entities/webhook-attempt.entity.js';
import { DELIVERY_STATUSES, WebhookDelivery } from '../database/entities/webhook-delivery.entity.js';
import { WebhookEndpoint } from '../database/entities/webhook-endpoint.entity.js';
import { WebhookMessage } from '../database/entities/webhook-message.entity.js';
import { knownId, newId } from '../database/ids.js';
import { findPage, listFilters, optionsObject, requiredObject } from '../database/pagination.js';
import { timeOf } from '../utils/date.js';
import { isThenable } from '../utils/thenable.js';
import { unstorable } from '../database/sql.js';
import { TransactionRunner } from '../database/transaction.runner.js';
import { RedisStalledError } from '../errors/redis-stalled.error.js';
import { WebhookNotFoundError } from '../errors/webhook-not-found.error.js';
import { WebhookValidationError } from '../errors/webhook-validation.error.js';
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
import type { WebhookEventName, WebhookPayload } from '../interfaces/event-types.interface.js';
import { generateSecret } from '../signing/standard-webhooks.js';
import { isValidEventType } from '../utils/event-types.js';
import { WebhookEvents } from '../webhook.events.js';
import { WEBHOOKS_OPTIONS, WEBHOOKS_QUEUE } from '../webhooks.constants.js';
import { messages } from '../webhooks.messages.js';
import { CommitHook } from './commit.hook.js';
import {
  idempotencyScope,
  validateDescription,
  validateFilters,
  validateHeaders,
  validateKey,
  validateSecret,
  validateUrl,
} from './endpoint.validation.js';
import { DELIVERY_ROWS_PER_INSERT, MessageStore } from './message.store.js';
import { OutboxRelay } from './outbox.relay.js';
import { WebhookTelemetry } from '../observability/webhook-telemetry.js';

/** Longest rotation grace period: 100 years. */
const MAX_GRACE_SECONDS = 100 * 365 * 86_400;

/** Deliveries `recoverFailed` redelivers in one transaction and one queue round. */
const RECOVER_BATCH = 500;
const RECOVERABLE = ['failed', 'discarded'] as const;

/** A delivery's columns when it is sent again now, with a fresh schedule. */
function rescheduled(now: Date) {
  return { status: 'pending' as const, nextAttemptAt: now, enqueuedAt: null, updatedAt: now };
}

/** The keys each call reads; any other is refused (see `optionsObject`). */
const SEND_KEYS = [
  'customerId',
  'idempotencyKey',
  'manager',
  'endpointId',
] as const satisfies readonly (keyof SendOptions)[];
const ENDPOINT_PATCH_KEYS = [
  'url',
  'eventTypes',
  'customerId',
  'headers',
  'description',
  'enabled',
] as const satisfies readonly (keyof UpdateEndpointInput)[];
const ENDPOINT_KEYS = [...ENDPOINT_PATCH_KEYS, 'secret'] as const satisfies readonly (keyof CreateEndpointInput)[];

function isValidDate(value: unknown): value is Date {
  return !Number.isNaN(timeOf(value));
}

/** The refusal of an operation on a disabled endpoint's deliveries. */
function endpointDisabled(field: string, id: string, reason: string | null, doing: string): WebhookValidationError {
  const why = reason === null ? '' : ` (${reason})`;
  const message = `Endpoint ${id} is disabled${why}; re-enable it with updateEndpoint before ${doing}.`;
  return new WebhookValidationError(field, message);
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
    private readonly store: MessageStore,
    private readonly outbox: OutboxRelay,
    private readonly commitHook: CommitHook,
    private readonly events: WebhookEvents,
    private readonly telemetry: WebhookTelemetry,
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
  async send<K extends WebhookEventName>(
    type: K,
    data: WebhookPayload<K>,
    opts: SendOptions = {},
  ): Promise<SendResult> {
    return this.telemetry.traceSend(type, () => this.writeAndEnqueue(type, data, opts));
  }

  private async writeAndEnqueue(type: string, data: unknown, given: SendOptions): Promise<SendResult> {
    const opts = optionsObject('options', given, SEND_KEYS);
    if (opts.manager !== undefined && !isEntityManager(opts.manager))
      throw new WebhookValidationError('manager', 'manager must be the TypeORM EntityManager of your transaction.');
    if (!isValidEventType(type)) throw new WebhookValidationError('type', messages.invalidEventType(type));
    if (this.options.strictEventTypes && !this.options.eventTypes.some((t) => t.name === type))
      throw new WebhookValidationError('type', messages.unknownEventType(type));
    const customerId = validateKey('customerId', opts.customerId);
    const idempotencyKey = validateKey('idempotencyKey', opts.idempotencyKey);
    const scope = idempotencyScope(customerId, idempotencyKey);
    const now = new Date();
    const body = this.serialise(type, data, now);

    if (
      opts.endpointId !== undefined &&
      (typeof opts.endpointId !== 'string' || opts.endpointId === '' || unstorable(opts.endpointId))
    )
      throw new WebhookValidationError('endpointId', 'endpointId must be an endpoint id.');
    const endpointId = opts.endpointId ?? null;
    const msg = { type, customerId, idempotencyKey, scope, body, now, endpointId };
    // A chosen endpoint is checked in the writing transaction, its row share-locked on PostgreSQL:
    // disabling it meanwhile waits for the send, or has refused it; never a message for no delivery.
    const write = async (m: EntityManager) => {
      if (endpointId !== null) await this.checkTarget(m, endpointId, customerId);
      return this.store.write(m, msg);
    };
    const runner = opts.manager?.queryRunner;
    if (runner?.isTransactionActive) {
      const result = await write(opts.manager!);
      if (result.created) {
        this.telemetry.carry(result.deliveryIds);
        this.commitHook.hold(runner, result.deliveryIds);
      }
      return result;
    }
    const result = opts.manager
      ? await opts.manager.transaction(write)
      : endpointId === null
        ? await this.store.writeAlone(msg)
        : await this.tx.run(write);
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
  async createEndpoint(given: CreateEndpointInput): Promise<WebhookEndpoint> {
    const input = requiredObject('input', given, ENDPOINT_KEYS);
    if (input.enabled !== undefined && typeof input.enabled !== 'boolean')
      throw new WebhookValidationError('enabled', 'enabled must be true or false.');
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
      description: validateDescription(input.description),
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
  async updateEndpoint(id: string, given: UpdateEndpointInput): Promise<WebhookEndpoint> {
    knownId('endpoint', id);
    const patch = requiredObject('patch', given, ENDPOINT_PATCH_KEYS);
    const set: QueryDeepPartialEntity<WebhookEndpoint> = { updatedAt: new Date() };
    if (patch.url !== undefined) set.url = validateUrl(patch.url, this.options.outbound.network.httpsOnly);
    if (patch.eventTypes !== undefined) set.eventTypes = validateFilters(patch.eventTypes);
    if (patch.customerId !== undefined) set.customerId = validateKey('customerId', patch.customerId);
    if (patch.headers !== undefined) set.headers = validateHeaders(patch.headers);
    if (patch.description !== undefined) set.description = validateDescription(patch.description);
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
        const row = await this.store.lockEnabled(m, id);
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

  /**
   * Deletes an endpoint with its deliveries and attempts. On SQLite the deliveries go first, in
   * batches of 1,000 (each its own statement, so the event loop is not held for the whole log);
   * if that fails partway the endpoint is still there with part of its log gone: call it again.
   */
  async deleteEndpoint(id: string): Promise<void> {
    knownId('endpoint', id);
    // SQLite: the log first, in batches; the endpoint's row last (with any delivery made meanwhile).
    await this.store.deleteDeliveriesOf(id);
    const result = await this.tx.write((m) => m.delete(WebhookEndpoint, { id }));
    if (!result.affected) throw new WebhookNotFoundError(messages.notFound('endpoint', id));
  }

  /** One endpoint, or {@link WebhookNotFoundError}. */
  async getEndpoint(id: string): Promise<WebhookEndpoint> {
    return this.findOrThrow(WebhookEndpoint, 'endpoint', id);
  }

  /** Endpoints, newest first; `customerId: null` lists endpoints without a customer. */
  async listEndpoints(opts: ListEndpointsOptions = {}): Promise<Page<WebhookEndpoint>> {
    return this.page(WebhookEndpoint, listFilters(opts, { customerId: { nullable: true } }), opts);
  }

  /**
   * Replaces the signing secret. The old one keeps signing alongside for `graceSeconds`, so
   * receivers can switch without rejecting anything. Writes only the secret columns.
   */
  async rotateEndpointSecret(
    id: string,
    given: { graceSeconds?: number; secret?: string } = {},
  ): Promise<WebhookEndpoint> {
    const opts = optionsObject('options', given, ['graceSeconds', 'secret']);
    const grace = opts.graceSeconds ?? 86_400;
    // The expiry must stay a date: far past the last one a Date holds, the write would fail.
    if (!Number.isSafeInteger(grace) || grace < 0 || grace > MAX_GRACE_SECONDS)
      throw new WebhookValidationError(
        'graceSeconds',
        `graceSeconds must be an integer >= 0, at most ${MAX_GRACE_SECONDS} (100 years).`,
      );
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
    return this.page(WebhookMessage, listFilters(opts, { customerId: { nullable: true }, type: {} }), opts);
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
    const rules = { messageId: {}, endpointId: {}, status: { values: DELIVERY_STATUSES } };
    return this.page(WebhookDelivery, listFilters(opts, rules), opts);
  }

  /** Attempts of a delivery, newest first. */
  async listAttempts(deliveryId: string, opts: PageOptions = {}): Promise<Page<WebhookAttempt>> {
    if (typeof deliveryId !== 'string') throw new WebhookValidationError('deliveryId', 'deliveryId must be a string.');
    return this.page(WebhookAttempt, { deliveryId }, optionsObject('options', opts, ['limit', 'cursor']));
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
    if ((await this.withoutJobs([deliveryId])).length === 0) {
      throw new WebhookValidationError('deliveryId', `Delivery ${deliveryId} is being attempted right now.`);
    }
    const now = new Date();
    await this.tx.write((m) => this.updateById(m, WebhookDelivery, 'delivery', deliveryId, rescheduled(now)));
    const redelivered = await this.getDelivery(deliveryId);
    await this.outbox.enqueue([deliveryId], 'manual');
    return redelivered;
  }

  /**
   * Redelivers an endpoint's failed and discarded deliveries created since `since`, as
   * {@link redeliver} does, {@link RECOVER_BATCH} a transaction. One being attempted right now is
   * left to that attempt. Stops with an error once the endpoint is disabled or deleted; what it
   * redelivered before stays redelivered.
   */
  async recoverFailed(given: RecoverFailedOptions): Promise<{ deliveryIds: string[] }> {
    const opts = requiredObject('options', given, ['endpointId', 'since']);
    if (!isValidDate(opts.since)) throw new WebhookValidationError('since', 'since must be a valid Date.');
    const { id: endpointId, enabled, disabledReason } = await this.getEndpoint(opts.endpointId);
    // Refused whether or not it has failed deliveries, and naming the endpoint, not a delivery.
    if (!enabled) throw endpointDisabled('endpointId', endpointId, disabledReason, 'recovering its deliveries');
    const recovered: string[] = [];
    for (let after = { createdAt: opts.since.getTime(), id: '' }; ;) {
      const page = await this.store.failedOf(endpointId, after, RECOVER_BATCH);
      if (page.length === 0) break;
      after = page[page.length - 1];
      const free = await this.withoutJobs(page.map((d) => d.id));
      const taken = await this.tx.run(async (m) => {
        // The endpoint's row locked on PostgreSQL, as replayMissing's: disabling it stops the recovery.
        const ep = await this.store.lockEndpoint(m, endpointId);
        if (!ep) throw new WebhookNotFoundError(messages.notFound('endpoint', endpointId));
        if (!ep.enabled)
          throw endpointDisabled('endpointId', endpointId, ep.disabled_reason, 'recovering its deliveries');
        return this.rescheduleFailed(m, free);
      });
      await this.outbox.enqueue(taken, 'manual');
      recovered.push(...taken);
      if (page.length < RECOVER_BATCH) break;
    }
    return { deliveryIds: recovered };
  }

  /** Of `ids`, those still failed or discarded, set pending for now (locked on PostgreSQL first). */
  private async rescheduleFailed(m: EntityManager, ids: string[]): Promise<string[]> {
    if (ids.length === 0) return [];
    const rows = await m.find(WebhookDelivery, {
      select: { id: true },
      where: { id: In(ids), status: In(RECOVERABLE) },
      order: { id: 'ASC' },
      ...(this.tx.isSqlite ? {} : { lock: { mode: 'pessimistic_write' as const } }),
    });
    const taken = rows.map((d) => d.id);
    if (taken.length > 0)
      await m.createQueryBuilder().update(WebhookDelivery).set(rescheduled(new Date())).whereInIds(taken).execute();
    return taken;
  }

  /**
   * Removes the queue's finished jobs of these deliveries, so that each can be added again (a job
   * id is added once); leaves out those whose job is running. Concurrent calls on one connection.
   */
  private async withoutJobs(ids: string[]): Promise<string[]> {
    const jobs = await Promise.all(ids.map((id) => this.queue.getJob(id)));
    const active = await Promise.all(jobs.map((job) => job?.isActive() ?? false));
    await Promise.all(jobs.map((job, i) => (active[i] ? undefined : job?.remove())));
    return ids.filter((_, i) => !active[i]);
  }

  /**
   * Creates the deliveries an endpoint missed in [`since`, `until`): one for every message of its
   * customer whose type its filters match and that has no delivery to it (sent while it was
   * disabled, or before it existed). Written in batches of {@link DELIVERY_ROWS_PER_INSERT}
   * messages, each its own transaction, and enqueued like `send`'s; a second call creates nothing
   * more. Refused while the endpoint is disabled (re-enable it first).
   */
  async replayMissing(opts: ReplayMissingOptions): Promise<{ deliveryIds: string[] }> {
    const { endpointId, since, until } = requiredObject('options', opts, ['endpointId', 'since', 'until']);
    if (typeof endpointId !== 'string' || endpointId === '') {
      throw new WebhookValidationError('endpointId', 'endpointId must be an endpoint id.');
    }
    knownId('endpoint', endpointId);
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
        const ep = await this.store.lockEndpoint(m, endpointId);
        if (!ep) throw new WebhookNotFoundError(messages.notFound('endpoint', endpointId));
        if (!ep.enabled) throw endpointDisabled('endpointId', endpointId, ep.disabled_reason, 'replaying');
        return this.store.insertMissing(m, endpointId, ep, after, until);
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
    return this.store.prune(olderThan, optionsObject('options', options, ['signal']).signal);
  }

  /**
   * A send to one endpoint needs it to be the customer's and enabled: otherwise the message would
   * be written for no delivery (and use up its idempotency key). Read through `reader`: the app's
   * transaction's manager when given (on SQLite a read beside it would wait for it to end).
   */
  private async checkTarget(m: EntityManager, id: string, customerId: string | null): Promise<void> {
    const endpoint = await m.findOne(WebhookEndpoint, {
      select: { id: true, customerId: true, enabled: true, disabledReason: true },
      where: { id },
      ...(this.tx.isSqlite ? {} : { lock: { mode: 'pessimistic_read' as const } }),
    });
    // Another customer's endpoint is not found, as it would be in a list of this customer's.
    if (!endpoint || endpoint.customerId !== customerId)
      throw new WebhookNotFoundError(messages.notFound('endpoint', id));
    if (!endpoint.enabled) throw endpointDisabled('endpointId', id, endpoint.disabledReason, 'sending to it');
  }

  private serialise(type: string, data: unknown, now: Date): string {
    let json: string | undefined;
    try {
      // Inside the try: a `then` getter or a Proxy that throws is the data's fault too.
      const lost = lostInJson(data);
      if (lost) throw new WebhookValidationError('data', messages.payloadNotSerialisable(lost));
      json = JSON.stringify(data);
    } catch (err) {
      if (err instanceof WebhookValidationError) throw err;
      throw new WebhookValidationError('data', messages.payloadNotSerialisable((err as Error).message));
    }
    if (json === undefined)
      throw new WebhookValidationError('data', messages.payloadNotSerialisable(`${typeof data} has no JSON form`));
    const bytes = Buffer.byteLength(json);
    if (bytes > this.options.outbound.maxPayloadBytes) {
      throw new WebhookValidationError('data', messages.payloadTooLarge(bytes, this.options.outbound.maxPayloadBytes));
    }
    // Built once and stored: every attempt to every endpoint sends these exact bytes.
    return `{"type":${JSON.stringify(type)},"timestamp":${JSON.stringify(now.toISOString())},"data":${json}}`;
  }

  private async enqueueQuietly(ids: string[]): Promise<void> {
    try {
      await this.outbox.enqueueTogether(ids);
    } catch (err) {
      // The rows are committed; the relay enqueues them once Redis answers. A known stall was
      // reported once, when it was found.
      if (err instanceof RedisStalledError) return;
      this.logger.warn(`Enqueue failed (${(err as Error).message}); the relay will pick up ${ids.length} deliveries.`);
    }
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
    knownId(kind, id);
    const result = await m.createQueryBuilder().update(entity).set(set).where('id = :id', { id }).execute();
    if (!result.affected) throw new WebhookNotFoundError(messages.notFound(kind, id));
  }

  private repo<T extends ObjectLiteral>(entity: new () => T): Repository<T> {
    return this.dataSource.getRepository(entity);
  }

  private async findOrThrow<T extends { id: string }>(entity: new () => T, kind: string, id: string): Promise<T> {
    knownId(kind, id);
    const found = await this.repo(entity).findOneBy({ id } as never);
    if (!found) throw new WebhookNotFoundError(messages.notFound(kind, id));
    return found;
  }

  private page<T extends { id: string }>(
    entity: new () => T,
    where: ObjectLiteral,
    opts: PageOptions,
  ): Promise<Page<T>> {
    return findPage(this.repo(entity), where, opts);
  }
}

/**
 * Whether `m` is an EntityManager, by what `send()` uses of it: duck-typed, since an app may hold
 * TypeORM twice (its ESM and CommonJS builds), where `instanceof` would refuse a real one.
 */
function isEntityManager(m: unknown): m is EntityManager {
  const e = m as Partial<EntityManager> | null;
  return typeof e === 'object' && e !== null && typeof e.transaction === 'function' && typeof e.query === 'function';
}

/**
 * Why `data` would serialise to an empty object, losing what it holds: a Promise (an `async`
 * payload function not awaited), a Map or a Set. Checked at the top level only: nested values
 * follow JSON.stringify, as documented.
 */
function lostInJson(data: unknown): string | null {
  if (data === null || typeof data !== 'object') return null;
  if (isThenable(data)) return 'a Promise has no JSON form (it would be sent as {}): await it first';
  if (data instanceof Map || data instanceof Set)
    return `a ${data instanceof Map ? 'Map' : 'Set'} has no JSON form (it would be sent as {}): convert it first, as Object.fromEntries(map) or [...set]`;
  return null;
}
