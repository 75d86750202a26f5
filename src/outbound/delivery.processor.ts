import { InjectQueue } from '@nestjs/bull';
import { type BeforeApplicationShutdown, Inject, Injectable, Logger, type OnApplicationBootstrap, type OnModuleDestroy } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { Job, Queue } from 'bull';
import type { DataSource, EntityManager } from 'typeorm';
import { WebhookDelivery } from '../entities/webhook-delivery.entity.js';
import { WebhookEndpoint } from '../entities/webhook-endpoint.entity.js';
import type { ResolvedWebhooksOptions } from '../interfaces/webhooks-options.interface.js';
import { signStandard } from '../signing/standard-webhooks.js';
import { TransactionRunner } from '../transaction.runner.js';
import { WebhookEvents } from '../webhook.events.js';
import { DELIVERY_JOB, WEBHOOKS_OPTIONS, WEBHOOKS_QUEUE } from '../webhooks.constants.js';
import { type HttpAttemptResult, WebhookHttpClient } from './http.client.js';
import { DeliveryStore, type LoadedDelivery } from './delivery.store.js';
import type { DeliveryJobData } from './outbox.service.js';
import { type AttemptOutcome, decideOutcome, RetryLaterError } from './retry.policy.js';
import { settleWithin, SHUTDOWN_MARGIN_MS } from './shutdown.js';

/** What one job run did, returned as the Bull job result. */
export type DeliveryJobResult = AttemptOutcome['kind'] | 'skipped' | 'discarded';

const TERMINAL = ['succeeded', 'failed', 'discarded'];

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
  private readonly store: DeliveryStore;

  constructor(
    @Inject(WEBHOOKS_OPTIONS) private readonly options: ResolvedWebhooksOptions,
    @InjectQueue(WEBHOOKS_QUEUE) private readonly queue: Queue,
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly tx: TransactionRunner,
    private readonly http: WebhookHttpClient,
    private readonly events: WebhookEvents,
  ) {
    this.store = new DeliveryStore(dataSource, tx);
  }

  onApplicationBootstrap(): void {
    if (this.options.role === 'emitter') return;
    this.working = true;
    // process() settles only when the queue closes; a rejection then (closing mid-start) is not news.
    this.queue
      .process(DELIVERY_JOB, this.options.outbound.concurrency, (job: Job<DeliveryJobData>) => this.process(job))
      .catch((err: unknown) => this.logger.debug(`Delivery worker stopped: ${(err as Error | undefined)?.message ?? err}`));
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
    this.stopping = this.queue.pause(true, true).catch((err: Error) => this.logger.debug(`Local pause failed: ${err.message}`));
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
      await this.tx.write((m) => this.updateDelivery(m, deliveryId, { status: 'discarded', nextAttemptAt: null, lastError: `endpoint disabled: ${endpoint.disabledReason}` }));
      return 'discarded';
    }

    const result = await this.http.post(endpoint.url, this.headers(delivery), delivery.body);
    const outcome = decideOutcome(result, job.attemptsMade, this.options.outbound);
    const number = delivery.attempts + 1;
    const now = new Date();
    const nextAttemptAt = outcome.kind === 'retry' ? new Date(now.getTime() + outcome.delayMs) : null;
    // A success on a healthy endpoint changes nothing of the endpoint: no extra write.
    const healthy = outcome.kind === 'succeeded' && !endpoint.failingSince && !endpoint.consecutiveFailures;
    const disableReason = await this.store.record({
      deliveryId,
      number,
      statusCode: result.statusCode,
      durationMs: result.durationMs,
      responseBody: result.body,
      errorClass: result.errorClass,
      errorMessage: result.errorMessage,
      trigger,
      at: now,
      status: outcome.kind === 'succeeded' ? 'succeeded' : outcome.kind === 'retry' ? 'pending' : 'failed',
      nextAttemptAt,
      health: healthy ? undefined : (m) => this.trackHealth(m, endpoint, outcome, now),
    });
    this.announce(delivery, number, result, outcome, nextAttemptAt, disableReason);
    if (outcome.kind === 'retry') throw new RetryLaterError(outcome.delayMs, result.errorMessage ?? 'failed');
    return outcome.kind;
  }

  /** Standard Webhooks headers, signed with every secret still valid (two during a rotation). */
  private headers({ endpoint, messageId, body }: LoadedDelivery): Record<string, string> {
    const timestamp = Math.floor(Date.now() / 1000);
    const secrets = [endpoint.secret];
    if (endpoint.previousSecret && endpoint.previousSecretExpiresAt && endpoint.previousSecretExpiresAt.getTime() > Date.now()) {
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
   * Updates the endpoint's failure streak; disables it on 410 or after failing for
   * `disableAfterMs`, discarding its pending deliveries. Returns the reason when it disabled it.
   */
  private async trackHealth(m: EntityManager, endpoint: LoadedDelivery['endpoint'], outcome: AttemptOutcome, now: Date): Promise<string | null> {
    if (outcome.kind === 'succeeded') {
      // Written only when there was a streak to end: a healthy endpoint costs no extra write.
      if (endpoint.failingSince || endpoint.consecutiveFailures) {
        await m.update(WebhookEndpoint, { id: endpoint.id }, { failingSince: null, consecutiveFailures: 0 });
      }
      return null;
    }
    const failingSince = endpoint.failingSince ?? now;
    let reason: string | null = null;
    if (outcome.kind === 'gone') reason = 'endpoint answered 410 Gone';
    else if (now.getTime() - failingSince.getTime() >= this.options.outbound.disableAfterMs) {
      reason = `failing without success since ${failingSince.toISOString()}`;
    }
    await m
      .createQueryBuilder()
      .update(WebhookEndpoint)
      .set({
        failingSince,
        consecutiveFailures: () => 'consecutive_failures + 1',
        ...(reason ? { enabled: false, disabledReason: reason, updatedAt: now } : {}),
      })
      .where('id = :id', { id: endpoint.id })
      .execute();
    if (reason) {
      // Kept, not dropped: discarded deliveries can be replayed with recoverFailed once re-enabled.
      await m
        .createQueryBuilder()
        .update(WebhookDelivery)
        .set({ status: 'discarded', nextAttemptAt: null, lastError: `endpoint disabled: ${reason}`, updatedAt: now })
        .where("endpoint_id = :id AND status = 'pending'", { id: endpoint.id })
        .execute();
    }
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
    if (outcome.kind === 'succeeded') this.events.emit('delivery.succeeded', { ...ids, statusCode: result.statusCode! });
    else if (outcome.kind === 'retry') this.events.emit('delivery.failed', { ...ids, error, nextAttemptAt: nextAttemptAt! });
    else {
      this.logger.warn(`Delivery ${delivery.id} to ${delivery.endpointId} ended after attempt ${attempt}: ${error}`);
      this.events.emit('delivery.exhausted', { ...ids, error });
    }
    if (disableReason) {
      this.logger.warn(`Endpoint ${delivery.endpointId} disabled: ${disableReason}`);
      this.events.emit('endpoint.disabled', { endpointId: delivery.endpointId, customerId: delivery.endpoint.customerId, reason: disableReason });
    }
  }
}
