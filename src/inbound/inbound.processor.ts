import { InjectQueue } from '@nestjs/bull';
import {
  Inject,
  Injectable,
  Logger,
  type BeforeApplicationShutdown,
  type OnApplicationBootstrap,
} from '@nestjs/common';
import type { Job, Queue } from 'bull';
import type { WebhookInboxEntry } from '../database/entities/webhook-inbox.entity.js';
import type { ResolvedWebhooksOptions } from '../interfaces/webhooks-options.interface.js';
import { lostJobs } from '../queue/lost-jobs.js';
import { IntervalLoop } from '../utils/interval-loop.js';
import { SHUTDOWN_MARGIN_MS, withTimeout } from '../utils/settle.js';
import { INBOUND_JOB, WEBHOOKS_OPTIONS, WEBHOOKS_QUEUE } from '../webhooks.constants.js';
import { InboxStore } from './inbox.store.js';
import { inboundMessages } from './inbound.messages.js';
import type { RowRun } from './inbound.pipeline.js';

/** Data of an inbound job; its `jobId` is the inbox row id, so a row is queued at most once. */
export interface InboundJobData {
  inboxId: string;
}

/** Runs a stored row's handlers and records the outcome (the pipeline's step for stored rows). */
export type RowRunner = (row: WebhookInboxEntry, failedStatus: 'failed' | 'received') => Promise<RowRun>;

/** Queued inbound calls run at once by one worker process. */
export const INBOUND_CONCURRENCY = 10;
/** First retry delay of a failed queued call; Bull doubles it on each further attempt. */
export const INBOUND_BACKOFF_MS = 1_000;
const ENQUEUE_TIMEOUT_MS = 2_000;
/** Inbox rows read per page of {@link InboundProcessor.reconcile}. */
export const RECONCILE_PAGE = 5_000;
/**
 * A `received` row is looked at by the reconciler once untouched for this long (or for the
 * interval, when longer): well after its job was added, which takes at most the enqueue timeout.
 */
export const RECONCILE_GRACE_MS = 5_000;

/**
 * Queue mode: the pipeline stores the call and enqueues its row id; this worker runs the
 * handlers, retrying with exponential backoff, and records every run in the inbox row (status
 * stays `received` between retries, `failed` after the last, with `attempts` and `last_error`).
 */
@Injectable()
export class InboundProcessor implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger(InboundProcessor.name);
  private stopping = false;
  /** Where the reconciler's sweep through the inbox goes on (`''`: from the start). */
  private sweepFrom = '';
  private readonly reconciler: IntervalLoop;
  private runRow: RowRunner | null = null;

  constructor(
    @Inject(WEBHOOKS_OPTIONS) private readonly options: ResolvedWebhooksOptions,
    @InjectQueue(WEBHOOKS_QUEUE) private readonly queue: Queue,
    private readonly inbox: InboxStore,
  ) {
    const { reconcileIntervalMs: intervalMs } = options.inbound;
    const failureText = inboundMessages.reconcileFailed;
    this.reconciler = new IntervalLoop(
      () => this.reconcile(),
      { name: 'reconcile', intervalMs, failureText },
      this.logger,
    );
  }

  /** How the worker runs a job's row: the {@link InboundPipeline} hands its step over when built. */
  runRowsWith(runner: RowRunner): void {
    this.runRow = runner;
  }

  onApplicationBootstrap(): void {
    const { mode, sources } = this.options.inbound;
    if (mode !== 'queue') return;
    // No sources, no calls received: nothing to reconcile.
    if (Object.keys(sources).length > 0) this.reconciler.start();
    // API processes (`emitter`) only store and enqueue; workers run the handlers.
    if (this.options.role === 'emitter') return;
    this.queue
      .process(INBOUND_JOB, INBOUND_CONCURRENCY, (job: Job<InboundJobData>) => this.process(job))
      // Bull rejects this when the queue closes while the worker is still starting (a quick shutdown).
      .catch((err: Error) => this.stopping || this.logger.error(`Inbound worker stopped: ${err.message}`));
  }

  async beforeApplicationShutdown(): Promise<void> {
    this.stopping = true;
    // A pass is a few reads and Redis calls; a database that hangs must not hold shutdown.
    await this.reconciler.stop(SHUTDOWN_MARGIN_MS);
  }

  /**
   * Queue mode: queues again every `received` row whose job is gone (Redis lost it, or Bull failed
   * it for stalling), so that no accepted call is stranded. Each pass reads the newest
   * {@link RECONCILE_PAGE} rows and the next page of a sweep through the whole inbox, by id; it
   * resolves to how many rows were queued again. `now` is for tests.
   */
  async reconcile(now = Date.now()): Promise<number> {
    const olderThan = now - Math.max(this.options.inbound.reconcileIntervalMs, RECONCILE_GRACE_MS);
    const newest = await this.inbox.receivedAmong(null, olderThan, RECONCILE_PAGE);
    const sweep = await this.inbox.receivedAmong(this.sweepFrom, olderThan, RECONCILE_PAGE);
    this.sweepFrom = sweep.last ?? '';
    const missing = await lostJobs(this.queue, [...new Set([...newest.ids, ...sweep.ids])]);
    // The scan is stale by now: a job the worker just finished is gone too, but its row is no
    // longer `received` (the row is written before the job completes), so read the rows again.
    const lost = missing.length ? await this.inbox.stillReceived(missing, olderThan) : [];
    for (const id of lost) await this.enqueue(id);
    if (lost.length) this.logger.warn(inboundMessages.requeued(lost.length));
    return lost.length;
  }

  /** Queues a claimed row; rejects when Redis does not take it in time. */
  async enqueue(inboxId: string): Promise<void> {
    const add = this.queue.add(INBOUND_JOB, { inboxId } satisfies InboundJobData, {
      jobId: inboxId,
      attempts: this.options.inbound.queueAttempts,
      backoff: { type: 'exponential', delay: INBOUND_BACKOFF_MS },
      removeOnComplete: true,
      // The inbox row keeps the outcome; a removed job also lets a later claim queue the row again.
      removeOnFail: true,
    });
    await withTimeout(add, ENQUEUE_TIMEOUT_MS, `Redis did not accept the job within ${ENQUEUE_TIMEOUT_MS} ms`);
  }

  private async process(job: Job<InboundJobData>): Promise<void> {
    if (!this.runRow) throw new Error('No InboundPipeline was built to run inbound jobs.');
    const row = await this.inbox.find(job.data.inboxId);
    if (!row || row.status === 'processed' || row.status === 'ignored') return;
    const last = job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
    const run = await this.runRow(row, last ? 'failed' : 'received');
    // Thrown back to Bull, which retries with backoff while attempts are left.
    if ('error' in run && run.retryable) throw run.error;
  }
}
