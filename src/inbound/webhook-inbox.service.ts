import { Inject, Injectable, Logger, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { LessThan, type DataSource } from 'typeorm';
import { WebhookInboxEntry, type InboxStatus } from '../database/entities/webhook-inbox.entity.js';
import { WebhookValidationError } from '../errors/webhook-validation.error.js';
import type { Page, PageOptions } from '../interfaces/webhook-service.interface.js';
import { findPage, listFilters, optionsObject } from '../database/pagination.js';
import type { ResolvedWebhooksOptions } from '../interfaces/webhooks-options.interface.js';
import { deleteInBatches, pruneCutoff } from '../database/prune.js';
import { SQLITE } from '../database/sql.js';
import { isIdOf } from '../database/ids.js';
import { SqliteProcessLock } from '../database/process-lock.js';
import { WEBHOOKS_OPTIONS } from '../webhooks.constants.js';
import { CLAIM_LEASE_MS, InboxStore } from './inbox.store.js';
import { InboundPipeline } from './inbound.pipeline.js';
import { inboundMessages } from './inbound.messages.js';
import { WebhookInboxError } from '../errors/webhook-inbox.error.js';
import { shown } from '../utils/shown.js';

/** Rows deleted per statement by {@link WebhookInbox.prune}. */
export const PRUNE_BATCH = 1_000;

/**
 * Filters of {@link WebhookInbox.list}; all optional, combined with AND.
 * @publicApi
 */
export interface ListInboxOptions extends PageOptions {
  source?: string;
  status?: InboxStatus;
  type?: string;
  eventId?: string;
  /**
   * Only the rows `replay()` would take now: `failed`, or `received` and untouched for the
   * 5-minute lease (its process died mid-run). Not combined with `status`.
   */
  replayable?: boolean;
}

const STATUSES: InboxStatus[] = ['received', 'processed', 'failed', 'ignored'];

/**
 * What a replay came to.
 * @publicApi
 */
export interface InboxReplay {
  /** The inbox row id. */
  id: string;
  /**
   * `processed` / `ignored` (no handler matches now), `failed` (a handler threw again: the row is
   * released, `error` says why), or `queued` in queue mode (the worker runs it).
   */
  status: 'processed' | 'ignored' | 'failed' | 'queued';
  /** Runs of the handlers so far, this one included (not yet counted when queued). */
  attempts: number;
  error?: string;
}

/**
 * The stored inbound calls, for operators: read one, and run one again. A sender stops retrying
 * at some point; a call whose handler failed until then, or whose process died while running it
 * (on PostgreSQL a retry within the 5-minute lease is answered as a duplicate; SQLite releases
 * the row at the next boot), stays in the inbox as `failed` or `received`, and `replay(id)` runs
 * it once its cause is fixed, from the stored raw body.
 * @publicApi
 */
@Injectable()
export class WebhookInbox implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(WebhookInbox.name);
  private processLock: SqliteProcessLock | null = null;

  constructor(
    @Inject(WEBHOOKS_OPTIONS) private readonly options: ResolvedWebhooksOptions,
    private readonly inbox: InboxStore,
    private readonly pipeline: InboundPipeline,
    @InjectDataSource() private readonly dataSource: DataSource,
  ) {}

  /**
   * SQLite in sync mode, with sources configured: a `received` row at boot belongs to a run whose
   * process ended before its handlers finished, unless another process receiving on the same file
   * is still running it. With better-sqlite3 a lock file tells (see {@link SqliteProcessLock}):
   * while another process holds it, nothing is released. Released as `failed`, a sender's retry
   * runs it at once instead of being answered as a duplicate until the lease is over. Only rows
   * first claimed within the lease (and a minute) before the boot are looked at: older ones are past
   * their lease already, and the id range reads no other rows.
   */
  async onApplicationBootstrap(): Promise<void> {
    const { mode, sources } = this.options.inbound;
    // No sources, no calls received: an app that only sends has nothing to release.
    if (mode !== 'sync' || Object.keys(sources).length === 0 || !SQLITE.has(this.dataSource.options.type)) return;
    try {
      const lock = (this.processLock = SqliteProcessLock.open(this.dataSource));
      // Another SQLite driver: the file is taken to serve this process alone, as docs/guarantees.md says.
      if (!lock) return await this.releaseUnfinished();
      if (!(await lock.whenAlone(() => this.releaseUnfinished()))) this.logger.log(inboundMessages.otherProcess());
    } catch (err) {
      this.logger.warn(inboundMessages.releaseFailed(err instanceof Error ? err.message : String(err)));
    }
  }

  onApplicationShutdown(): void {
    this.processLock?.close();
    this.processLock = null;
  }

  private async releaseUnfinished(): Promise<void> {
    const since = Date.now() - CLAIM_LEASE_MS - 60_000;
    const released = await this.inbox.releaseUnfinished(since, inboundMessages.unfinishedRun());
    if (released > 0) this.logger.warn(inboundMessages.releasedUnfinished(released));
  }

  /**
   * Stored calls, newest first, a page at a time (`nextCursor` → `cursor`): what to look at, and
   * with `replayable: true` what {@link replay} would run now. `received` and `failed` rows have
   * an index of their own (`status` filters on them, `replayable` on PostgreSQL); other filters
   * than `source` + `eventId` scan the inbox by id. A page stops at `limit` rows.
   */
  async list(opts: ListInboxOptions = {}): Promise<Page<WebhookInboxEntry>> {
    const where = listFilters(opts, { source: {}, type: {}, eventId: {}, status: { values: STATUSES } }, [
      'replayable',
    ]);
    if (opts.replayable !== undefined && typeof opts.replayable !== 'boolean') {
      throw new WebhookValidationError('replayable', 'replayable must be true or false.');
    }
    if (opts.replayable && where.status !== undefined) {
      throw new WebhookValidationError('replayable', 'replayable chooses the statuses itself: leave status out.');
    }
    const repo = this.dataSource.getRepository(WebhookInboxEntry);
    if (!opts.replayable) return findPage(repo, where, opts);
    // Epoch milliseconds, as the column stores them (passed through its transformer unchanged).
    const stale = LessThan(Date.now() - CLAIM_LEASE_MS);
    return findPage(
      repo,
      [
        { ...where, status: 'failed' },
        { ...where, status: 'received', updatedAt: stale },
      ],
      opts,
    );
  }

  /** The stored call with that inbox row id, or null. */
  get(id: string): Promise<WebhookInboxEntry | null> {
    return this.inbox.find(id);
  }

  /**
   * Deletes the `processed` and `ignored` rows received before `olderThan`, in batches of
   * {@link PRUNE_BATCH} (each its own short transaction), and resolves to how many went. `failed`
   * and `received` rows are kept. A resend of a deleted call is no longer a duplicate: keep the
   * window above your senders' retry window. The module runs this daily with `inbound.retentionMs`.
   * `signal` stops it between batches.
   */
  async prune(olderThan: Date, options: { signal?: AbortSignal } = {}): Promise<number> {
    const before = pruneCutoff(olderThan);
    return deleteInBatches(
      PRUNE_BATCH,
      (after: string | null) => this.inbox.prune(before, PRUNE_BATCH, after ?? ''),
      optionsObject('options', options, ['signal']).signal,
    );
  }

  /**
   * Runs a stored call's handlers again, as the sender's retry would (in queue mode: queues it).
   * Takes the claim first, so a replay never runs beside another run of the same call: only a
   * `failed` row, or a `received` row untouched for 5 minutes, is taken. Rejects with a
   * {@link WebhookInboxError}: `not_found`, or `not_replayable` (processed, ignored, running, or a
   * body that could not be read). A handler that throws again resolves with `status: 'failed'`.
   * @example
   * ```ts
   * const { status, error } = await inbox.replay(row.id); // the inbox row id, not the event id
   * ```
   */
  async replay(id: string): Promise<InboxReplay> {
    if (!isIdOf('in', id)) {
      // An event id, a message id, a typo: said as such, not looked up.
      throw new WebhookInboxError(
        'not_found',
        `No inbox row has the id ${shown(id)}: inbox row ids are "in_" and 26 characters (list({ eventId }) finds the row of an event id).`,
      );
    }
    const row = await this.inbox.find(id);
    if (!row) throw new WebhookInboxError('not_found', `No inbox row has the id ${shown(id)}.`);
    const claim = await this.inbox.reclaim(id);
    if (!claim) throw new WebhookInboxError('not_replayable', notReplayable(row));
    if (this.options.inbound.mode === 'queue') {
      await this.pipeline.queueOrFail(claim);
      return { id, status: 'queued', attempts: claim.attempts };
    }
    const run = await this.pipeline.runStored({ ...row, status: 'received', attempts: claim.attempts });
    if (!('error' in run)) return { id, status: run.status, attempts: run.attempts };
    return {
      id,
      status: 'failed',
      attempts: run.attempts,
      error: run.error instanceof Error ? run.error.message : String(run.error),
    };
  }
}

function notReplayable(row: WebhookInboxEntry): string {
  const why =
    row.type === ''
      ? 'its body could not be read, so no handler can run it'
      : row.status === 'received'
        ? `it is being run (or was, less than ${CLAIM_LEASE_MS / 60_000} minutes ago)`
        : `it is ${row.status}`;
  return `Inbox row "${row.id}" cannot be replayed: ${why}. Only a failed row, or a received row untouched for ${CLAIM_LEASE_MS / 60_000} minutes, can.`;
}
