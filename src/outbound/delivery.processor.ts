import { InjectQueue } from '@nestjs/bull';
import {
  type BeforeApplicationShutdown,
  Inject,
  Injectable,
  Logger,
  type OnApplicationBootstrap,
  type OnModuleDestroy,
} from '@nestjs/common';
import type { Job, Queue } from 'bull';
import type { EntityManager } from 'typeorm';
import { WebhookDelivery } from '../database/entities/webhook-delivery.entity.js';
import { WebhookEndpoint } from '../database/entities/webhook-endpoint.entity.js';
import { newId } from '../database/ids.js';
import type { ResolvedWebhooksOptions } from '../interfaces/webhooks-options.interface.js';
import { signStandard } from '../signing/standard-webhooks.js';
import { TransactionRunner } from '../database/transaction.runner.js';
import { WebhookEvents } from '../webhook.events.js';
import { DELIVERY_JOB, WEBHOOKS_OPTIONS, WEBHOOKS_QUEUE } from '../webhooks.constants.js';
import { type HttpAttemptResult, storableHeaders, WebhookHttpClient } from './http.client.js';
import { type AttemptRecord, DeliveryStore, type LoadedDelivery } from './delivery.store.js';
import type { DeliveryJobData } from './outbox.relay.js';
import { type AttemptOutcome, decideOutcome } from './retry.policy.js';
import { settleWithin, SHUTDOWN_MARGIN_MS } from '../utils/settle.js';
import { WriteRetrier } from '../utils/write-retry.js';
import { forDriver, isDataError, returnedRows, withReturnedRows } from '../database/sql.js';
import { RetryLaterError } from '../errors/retry-later.error.js';
import { WebhookTelemetry } from '../observability/webhook-telemetry.js';

/** What one job run did, returned as the Bull job result. */
export type DeliveryJobResult = AttemptOutcome['kind'] | 'skipped' | 'discarded';

const TERMINAL = ['succeeded', 'failed', 'discarded'];

/** The pending deliveries of an endpoint by event type: what its disabling discards. */
const PENDING_BY_TYPE = `SELECT m.type AS type, COUNT(*) AS n FROM webhook_deliveries d
  JOIN webhook_messages m ON m.id = d.message_id
  WHERE d.endpoint_id = ? AND d.status = 'pending' GROUP BY m.type`;

/**
 * One failure added to an endpoint's streak, judged on the stored `failing_since`: it disables the
 * endpoint on 410 or once the streak is older than the cutoff. Only an enabled endpoint changes,
 * so a row returned disabled was disabled by this statement.
 */
const TRACK_FAILURE = `UPDATE webhook_endpoints SET failing_since = COALESCE(failing_since, ?),
  consecutive_failures = consecutive_failures + 1,
  enabled = CASE WHEN ? = 1 OR failing_since <= ? THEN FALSE ELSE enabled END,
  updated_at = CASE WHEN ? = 1 OR failing_since <= ? THEN ? ELSE updated_at END
  WHERE id = ? AND enabled = TRUE RETURNING enabled, failing_since`;
/** recordOutcome: the attempt could not be recorded at all. */
const NOT_RECORDED = Symbol('not recorded');

/**
 * Consumes delivery jobs: signs the stored body, POSTs it through the HTTP client, records the
 * attempt and decides what follows. A retry is a thrown {@link RetryLaterError}, whose delay the
 * queue's backoff strategy uses, so one Bull job carries the whole schedule.
 */
@Injectable()
export class DeliveryProcessor implements OnApplicationBootstrap, OnModuleDestroy, BeforeApplicationShutdown {
  private readonly logger = new Logger(DeliveryProcessor.name);
  private working = false;
  private stopping: Promise<unknown> | null = null;
  private readonly recording = new WriteRetrier(this.logger);

  constructor(
    @Inject(WEBHOOKS_OPTIONS) private readonly options: ResolvedWebhooksOptions,
    @InjectQueue(WEBHOOKS_QUEUE) private readonly queue: Queue,
    private readonly tx: TransactionRunner,
    private readonly http: WebhookHttpClient,
    private readonly events: WebhookEvents,
    private readonly store: DeliveryStore,
    private readonly telemetry: WebhookTelemetry,
  ) {}

