import { InjectQueue } from '@nestjs/bull';
import {
  Inject,
  Injectable,
  Logger,
  type BeforeApplicationShutdown,
  type OnApplicationBootstrap,
} from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { JobOptions, Queue } from 'bull';
import type { DataSource } from 'typeorm';
import { WebhookDelivery } from '../database/entities/webhook-delivery.entity.js';
import type { ResolvedWebhooksOptions } from '../interfaces/webhooks-options.interface.js';
import { TransactionRunner } from '../database/transaction.runner.js';
import { DELIVERY_JOB, WEBHOOKS_BACKOFF, WEBHOOKS_OPTIONS, WEBHOOKS_QUEUE } from '../webhooks.constants.js';
import { Batcher } from '../database/batcher.js';
import { RedisBreaker } from './redis.breaker.js';
import { settleWithin, SHUTDOWN_MARGIN_MS, withTimeout } from '../utils/settle.js';
import { IntervalLoop } from '../utils/interval-loop.js';
import { placeholders, runSql } from '../database/sql.js';
import { CommitHook } from './commit.hook.js';
import { lostJobs } from '../queue/lost-jobs.js';
import { WebhookTelemetry, type TraceCarrier } from '../observability/webhook-telemetry.js';

/** Data of a delivery job; its `jobId` is the delivery id. */
export interface DeliveryJobData {
  deliveryId: string;
  trigger: 'scheduled' | 'manual';
  /** Attempts of the current schedule made before this job (set by the reconciler): the job resumes the schedule. */
  attemptsBefore?: number;
  /** The W3C trace context of the `send()` that created the delivery, when it was traced. */
  trace?: TraceCarrier;
}

/** How long an enqueue may wait for Redis before the relay is left to do it. */
const ENQUEUE_TIMEOUT_MS = 2_000;
const RELAY_BATCH = 500;
const RECONCILE_BATCH = 1_000;
/** The number of a delivery's last manual attempt: where its current schedule began. */
const LAST_MANUAL =
  "(SELECT MAX(a.number) FROM webhook_attempts a WHERE a.delivery_id = d.id AND a.trigger = 'manual')";
/** A pending row the reconciler re-adds, with what it needs to resume the schedule. */
interface LostRow {
  id: string;
  attempts: unknown;
  manual_from: unknown;
}
/**
 * PostgreSQL: the marks as one statement whose commit does not wait for the WAL flush
 * (`synchronous_commit` off for its own implicit transaction only). A mark is a hint: a mark
 * lost to a PostgreSQL crash leaves the row to the relay, which re-adds a job Bull already
 * holds as a no-op, and claims only rows still pending.
 */
const PG_MARK_ENQUEUED = `WITH async AS (SELECT set_config('synchronous_commit', 'off', true) AS v)
  UPDATE webhook_deliveries SET enqueued_at = $1 WHERE id = ANY($2) AND (SELECT v FROM async) = 'off'`;

/**
 * The outbox: turns committed delivery rows into Bull jobs. Right after commit for the normal
 * path; a relay for rows that never reached Redis (crash, Redis down); a reconciler for rows
 * whose job vanished (Redis restarted without persistence, a job Bull failed for stalling).
 */
