import { afterEach, describe, expect, it, jest } from '@jest/globals';
import { statSync } from 'node:fs';
import type { Worker } from 'node:worker_threads';
import { DataSource } from 'typeorm';
import { BACKSTOP_FRAMES, SqliteCheckpointer } from '../../src/database/sqlite-checkpointer.js';
import { FAST_OUTBOUND, startTestApp, type TestApp } from '../support/app.js';
import { createTestDatabase, testDatabases, type TestDatabase } from '../support/databases.js';
import { CapturingLogger } from '../support/logger.js';
import { eventually } from '../support/receiver.js';

const WEBHOOKS = { role: 'emitter' as const, outbound: FAST_OUTBOUND };

/** An app on a database the test made itself: startTestApp leaves that one to the test to drop. */
function withDrop(app: TestApp, db: TestDatabase): TestApp {
  return { ...app, close: async () => (await app.close(), await db.drop()) };
}
const run = testDatabases().includes('sqlite') ? describe : describe.skip;

/**
 * better-sqlite3 in WAL mode: the app's connection stops checkpointing at commit and a worker
 * thread with its own connection checkpoints instead; the app's setting comes back at shutdown or
 * when the thread fails.
 */
run('SQLite checkpoints on better-sqlite3', () => {
  let t: TestApp | undefined;
  afterEach(async () => {
    await t?.close();
    t = undefined;
  });

  const autocheckpoint = async (ds: DataSource) =>
    Number((await ds.query('PRAGMA wal_autocheckpoint'))[0].wal_autocheckpoint);
  /** Commits about 4 MB in 200 transactions of 10 rows. */
  const write = async (ds: DataSource) => {
    await ds.query('CREATE TABLE IF NOT EXISTS filler (id INTEGER PRIMARY KEY, pad TEXT)');
    for (let i = 0; i < 200; i++) {
      await ds.transaction(async (m) => {
        for (let j = 0; j < 10; j++)
          await m.query('INSERT INTO filler (pad) VALUES (?)', [`${i}-${j}-${'x'.repeat(2000)}`]);
      });
    }
  };

  it("checkpoints in a background thread by default: the database file grows while the app's own checkpoint is out of reach", async () => {
    t = await startTestApp({ db: 'sqlite', webhooks: WEBHOOKS });
    const ds = t.app.get(DataSource);
    const file = String((ds.options as { database: string }).database);
    expect(t.app.get(SqliteCheckpointer).running).toBe(true);
    await eventually(async () => ((await autocheckpoint(ds)) === BACKSTOP_FRAMES ? true : null), 5_000);
    const before = statSync(file).size;
    await write(ds);
    // Only a checkpoint copies pages from the WAL into the database file.
    await eventually(async () => (statSync(file).size > before + 3_000_000 ? true : null), 10_000);
  });

  it('lets the WAL start over under writes that never pause: the file stays far below what went through it', async () => {
    t = await startTestApp({ db: 'sqlite', webhooks: WEBHOOKS });
    const ds = t.app.get(DataSource);
    const wal = `${String((ds.options as { database: string }).database)}-wal`;
    await eventually(async () => ((await autocheckpoint(ds)) === BACKSTOP_FRAMES ? true : null), 5_000);
    // ~45 MB through the WAL without a pause: without the backstop the file would hold it all.
    for (let round = 0; round < 8; round++) await write(ds);
    expect(statSync(wal).size).toBeLessThan(30_000_000);
  });

  it("puts the app's wal_autocheckpoint back at shutdown", async () => {
    t = await startTestApp({ db: 'sqlite', webhooks: WEBHOOKS });
    const ds = t.app.get(DataSource);
    const checkpointer = t.app.get(SqliteCheckpointer);
    await eventually(async () => ((await autocheckpoint(ds)) === BACKSTOP_FRAMES ? true : null), 5_000);
    await checkpointer.beforeApplicationShutdown();
    expect(checkpointer.running).toBe(false);
    expect(await autocheckpoint(ds)).toBe(1000);
  });

  it('falls back to checkpoints at commit when the thread dies', async () => {
    t = await startTestApp({ db: 'sqlite', webhooks: WEBHOOKS });
    const ds = t.app.get(DataSource);
    const checkpointer = t.app.get(SqliteCheckpointer);
    await eventually(async () => ((await autocheckpoint(ds)) === BACKSTOP_FRAMES ? true : null), 5_000);
    await (checkpointer as unknown as { worker: Worker }).worker.terminate();
    await eventually(async () => (!checkpointer.running && (await autocheckpoint(ds)) === 1000 ? true : null), 5_000);
  });

  it('logs a failure that repeats on every pass once, then at doubling intervals up to a minute, and the recovery once', async () => {
    const logger = new CapturingLogger();
    t = await startTestApp({ db: 'sqlite', webhooks: WEBHOOKS, logger });
    // The thread's reports are emitted here as it sends them: a real disk that fails and then
    // recovers on cue is not something a test can make.
    const worker = (t.app.get(SqliteCheckpointer) as unknown as { worker: Worker }).worker;
    let now = Date.now();
    const clock = jest.spyOn(Date, 'now').mockImplementation(() => now);
    const mark = logger.lines.length;
    try {
      // Ten minutes of a pass failing every 100 ms.
      for (let i = 0; i < 6000; i++, now += 100) worker.emit('message', { type: 'failed', error: 'disk I/O error' });
      worker.emit('message', { type: 'recovered' });
      worker.emit('message', { type: 'recovered' });
    } finally {
      clock.mockRestore();
    }
    const warnings = logger.since(mark, 'warn');
    // At 0, 1, 3, 7, 15, 31 and 63 s, then every minute: 123, 183, … 543 s.
    expect(warnings).toHaveLength(15);
    expect(warnings[0]).toBe('Background SQLite checkpoints fail: disk I/O error');
    expect(warnings[1]).toBe(
      'Background SQLite checkpoints fail (10 failed passes since the last report): disk I/O error',
    );
    expect(warnings.at(-1)).toBe(
      'Background SQLite checkpoints fail (600 failed passes since the last report): disk I/O error',
    );
    expect(logger.since(mark, 'log')).toEqual(['Background SQLite checkpoints work again, after 6000 failed passes.']);
  });

  it("leaves SQLite's own checkpoints alone with sqliteCheckpoint: 'inline'", async () => {
    t = await startTestApp({ db: 'sqlite', webhooks: { ...WEBHOOKS, sqliteCheckpoint: 'inline' } });
    expect(t.app.get(SqliteCheckpointer).running).toBe(false);
    expect(await autocheckpoint(t.app.get(DataSource))).toBe(1000);
  });

  it('leaves an app that set its own wal_autocheckpoint alone', async () => {
    const db = await createTestDatabase('sqlite');
    const prepareDatabase = (conn: { pragma(s: string): unknown }) => (
      conn.pragma('journal_mode = WAL'),
      conn.pragma('wal_autocheckpoint = 4000')
    );
    t = withDrop(
      await startTestApp({
        db: { ...db, options: { ...db.options, prepareDatabase } as typeof db.options },
        webhooks: WEBHOOKS,
      }),
      db,
    );
    expect(t.app.get(SqliteCheckpointer).running).toBe(false);
    expect(await autocheckpoint(t.app.get(DataSource))).toBe(4000);
  });

  it('starts no thread on a database that is not in WAL mode', async () => {
    const db = await createTestDatabase('sqlite');
    const options = { ...db.options, prepareDatabase: undefined } as typeof db.options;
    t = withDrop(await startTestApp({ db: { ...db, options }, webhooks: WEBHOOKS }), db);
    expect(t.app.get(SqliteCheckpointer).running).toBe(false);
    expect((await t.app.get(DataSource).query('PRAGMA journal_mode'))[0].journal_mode).toBe('delete');
  });
});
