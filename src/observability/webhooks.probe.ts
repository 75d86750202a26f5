import { InjectQueue } from '@nestjs/bull';
import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { metrics } from '@opentelemetry/api';
import type { Queue } from 'bull';
import type { DataSource, EntityManager } from 'typeorm';
import { WEBHOOK_TABLES } from '../database/boot-checks.service.js';
import { runSql } from '../database/sql.js';
import { TransactionRunner } from '../database/transaction.runner.js';
import { withTimeout } from '../utils/settle.js';
import { WEBHOOKS_QUEUE } from '../webhooks.constants.js';

/** The delivery and inbox backlog at one instant. */
export interface WebhooksBacklog {
  /** Pending deliveries, due or waiting for their next attempt. */
  pending: number;
  /** How long the oldest due pending delivery has waited for a worker (0 when none is due). */
  oldestDueAgeMs: number;
  /** How long the oldest committed delivery has waited to reach the queue (0 when none waits). */
  relayLagMs: number;
  disabledEndpoints: number;
  /** Inbox rows still `received` (claimed, handlers not finished) after `stuckAfterMs`. */
  stuckInbox: number;
}

/** The backlog in one statement; its `?`s are now and the time before which a `received` inbox row is stuck. */
export const BACKLOG_SQL = `SELECT
  (SELECT COUNT(*) FROM webhook_deliveries WHERE status = 'pending') AS pending,
  (SELECT MIN(next_attempt_at) FROM webhook_deliveries WHERE status = 'pending' AND next_attempt_at <= ?) AS oldest_due,
  (SELECT MIN(updated_at) FROM webhook_deliveries WHERE status = 'pending' AND enqueued_at IS NULL) AS unrelayed,
  (SELECT COUNT(*) FROM webhook_endpoints WHERE enabled = FALSE) AS disabled,
  (SELECT COUNT(*) FROM webhook_inbox WHERE status = 'received' AND received_at <= ?) AS stuck`;

/** Inbox rows count as stuck, for the metrics, after this long in `received`. */
const STUCK_AFTER_MS = 5 * 60_000;

/**
 * What an operator asks of the module's state: is Redis there, is the database there and
 * migrated, how far behind are deliveries, relay and inbox. Read by the health indicator and the
 * metrics; neither needs @nestjs/terminus nor an OpenTelemetry SDK to exist.
 */
@Injectable()
export class WebhooksProbe {
  constructor(
    @InjectQueue(WEBHOOKS_QUEUE) private readonly queue: Queue,
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly tx: TransactionRunner,
  ) {
    observeBacklog(() => this.backlog());
  }

  /** Null when Redis answers a PING within `timeoutMs`; else why not. */
  async redis(timeoutMs: number): Promise<string | null> {
    const { status } = this.queue.client;
    // ioredis holds commands while it reconnects: a PING then would only wait for the timeout.
    // A first connection still being made is given the PING's chance.
    if (['reconnecting', 'close', 'end'].includes(status)) return `Redis connection is ${status}`;
    try {
      await withTimeout(this.queue.client.ping(), timeoutMs, `Redis did not answer PING within ${timeoutMs} ms`);
      return null;
    } catch (err) {
      return (err as Error).message;
    }
  }

  /** Null when the database answers, holds the module's tables and has no pending migration; else why not. */
  async database(timeoutMs: number): Promise<string | null> {
    const check = async (): Promise<string | null> => {
      const runner = this.dataSource.createQueryRunner();
      try {
        for (const table of WEBHOOK_TABLES) {
          if (!(await runner.hasTable(table))) return `table ${table} is missing: run the module's migrations`;
        }
      } finally {
        await runner.release();
      }
      if (this.dataSource.migrations.length > 0 && (await this.dataSource.showMigrations()))
        return 'migrations are pending';
      return null;
    };
    try {
      return await withTimeout(check(), timeoutMs, `the database did not answer within ${timeoutMs} ms`);
    } catch (err) {
      return `the database is unreachable: ${(err as Error).message}`;
    }
  }

  /**
   * The backlog now; an inbox row is stuck after `stuckAfterMs` in `received`. With `timeoutMs`
   * the answer is given up after that long (a lock held on a table, the pool or SQLite's one
   * connection busy), and on PostgreSQL the server cancels the query too, so that checks repeated
   * while it is stuck do not pile up on the pool's connections.
   */
  async backlog(stuckAfterMs = STUCK_AFTER_MS, timeoutMs?: number): Promise<WebhooksBacklog> {
    const now = Date.now();
    const params = [now, now - stuckAfterMs];
    const read = (m: EntityManager) => runSql<Record<string, unknown>>(m, BACKLOG_SQL, params);
    const bounded = (ms: number) =>
      this.tx.isSqlite
        ? this.tx.write(read)
        : this.tx.run(async (m) => {
            await m.query(`SET LOCAL statement_timeout = ${ms}`);
            return read(m);
          });
    const query =
      timeoutMs === undefined
        ? this.tx.write(read)
        : withTimeout(bounded(timeoutMs), timeoutMs, `no answer within ${timeoutMs} ms`);
    const [row] = await query;
    const age = (at: unknown) => (at === null || at === undefined ? 0 : Math.max(0, now - Number(at)));
    return {
      pending: Number(row?.pending ?? 0),
      oldestDueAgeMs: age(row?.oldest_due),
      relayLagMs: age(row?.unrelayed),
      disabledEndpoints: Number(row?.disabled ?? 0),
      stuckInbox: Number(row?.stuck ?? 0),
    };
  }
}

/** The backlog as gauges of the module's meter, read with one query each time an SDK collects. */
function observeBacklog(read: () => Promise<WebhooksBacklog>): void {
  const meter = metrics.getMeter('nestjs-webhooks');
  const backlog = meter.createObservableGauge('webhooks.outbound.backlog', { description: 'Pending deliveries' });
  const oldestDue = meter.createObservableGauge('webhooks.outbound.backlog.oldest_due_age', {
    description: 'Age of the oldest pending delivery that is due (0 when none is)',
    unit: 's',
  });
  const relayLag = meter.createObservableGauge('webhooks.outbound.relay.lag', {
    description: 'Age of the oldest committed delivery not yet handed to the queue',
    unit: 's',
  });
  const disabled = meter.createObservableGauge('webhooks.outbound.endpoints.disabled', {
    description: 'Endpoints currently disabled',
  });
  // Only an SDK collects: the no-op meter never calls this, so no query runs without one.
  meter.addBatchObservableCallback(
    async (result) => {
      const now = await read();
      result.observe(backlog, now.pending);
      result.observe(oldestDue, now.oldestDueAgeMs / 1000);
      result.observe(relayLag, now.relayLagMs / 1000);
      result.observe(disabled, now.disabledEndpoints);
    },
    [backlog, oldestDue, relayLag, disabled],
  );
}
