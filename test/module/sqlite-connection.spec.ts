import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { DataSource } from 'typeorm';
import { WebhookMessage } from '../../src/database/entities/webhook-message.entity.js';
import { WebhookService } from '../../src/outbound/webhook.service.js';
import { TransactionRunner } from '../../src/database/transaction.runner.js';
import { messages } from '../../src/webhooks.messages.js';
import { FAST_OUTBOUND, startTestApp, type TestApp } from '../support/app.js';
import { type DbKind, testDatabases } from '../support/databases.js';
import { eventually } from '../support/receiver.js';

const WAIT_MS = 500;
const sqliteKinds = testDatabases().filter((kind) => kind !== 'postgres');

/**
 * TypeORM's SQLite drivers share one connection between the module and the app. The module's
 * transactions are isolated from the app's work on it, and a send that can never get the
 * connection (the caller's own transaction holds it) fails clearly instead of waiting forever.
 */
(sqliteKinds.length ? describe.each(sqliteKinds) : describe.skip.each<DbKind>(['sqlite']))(
  'the shared SQLite connection on %s',
  (kind) => {
    let t: TestApp;
    let ds: DataSource;
    let svc: WebhookService;
    const count = async (sql: string, params: unknown[] = []) => Number((await ds.query(sql, params))[0].n);

    beforeAll(async () => {
      t = await startTestApp({
        db: kind,
        webhooks: { sqliteWaitMs: WAIT_MS, role: 'emitter', outbound: FAST_OUTBOUND },
      });
      ds = t.app.get(DataSource);
      svc = t.app.get(WebhookService);
      await ds.query('CREATE TABLE scratch (id varchar PRIMARY KEY)');
      await svc.createEndpoint({ url: 'https://example.com/hook', customerId: 'sqlite' });
    });
    afterAll(async () => t?.close());

    it("the app's reads and transactions wait for the module's open transaction: no uncommitted rows seen, nothing nested in it", async () => {
      let opened = false;
      let release!: () => void;
      const held = new Promise<void>((resolve) => (release = resolve));
      const moduleTx = t.app.get(TransactionRunner).run(async (m) => {
        await m.query("INSERT INTO scratch (id) VALUES ('module-row')");
        opened = true;
        await held; // an asynchronous driver spans event-loop turns like this between statements
        throw new Error('the module rolled back');
      });
      await eventually(() => opened);
      const read = count("SELECT COUNT(*) AS n FROM scratch WHERE id = 'module-row'");
      const appTx = ds.transaction((m) => m.query("INSERT INTO scratch (id) VALUES ('app-row')"));
      await new Promise((r) => setTimeout(r, 50));
      release();
      await expect(moduleTx).rejects.toThrow('the module rolled back');
      expect(await read).toBe(0);
      await appTx;
      expect(await count('SELECT COUNT(*) AS n FROM scratch')).toBe(1);
      expect(await count("SELECT COUNT(*) AS n FROM scratch WHERE id = 'app-row'")).toBe(1);
    });

    it("send() without { manager } inside the app's own transaction fails after sqliteWaitMs, saying to pass the manager", async () => {
      const started = Date.now();
      const attempt = ds.transaction(async (m) => {
        await m.query("INSERT INTO scratch (id) VALUES ('deadlocked')");
        await svc.send('sqlite.deadlock', { n: 1 }, { customerId: 'sqlite' });
      });
      await expect(attempt).rejects.toThrow(messages.sqliteTransactionOpen(WAIT_MS));
      expect(Date.now() - started).toBeLessThan(WAIT_MS + 2_000);
      expect(((await attempt.catch((e: unknown) => e)) as Error).message).toMatch(
        /pass that transaction's manager: send\(type, data, \{ manager: m \}\)/,
      );
      // Rolled back, nothing half-written; the module and the connection work on afterwards.
      expect(await count("SELECT COUNT(*) AS n FROM scratch WHERE id = 'deadlocked'")).toBe(0);
      expect(await ds.getRepository(WebhookMessage).countBy({ type: 'sqlite.deadlock' })).toBe(0);
      await ds.transaction(async (m) => {
        await m.query("INSERT INTO scratch (id) VALUES ('with-manager')");
        await svc.send('sqlite.deadlock', { n: 2 }, { customerId: 'sqlite', manager: m });
      });
      expect((await svc.send('sqlite.deadlock', { n: 3 }, { customerId: 'sqlite' })).deliveryIds).toHaveLength(1);
      expect(await ds.getRepository(WebhookMessage).countBy({ type: 'sqlite.deadlock' })).toBe(2);
    });
  },
);
