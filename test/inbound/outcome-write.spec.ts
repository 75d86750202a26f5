/**
 * Once the handlers have run, their outcome is written to the inbox row. When that write fails for
 * a moment (the database locked or briefly away), it is retried: the handlers do not run again
 * (a failed job would have Bull run them again), and the row ends `processed`.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Injectable } from '@nestjs/common';
import { randomBytes } from 'node:crypto';
import { DataSource } from 'typeorm';
import { OnWebhook } from '../../src/decorators/on-webhook.decorator.js';
import type { WebhookContext } from '../../src/interfaces/webhook-context.interface.js';
import { postWebhook } from '../../src/testing/index.js';
import { SHUTDOWN_MARGIN_MS } from '../../src/utils/settle.js';
import { migrate } from '../support/app.js';
import { createTestDatabase, testDatabases, type TestDatabase } from '../support/databases.js';
import { CapturingLogger } from '../support/logger.js';
import { eventually } from '../support/receiver.js';
import { inboxRows, startInboundApp } from './support.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** How long the database refuses writes on SQLite (its busy timeout is set far below it). */
const LOCKED_MS = 600;

/** Counts its runs; its first run of each event makes the next outcome write fail. */
@Injectable()
class FlakyMarkHandler {
  readonly runs = new Map<string, number>();
  /** Makes the database refuse the next outcome write for a moment. */
  refuseNextWrite: () => Promise<void> = async () => undefined;

  @OnWebhook('outcome.flaky')
  async handle(_data: unknown, ctx: WebhookContext) {
    const runs = (this.runs.get(ctx.id) ?? 0) + 1;
    this.runs.set(ctx.id, runs);
    if (runs === 1) await this.refuseNextWrite();
  }
}

describe.each(testDatabases().filter((k) => k !== 'sqlite3'))('outcome write that fails once, on %s', (kind) => {
  describe.each(['queue', 'sync'] as const)('in %s mode', (mode) => {
    let db: TestDatabase;
    let t: Awaited<ReturnType<typeof startInboundApp>>;
    let handler: FlakyMarkHandler;

    beforeAll(async () => {
      const own = await createTestDatabase(kind);
      // A short busy timeout: a write the test's lock blocks fails fast, as on a locked database.
      db = kind === 'postgres' ? own : { ...own, options: { ...own.options, timeout: 50 } as never };
      await migrate(db);
      if (kind === 'postgres') await armPostgresTrigger(db);
      t = await startInboundApp({ db, inbound: { mode, queueAttempts: 3 }, providers: [FlakyMarkHandler] });
      handler = t.app.get(FlakyMarkHandler);
      handler.refuseNextWrite =
        kind === 'postgres' ? () => refuseOnPostgres(t.app.get(DataSource)) : () => lockSqlite(db);
    }, 30_000);
    afterAll(async () => {
      await t?.close();
      await db?.drop();
    });

    it('runs the handler once and ends the row processed', async () => {
      const id = `msg_${randomBytes(8).toString('hex')}`;
      const res = await postWebhook(t.app, 'partner', { type: 'outcome.flaky', data: {} }, { id });
      expect(res.status).toBe(mode === 'queue' ? 202 : 200);
      const row = () => inboxRows(t.app).then((rows) => rows.find((r) => r.eventId === id));
      await eventually(async () => (await row())?.status === 'processed', 10_000);
      // Past the queue's first retry (1 s), had the failed write failed the job.
      await sleep(1_500);
      expect(handler.runs.get(id)).toBe(1);
      expect(await row()).toMatchObject({ status: 'processed', attempts: 1 });
    }, 20_000);
  });
});

(testDatabases().includes('postgres') ? describe : describe.skip)('an outcome write refused until shutdown', () => {
  it('leaves the row received, logs it, and does not hold shutdown past its margin', async () => {
    const db = await createTestDatabase('postgres');
    let t: Awaited<ReturnType<typeof startInboundApp>> | undefined;
    try {
      await migrate(db);
      await armPostgresTrigger(db);
      const logger = new CapturingLogger();
      t = await startInboundApp({ db, logger, providers: [FlakyMarkHandler] });
      const handler = t.app.get(FlakyMarkHandler);
      const ds = t.app.get(DataSource);
      handler.refuseNextWrite = () => refuseOnPostgres(ds, 1_000_000);
      const id = `msg_${randomBytes(8).toString('hex')}`;
      // The handlers ran: the sender gets its answer after the first try of the write.
      const res = await postWebhook(t.app, 'partner', { type: 'outcome.flaky', data: {} }, { id });
      expect([res.status, res.body.status]).toEqual([200, 'processed']);
      const [row] = await inboxRows(t.app);
      const started = Date.now();
      await t.close();
      t = undefined;
      expect(Date.now() - started).toBeLessThan(SHUTDOWN_MARGIN_MS + 3_000);
      expect(handler.runs.get(id)).toBe(1);
      expect(
        logger.since(0, 'error').some((m) => m.startsWith(`Could not record the outcome of inbox row ${row.id}`)),
      ).toBe(true);
      const after = await new DataSource(db.options).initialize();
      try {
        const [stored] = await after.query('SELECT status, attempts FROM webhook_inbox WHERE id = $1', [row.id]);
        expect(stored).toEqual({ status: 'received', attempts: 0 });
      } finally {
        await after.destroy();
      }
    } finally {
      await t?.close();
      await db.drop();
    }
  }, 30_000);
});

/** A trigger that refuses the `processed` update while its sequence is armed, as a transient error. */
async function armPostgresTrigger(db: TestDatabase): Promise<void> {
  const ds = await new DataSource(db.options).initialize();
  try {
    await ds.query(`CREATE SEQUENCE refuse_mark MINVALUE -1000000 START 2`);
    await ds.query(`CREATE FUNCTION refuse_mark() RETURNS trigger AS $$
      BEGIN
        IF nextval('refuse_mark') <= 1 THEN
          RAISE EXCEPTION 'could not serialize access (test)' USING ERRCODE = '40001';
        END IF;
        RETURN NEW;
      END $$ LANGUAGE plpgsql`);
    await ds.query(`CREATE TRIGGER refuse_mark BEFORE UPDATE ON webhook_inbox
      FOR EACH ROW WHEN (NEW.status = 'processed') EXECUTE FUNCTION refuse_mark()`);
  } finally {
    await ds.destroy();
  }
}

/** The next `times` `processed` updates fail (the sequence counts up to 1), the later ones pass. */
async function refuseOnPostgres(ds: DataSource, times = 1): Promise<void> {
  await ds.query(`SELECT setval('refuse_mark', $1, false)`, [2 - times]);
}

/** Another connection holds the write lock for {@link LOCKED_MS}: the module's writes get SQLITE_BUSY. */
async function lockSqlite(db: TestDatabase): Promise<void> {
  const other = await new DataSource(db.options).initialize();
  await other.query('BEGIN IMMEDIATE');
  setTimeout(() => void other.query('COMMIT').then(() => other.destroy()), LOCKED_MS);
}