@Injectable()
export class OutboxRelay implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger(OutboxRelay.name);
  private readonly loops: IntervalLoop[] = [];
  private reconcileCursor = '';
  /** Deliveries relayed by the current run of full passes, logged when it ends. */
  private relayedInRun = 0;
  /**
   * The `enqueued_at` marks of many enqueues, written by one UPDATE up to `markGatherMs` later,
   * not awaited: the relay only claims rows older than its interval, and re-adding a job that
   * exists is a no-op.
   */
  private readonly marks: Batcher<string, void>;
  /**
   * Enqueues awaited by their callers (`send()` outside a transaction), gathered over one
   * event-loop turn: the concurrent callers' jobs are one addBulk, one Redis round trip.
   */
  private readonly adds = new Batcher<string, void>(
    async (ids) => {
      await this.enqueue(ids);
      return ids.map(() => undefined);
    },
    { max: RELAY_BATCH, waitMs: 0, serial: true },
  );
  private readonly breaker: RedisBreaker;

  constructor(
    @Inject(WEBHOOKS_OPTIONS) private readonly options: ResolvedWebhooksOptions,
    @InjectQueue(WEBHOOKS_QUEUE) private readonly queue: Queue,
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly tx: TransactionRunner,
    private readonly commitHook: CommitHook,
    private readonly telemetry: WebhookTelemetry,
  ) {
    this.breaker = new RedisBreaker(queue, this.logger);
    this.marks = new Batcher<string, void>((ids) => this.writeMarks(ids), {
      max: RELAY_BATCH,
      ready: Number.POSITIVE_INFINITY,
      // At most a quarter of the relay's interval, so that the marks land before the relay would
      // claim the rows: one UPDATE per many sends, not one per few.
      waitMs: Math.min(options.outbound.markGatherMs, Math.floor(options.outbound.relayIntervalMs / 4)),
      serial: true,
    });
    commitHook.setPublisher((ids) => this.enqueue(ids));
  }

  onApplicationBootstrap(): void {
    const { relayIntervalMs, reconcileIntervalMs } = this.options.outbound;
    this.loops.push(
      // A full batch leaves rows behind (a large fan-out, a backlog after a Redis outage): the
      // next pass runs at once, not an interval later.
      new IntervalLoop(
        () => this.relay(),
        { name: 'outbox pass', intervalMs: relayIntervalMs, again: (ids) => (ids as string[]).length === RELAY_BATCH },
        this.logger,
      ),
      new IntervalLoop(() => this.reconcile(), { name: 'outbox pass', intervalMs: reconcileIntervalMs }, this.logger),
    );
    for (const loop of this.loops) loop.start();
  }

  async beforeApplicationShutdown(): Promise<void> {
    for (const loop of this.loops) loop.halt();
    // Jobs of commits still in the backlog first: their marks join the passes awaited next.
    // Bounded like the worker's wait: a database or Redis that hangs must not hold shutdown;
    // what is left unmarked or unrelayed is picked up by the relay of the next process.
    const bound = this.options.outbound.timeoutMs + SHUTDOWN_MARGIN_MS;
    const finished = Promise.all([this.commitHook.drain(), this.adds.drained()]).then(() =>
      Promise.allSettled([this.marks.drained(), ...this.loops.map((loop) => loop.running)]),
    );
    if ((await settleWithin(finished, bound)) === 'late') {
      this.logger.warn(
        `Relay or enqueue work still running after ${bound} ms; stopping anyway (the relay of the next process picks up what it left).`,
      );
    }
  }

  /** Job options of a delivery: one job per delivery, retried on the module's schedule (what is left of it). */
  jobOptions(deliveryId: string, attemptsBefore = 0): JobOptions {
    return {
      jobId: deliveryId,
      attempts: this.options.outbound.schedule.length - attemptsBefore,
      backoff: { type: WEBHOOKS_BACKOFF },
      removeOnComplete: true,
    };
  }

  /**
   * Adds one job per delivery and marks the rows enqueued. Gives up after a short wait when
   * Redis does not answer (the relay retries), and at once while Redis is known stalled
   * (a RedisStalledError); an id whose job already exists is a no-op.
   */
  async enqueue(ids: string[], trigger: DeliveryJobData['trigger'] = 'scheduled'): Promise<void> {
    if (ids.length === 0) return;
    await this.addJobs(ids, trigger);
    this.markEnqueued(ids);
  }

  /** {@link enqueue} of scheduled deliveries, in one addBulk with those of concurrent callers. */
  async enqueueTogether(ids: string[]): Promise<void> {
    await Promise.all(ids.map((id) => this.adds.add(id)));
  }

  private markEnqueued(ids: string[]): void {
    for (const id of ids) void this.marks.add(id);
  }

  private async writeMarks(batch: string[]): Promise<void[]> {
    const write = this.tx.isSqlite
      ? this.tx.write((m) =>
          runSql(m, `UPDATE webhook_deliveries SET enqueued_at = ? WHERE id IN (${placeholders(batch.length)})`, [
            Date.now(),
            ...batch,
          ]),
        )
      : this.dataSource.query(PG_MARK_ENQUEUED, [Date.now(), batch]);
    await write.catch((err) =>
      this.logger.warn(
        `Marking ${batch.length} deliveries enqueued failed (${(err as Error).message}); the relay may add them again, a no-op.`,
      ),
    );
    return batch.map(() => undefined);
  }

  /** Claims committed rows that were never enqueued and enqueues them. Returns their ids. */
  async relay(): Promise<string[]> {
    // Redis known stalled: a claim would only be handed back after the enqueue timeout, its jobs
    // left waiting in ioredis. The breaker's probe tells when to go on.
    if (this.breaker.blocked()) return [];
    const graceBefore = Date.now() - this.options.outbound.relayIntervalMs;
    const ids = await this.claimUnqueued(graceBefore);
    if (ids.length === 0) return this.relayed(ids);
    try {
      await this.addJobs(ids, 'scheduled');
      return this.relayed(ids);
    } catch (err) {
      // Hand the claim back so the next pass (or another instance) tries again.
      await this.tx.write((m) =>
        m.createQueryBuilder().update(WebhookDelivery).set({ enqueuedAt: null }).whereInIds(ids).execute(),
      );
      throw err;
    }
  }

  /** Counts a pass's relayed ids; one line for a run of full passes, once the run ends. */
  private relayed(ids: string[]): string[] {
    this.relayedInRun += ids.length;
    if (ids.length < RELAY_BATCH && this.relayedInRun > 0) {
      this.logger.log(`Relayed ${this.relayedInRun} deliveries that had not reached the queue.`);
      this.relayedInRun = 0;
    }
    return ids;
  }

  /** Re-enqueues pending deliveries whose Bull job no longer exists or was failed by Bull. */
  async reconcile(): Promise<number> {
    const olderThan = Date.now() - this.options.outbound.relayIntervalMs;
    return this.reenqueueLost(await this.scanPending(olderThan), olderThan);
  }

  /**
   * First half of {@link reconcile}: the next page of rows pending since before `olderThan`.
   * Public so that a test can hold the snapshot while the worker moves on.
   */
  async scanPending(olderThan: number): Promise<string[]> {
    const rows: { id: string }[] = await this.dataSource
      .createQueryBuilder()
      .select('d.id', 'id')
      .from('webhook_deliveries', 'd')
      .where("d.status = 'pending' AND d.enqueued_at IS NOT NULL AND d.enqueued_at < :olderThan", { olderThan })
      .andWhere('d.id > :cursor', { cursor: this.reconcileCursor })
      .orderBy('d.id')
      .limit(RECONCILE_BATCH)
      .getRawMany();
    this.reconcileCursor = rows.length === RECONCILE_BATCH ? rows[rows.length - 1].id : '';
    return rows.map((r) => r.id);
  }

  /**
   * Second half of {@link reconcile}: of the `scanned` ids, re-adds those with no live job. A
   * scan is stale by the time its jobs are checked: with a backlog the worker finishes exactly
   * those jobs meanwhile, and `removeOnComplete` makes a finished job look vanished. A job is
   * removed only after its attempt is committed, so reading the rows again after the job checks
   * tells the two apart: only rows still pending, enqueued before `olderThan`, are re-added.
   */
  async reenqueueLost(scanned: string[], olderThan: number): Promise<number> {
    const missing = await lostJobs(this.queue, scanned);
    const lost = missing.length ? await this.stillPending(missing, olderThan) : [];
    // Attempts already made count: the job resumes the schedule where the lost one was.
    const length = this.options.outbound.schedule.length;
    const resumed = new Map<string, number>();
    const manual: string[] = [];
    for (const { id, attempts, manual_from } of lost) {
      // The current schedule began with the last manual attempt, if any (a redelivery's retries are scheduled).
      const made = Math.max(0, Number(attempts) - (manual_from === null ? 0 : Number(manual_from) - 1));
      // A whole schedule made yet pending: a redelivery whose job vanished before its first attempt.
      if (made >= length) manual.push(id);
      else resumed.set(id, made);
    }
    if (resumed.size) await this.addJobs([...resumed.keys()], 'scheduled', resumed);
    if (manual.length) await this.addJobs(manual, 'manual');
    if (lost.length)
      this.logger.warn(`Re-enqueued ${lost.length} pending deliveries whose job had vanished or failed.`);
    return lost.length;
  }

  /** Of `ids`, the rows still pending, with their attempts and the number of their last manual attempt. */
  private async stillPending(ids: string[], olderThan: number): Promise<LostRow[]> {
    return this.dataSource
      .createQueryBuilder()
      .select('d.id', 'id')
      .addSelect('d.attempts', 'attempts')
      .addSelect(LAST_MANUAL, 'manual_from')
      .from('webhook_deliveries', 'd')
      .where(
        "d.id IN (:...ids) AND d.status = 'pending' AND d.enqueued_at IS NOT NULL AND d.enqueued_at < :olderThan",
        { ids, olderThan },
      )
      .getRawMany();
  }

  private async claimUnqueued(createdBefore: number): Promise<string[]> {
    const now = Date.now();
    if (this.tx.isSqlite) {
      // One statement, so no transaction is held open across awaits; SQLite runs it atomically.
      // Written as WITH … UPDATE … RETURNING: the sqlite3 driver of typeorm 0.3 drops the rows
      // of a statement that starts with UPDATE.
      const rows: { id: string }[] = await this.tx.write((m) =>
        m.query(
          `WITH due AS (SELECT id FROM webhook_deliveries WHERE status = 'pending' AND enqueued_at IS NULL AND created_at < ?
             ORDER BY created_at LIMIT ${RELAY_BATCH})
           UPDATE webhook_deliveries SET enqueued_at = ? WHERE id IN (SELECT id FROM due) RETURNING id`,
          [createdBefore, now],
        ),
      );
      return rows.map((r) => r.id);
    }
    // PostgreSQL: SKIP LOCKED lets several relays run without claiming the same rows.
    // (TypeORM's postgres driver answers an UPDATE with [rows, rowCount].)
    const [rows]: [{ id: string }[], number] = await this.dataSource.query(
      `UPDATE webhook_deliveries SET enqueued_at = $1 WHERE id IN (
         SELECT id FROM webhook_deliveries WHERE status = 'pending' AND enqueued_at IS NULL AND created_at < $2
         ORDER BY created_at LIMIT ${RELAY_BATCH} FOR UPDATE SKIP LOCKED) RETURNING id`,
      [now, createdBefore],
    );
    return rows.map((r) => r.id);
  }

  private async addJobs(
    ids: string[],
    trigger: DeliveryJobData['trigger'],
    attemptsBefore?: ReadonlyMap<string, number>,
  ): Promise<void> {
    // Redis known to be away or stalled: fail at once instead of holding the caller.
    this.breaker.check();
    const jobs = ids.map((deliveryId) => {
      const before = attemptsBefore?.get(deliveryId) ?? 0;
      const data: DeliveryJobData = before ? { deliveryId, trigger, attemptsBefore: before } : { deliveryId, trigger };
      const trace = this.telemetry.jobTrace(deliveryId);
      if (trace) data.trace = trace;
      return { name: DELIVERY_JOB, data, opts: this.jobOptions(deliveryId, before) };
    });
    const message = `Redis did not accept the jobs within ${ENQUEUE_TIMEOUT_MS} ms`;
    // The connection looked ready (checked above), so Redis hangs: later enqueues fail at once.
    await withTimeout(this.queue.addBulk(jobs), ENQUEUE_TIMEOUT_MS, message, () => this.breaker.trip(message));
  }
}
