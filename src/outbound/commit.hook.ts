import { Inject, Injectable, Logger, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type {
  DataSource,
  EntitySubscriberInterface,
  QueryRunner,
  TransactionCommitEvent,
  TransactionRollbackEvent,
} from 'typeorm';
import { RedisStalledError } from '../errors/redis-stalled.error.js';
import { Batcher } from '../database/batcher.js';
import { attachSubscriber, detachSubscriber } from '../database/subscribers.js';
import type { ResolvedWebhooksOptions } from '../interfaces/webhooks-options.interface.js';
import { WEBHOOKS_OPTIONS } from '../webhooks.constants.js';

/** Ids published in one addBulk at most. */
const PUBLISH_BATCH = 500;
/** Most ids waiting for Redis in the process; those of further commits are left to the relay. */
const BACKLOG_LIMIT = 1_000;

/**
 * Holds the delivery ids written inside an open transaction and hands them over only at the
 * real COMMIT. Ids are kept per query runner and per nesting depth: releasing a savepoint merges
 * its ids into the enclosing level, rolling one back drops them, and the outermost commit
 * publishes everything. Registered on the DataSource at init, removed at shutdown.
 */
@Injectable()
export class CommitHook implements EntitySubscriberInterface, OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger(CommitHook.name);
  private readonly pending = new WeakMap<QueryRunner, Map<number, string[]>>();
  private publish: (ids: string[]) => Promise<void> = async () => undefined;
  /** Ids waiting for Redis: one addBulk for the commits of each `publishGatherMs` (and of a slow flush). */
  private readonly backlog: Batcher<string, void>;
  /** Ids left to the relay because the backlog was full, since it was last empty. */
  private overflow = 0;

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    @Inject(WEBHOOKS_OPTIONS) options: ResolvedWebhooksOptions,
  ) {
    // Gathered for `publishGatherMs`: Bull's CPU per job falls when jobs are added together, and
    // each addBulk costs a socket write and a Redis round trip, taken from the app's requests.
    this.backlog = new Batcher<string, void>((ids) => this.publishBatch(ids), {
      max: PUBLISH_BATCH,
      ready: Number.POSITIVE_INFINITY,
      waitMs: options.outbound.publishGatherMs,
      serial: true,
    });
  }

  onModuleInit(): void {
    attachSubscriber(this.dataSource, this);
  }

  onApplicationShutdown(): void {
    detachSubscriber(this.dataSource, this);
  }

  /** Sets what happens to ids at the real commit (the outbox service enqueues them). */
  setPublisher(publish: (ids: string[]) => Promise<void>): void {
    this.publish = publish;
  }

  /** Remembers `ids` for the transaction open on `runner`, at its current depth. */
  hold(runner: QueryRunner, ids: string[]): void {
    let levels = this.pending.get(runner);
    if (!levels) this.pending.set(runner, (levels = new Map()));
    const depth = Math.max(1, depthOf(runner));
    const held = levels.get(depth);
    // Appended in place: a transaction may hold tens of thousands of sends.
    if (held) append(held, ids);
    else levels.set(depth, ids.slice());
  }

  afterTransactionCommit({ queryRunner }: TransactionCommitEvent): void {
    const levels = this.pending.get(queryRunner);
    if (!levels) return;
    if (queryRunner.isTransactionActive) {
      // A savepoint was released: its ids now belong to the enclosing level.
      const depth = depthOf(queryRunner);
      const merged = levels.get(depth) ?? [];
      for (const [level, ids] of levels) {
        if (level <= depth) continue;
        append(merged, ids);
        levels.delete(level);
      }
      if (merged.length) levels.set(depth, merged);
      return;
    }
    this.pending.delete(queryRunner);
    // Never throw here: the data is committed, and a throw would make transaction() reject. Nor
    // wait: a commit must not wait for Redis. The ids join a backlog that one loop enqueues, one
    // addBulk for every commit gathered while the previous one ran. The backlog is capped (Redis
    // slow or silent): ids beyond it keep enqueued_at NULL and the relay enqueues them, as it does
    // after a crash meanwhile.
    for (const ids of levels.values()) this.take(ids);
  }

  /** Ids waiting for Redis in this process (for tests: the backlog must stay bounded). */
  get backlogSize(): number {
    return this.backlog.size;
  }

  /** Resolves once every id handed over at a commit so far has been published (or given up). */
  drain(): Promise<void> {
    return this.backlog.drained();
  }

  private take(ids: string[]): void {
    const room = BACKLOG_LIMIT - this.backlog.size;
    for (const id of ids.slice(0, Math.max(0, room))) void this.backlog.add(id);
    if (ids.length <= room) return;
    // One warning while the backlog stays full, not one per commit.
    if (this.overflow === 0) {
      const left = 'those of further commits are left to the relay until the backlog drains';
      // Redis slow or away; or commits that never yield to the event loop (a loop of SQLite
      // saves), so that no addBulk could run meanwhile.
      const why = 'Redis is slow or away, commits keep the event loop busy, or a commit carried more';
      this.logger.warn(`${BACKLOG_LIMIT} deliveries are waiting to be enqueued (${why}); ${left}.`);
    }
    this.overflow += ids.length - room;
  }

  private async publishBatch(batch: string[]): Promise<void[]> {
    try {
      await this.publish(batch);
    } catch (err) {
      // A known stall was reported once, when it was found.
      if (!(err instanceof RedisStalledError)) {
        const why = (err as Error).message;
        this.logger.warn(`Enqueue after commit failed (${why}); the relay will pick up ${batch.length} deliveries.`);
      }
    }
    if (this.backlog.size === 0) {
      if (this.overflow) this.logger.log(`Backlog drained; ${this.overflow} deliveries were left to the relay.`);
      this.overflow = 0;
    }
    return batch.map(() => undefined);
  }

  afterTransactionRollback({ queryRunner }: TransactionRollbackEvent): void {
    const levels = this.pending.get(queryRunner);
    if (!levels) return;
    if (!queryRunner.isTransactionActive) return void this.pending.delete(queryRunner);
    for (const level of [...levels.keys()]) if (level > depthOf(queryRunner)) levels.delete(level);
  }
}

/** Nesting depth of the runner's transaction (1 = outermost); TypeORM keeps it off the interface. */
function depthOf(runner: QueryRunner): number {
  return (runner as unknown as { transactionDepth?: number }).transactionDepth ?? 1;
}

/** Appends `ids` to `to` one by one: `push(...ids)` throws a RangeError past ~100,000 arguments. */
function append(to: string[], ids: readonly string[]): void {
  for (const id of ids) to.push(id);
}
