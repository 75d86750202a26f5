import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { DataSource } from 'typeorm';
import { WebhookService } from '../../src/outbound/webhook.service.js';
import { TransactionRunner } from '../../src/transaction.runner.js';
import { FAST_OUTBOUND, startTestApp, type TestApp } from '../support/app.js';
import { type DbKind, testDatabases } from '../support/databases.js';
import { eventually } from '../support/receiver.js';

const sqliteKinds = testDatabases().filter((kind) => kind !== 'postgres');

/**
 * TypeORM's SQLite drivers share one connection between the module and the app. The module's
 * transactions are isolated from the app's work on it.
 */
(sqliteKinds.length ? describe.each(sqliteKinds) : describe.skip.each<DbKind>(['sqlite']))('the shared SQLite connection on %s', (kind) => {
  let t: TestApp;
  let ds: DataSource;
  let svc: WebhookService;
  const count = async (sql: string, params: unknown[] = []) => Number((await ds.query(sql, params))[0].n);

  beforeAll(async () => {
    t = await startTestApp({ db: kind, webhooks: { role: 'emitter', outbound: FAST_OUTBOUND } });
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
});