  onApplicationBootstrap(): void {
    if (this.options.role === 'emitter') return;
    this.working = true;
    // process() settles only when the queue closes; a rejection then (closing mid-start) is not news.
    this.queue
      .process(DELIVERY_JOB, this.options.outbound.concurrency, (job: Job<DeliveryJobData>) => this.process(job))
      .catch((err: unknown) =>
        this.logger.debug(`Delivery worker stopped: ${(err as Error | undefined)?.message ?? err}`),
      );
    this.logger.log(`Delivering with concurrency ${this.options.outbound.concurrency}.`);
  }

  /**
   * Graceful stop (SIGTERM with `enableShutdownHooks()`): take no new job, let the attempts in
   * flight finish and be recorded, bounded by the attempt timeout plus {@link SHUTDOWN_MARGIN_MS};
   * Redis and the database close only after this.
   */
  async onModuleDestroy(): Promise<void> {
    if (!this.working) return;
    this.working = false;
    // Every module's onModuleDestroy runs before any beforeApplicationShutdown: stop taking jobs
    // here, so an app that itself waits at shutdown (a Terminus grace period) takes none meanwhile.
    this.stopping = this.queue
      .pause(true, true)
      .catch((err: Error) => this.logger.debug(`Local pause failed: ${err.message}`));
    await this.stopping;
  }

  async beforeApplicationShutdown(): Promise<void> {
    if (!this.stopping) return;
    const bound = this.options.outbound.timeoutMs + SHUTDOWN_MARGIN_MS;
    const inFlight = (this.queue as unknown as { whenCurrentJobsFinished(): Promise<void> }).whenCurrentJobsFinished();
    const outcome = await settleWithin(inFlight, bound);
    if (outcome === 'late') {
      this.logger.warn(`Attempts still in flight after ${bound} ms; stopping anyway (Bull retries them as stalled).`);
      // Bull's own close, at onApplicationShutdown, would wait for them again without a bound
      // (an attempt whose database write hangs never ends): close now without waiting.
      await this.queue.close(true).catch((err: Error) => this.logger.debug(`Queue close failed: ${err.message}`));
      // Attempts still retrying their write give up now: Bull retries their jobs as stalled.
      await this.recording.stop();
    } else this.logger.log('Stopped taking deliveries; in-flight attempts finished.');
  }

  /** Runs one attempt of the job's delivery. */
  async process(job: Job<DeliveryJobData>): Promise<DeliveryJobResult> {
    const { deliveryId, trigger } = job.data;
    const delivery = await this.store.load(deliveryId);
    // Gone (endpoint deleted) or already final (a duplicate job after a relay or reconcile).
    if (!delivery || TERMINAL.includes(delivery.status)) return 'skipped';
    const { endpoint } = delivery;
    if (!endpoint.enabled) {
      await this.tx.write((m) =>
        this.updateDelivery(m, deliveryId, {
          status: 'discarded',
          nextAttemptAt: null,
          lastError: `endpoint disabled: ${endpoint.disabledReason}`,
        }),
      );
      this.telemetry.deliveryEnded(delivery.body, 'discarded');
      return 'discarded';
    }

    const traced = this.telemetry.startAttempt(job.data.trace, delivery.attempts + 1, delivery.body);
    const headers = this.telemetry.outboundHeaders(traced, this.headers(delivery));
    const result = await this.http.post(endpoint.url, headers, delivery.body);
    // The place in the schedule: a job the reconciler re-added carries the attempts made before it.
    const index = (job.data.attemptsBefore ?? 0) + job.attemptsMade;
    const outcome = decideOutcome(result, index, this.options.outbound);
    const ended = outcome.kind === 'retry' ? undefined : outcome.kind === 'succeeded' ? 'succeeded' : 'failed';
    this.telemetry.endAttempt(traced, delivery.body, { ...result, outcome: outcome.kind, ended });
    const number = delivery.attempts + 1;
    const now = new Date();
    const nextAttemptAt = outcome.kind === 'retry' ? new Date(now.getTime() + outcome.delayMs) : null;
    const discarded = new Map<string, number>();
    const recorded = await this.recordOutcome({
      id: newId('atm', now.getTime()),
      deliveryId,
      number,
      statusCode: result.statusCode,
      durationMs: result.durationMs,
      responseBody: result.body,
      errorClass: result.errorClass,
      errorMessage: result.errorMessage,
      // Only the attempt a redelivery asked for is manual; its retries follow the schedule.
      trigger: trigger === 'manual' && index === 0 ? 'manual' : 'scheduled',
      requestHeaders: JSON.stringify(headers),
      responseHeaders: result.statusCode === null ? null : storableHeaders(result.headers),
      at: now,
      status: outcome.kind === 'succeeded' ? 'succeeded' : outcome.kind === 'retry' ? 'pending' : 'failed',
      nextAttemptAt,
      // A success resets the endpoint's streak in the recording statement itself (see DeliveryStore).
      health:
        outcome.kind === 'succeeded' ? undefined : (m) => this.trackHealth(m, endpoint.id, outcome, now, discarded),
    });
    if (recorded === NOT_RECORDED) return 'skipped';
    this.announce(delivery, number, result, outcome, nextAttemptAt, recorded);
    // Counted once committed: the deliveries a disabling discarded ended there, without an attempt.
    if (recorded) this.telemetry.deliveriesDiscarded(discarded);
    if (outcome.kind === 'retry') throw new RetryLaterError(outcome.delayMs, result.errorMessage ?? 'failed');
    return outcome.kind;
  }

  /**
   * Records a finished attempt; resolves with the reason when it disabled the endpoint. The POST
   * has gone out, so this never throws for Bull to retry (a second POST with no record): a write
   * that fails is retried, with a capped backoff, until it succeeds or the app stops (the job is
   * then retried as stalled). A row the database refuses as data is stored without the
   * receiver's text; NOT_RECORDED only when even that is refused (the delivery was deleted).
   */
  private async recordOutcome(record: AttemptRecord): Promise<string | null | typeof NOT_RECORDED> {
    const what = `attempt ${record.number} of delivery ${record.deliveryId}`;
    const write = (r: AttemptRecord) =>
      this.recording.write({
        run: () => this.store.record(r),
        what,
        notRepeated: 'the request',
        retryable: (err) => !isDataError(err),
      });
    try {
      return await write(record);
    } catch (err) {
      if (!isDataError(err)) throw err;
      this.logger.warn(`The database refused ${what} (${(err as Error).message}); recording it without the response.`);
    }
    const asciiError = record.errorMessage?.replace(/[^\x20-\x7e]/g, '?') ?? null;
    try {
      return await write({ ...record, responseBody: null, responseHeaders: null, errorMessage: asciiError });
    } catch (err) {
      if (!isDataError(err)) throw err;
      this.logger.warn(`The database refused ${what} again (${(err as Error).message}); ending the delivery.`);
    }
    // Usually the delivery is gone (nothing to update). Were it not, ending it keeps the
    // reconciler from sending again, forever, an attempt that can never be logged.
    const lastError = `attempt ${record.number} could not be recorded`;
    const end = { status: 'failed' as const, nextAttemptAt: null, lastError };
    await this.tx
      .write((m) => this.updateDelivery(m, record.deliveryId, end))
      .catch((e: Error) => this.logger.warn(`Ending delivery ${record.deliveryId} failed: ${e.message}`));
    return NOT_RECORDED;
  }

  /** Standard Webhooks headers, signed with every secret still valid (two during a rotation). */
  private headers({ endpoint, messageId, body }: LoadedDelivery): Record<string, string> {
    const timestamp = Math.floor(Date.now() / 1000);
    const secrets = [endpoint.secret];
    if (
      endpoint.previousSecret &&
      endpoint.previousSecretExpiresAt &&
      endpoint.previousSecretExpiresAt.getTime() > Date.now()
    ) {
      secrets.push(endpoint.previousSecret);
    }
    return {
      ...endpoint.headers,
      'content-type': 'application/json',
      'user-agent': this.options.outbound.userAgent,
      'webhook-id': messageId,
      'webhook-timestamp': String(timestamp),
      'webhook-signature': secrets.map((s) => signStandard(s, messageId, timestamp, body)).join(' '),
    };
  }

  /**
   * Records a failure in the endpoint's streak, from the row's current values (another attempt may
   * have ended the streak since this one read it); disables the endpoint on 410 or when the stored
   * streak began `disableAfterMs` ago, discarding its pending deliveries (their count by event
   * type into `discarded`, for the metrics). Returns the reason when this failure disabled it.
   */
  private async trackHealth(
    m: EntityManager,
    endpointId: string,
    outcome: AttemptOutcome,
    now: Date,
    discarded: Map<string, number>,
  ): Promise<string | null> {
    const gone = outcome.kind === 'gone' ? 1 : 0;
    const at = now.getTime();
    const cutoff = at - this.options.outbound.disableAfterMs;
    const sql = forDriver(TRACK_FAILURE, this.tx.isSqlite);
    const [row] = returnedRows<{ enabled: unknown; failing_since: unknown }>(
      await m.query(this.tx.isSqlite ? withReturnedRows(sql) : sql, [at, gone, cutoff, gone, cutoff, at, endpointId]),
    );
    // No row: the endpoint is gone or already disabled. Still enabled: the streak goes on.
    if (!row || Boolean(row.enabled)) return null;
    const since = new Date(Number(row.failing_since)).toISOString();
    const reason = gone ? 'endpoint answered 410 Gone' : `failing without success since ${since}`;
    await m.update(WebhookEndpoint, { id: endpointId }, { disabledReason: reason });
    discarded.clear();
    if (this.telemetry.metered) {
      const pending = await m.query(forDriver(PENDING_BY_TYPE, this.tx.isSqlite), [endpointId]);
      for (const { type, n } of pending as { type: string; n: string | number }[]) discarded.set(type, Number(n));
    }
    // Kept, not dropped: discarded deliveries can be replayed with recoverFailed once re-enabled.
    await m
      .createQueryBuilder()
      .update(WebhookDelivery)
      .set({ status: 'discarded', nextAttemptAt: null, lastError: `endpoint disabled: ${reason}`, updatedAt: now })
      .where("endpoint_id = :id AND status = 'pending'", { id: endpointId })
      .execute();
    return reason;
  }

  private updateDelivery(m: EntityManager, id: string, patch: Partial<WebhookDelivery>) {
    return m.update(WebhookDelivery, { id }, { ...patch, updatedAt: new Date() });
  }

  private announce(
    delivery: LoadedDelivery,
    attempt: number,
    result: HttpAttemptResult,
    outcome: AttemptOutcome,
    nextAttemptAt: Date | null,
    disableReason: string | null,
  ): void {
    const ids = { deliveryId: delivery.id, messageId: delivery.messageId, endpointId: delivery.endpointId, attempt };
    const error = result.errorMessage ?? '';
    if (outcome.kind === 'succeeded')
      this.events.emit('delivery.succeeded', { ...ids, statusCode: result.statusCode! });
    else if (outcome.kind === 'retry')
      this.events.emit('delivery.failed', { ...ids, error, nextAttemptAt: nextAttemptAt! });
    else {
      this.logger.warn(`Delivery ${delivery.id} to ${delivery.endpointId} ended after attempt ${attempt}: ${error}`);
      this.events.emit('delivery.exhausted', { ...ids, error });
    }
    if (disableReason) {
      this.telemetry.endpointDisabled(outcome.kind === 'gone');
      this.logger.warn(`Endpoint ${delivery.endpointId} disabled: ${disableReason}`);
      this.events.emit('endpoint.disabled', {
        endpointId: delivery.endpointId,
        customerId: delivery.endpoint.customerId,
        reason: disableReason,
      });
    }
  }
}
