import { afterAll, afterEach, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { Logger } from '@nestjs/common';
import { randomBytes } from 'node:crypto';
import { DataSource } from 'typeorm';
import { CLAIM_LEASE_MS } from '../../src/inbound/inbox.store.js';
import { inboundMessages } from '../../src/inbound/inbound.messages.js';
import { postWebhook } from '../../src/testing/index.js';
import { createTestDatabase, PG_URL, testDatabases, type TestDatabase } from '../support/databases.js';
import { ADAPTERS, inboxRows, startInboundApp } from './support.js';

const msgId = () => `msg_${randomBytes(8).toString('hex')}`;
const order = (type = 'order.completed') => ({ type, data: { order: randomBytes(4).toString('hex') } });

/** Makes the inbox unwritable for real: PostgreSQL refuses connections, SQLite is locked by another writer. */
async function storageDown(db: TestDatabase): Promise<() => Promise<void>> {
  if (db.kind === 'postgres') {
    const name = new URL((db.options as { url: string }).url).pathname.slice(1);
    const admin = new DataSource({ type: 'postgres', url: `${PG_URL}/postgres` });
    await admin.initialize();
    await admin.query(`ALTER DATABASE ${name} ALLOW_CONNECTIONS false`);
    await admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1', [name]);
    // Termination is a signal: under load a backend can outlive this call and drop a connection
    // the app takes after the restore. Wait until they are gone.
    for (let i = 0; i < 100; i++) {
      const [{ n }] = await admin.query('SELECT COUNT(*)::int AS n FROM pg_stat_activity WHERE datname = $1', [name]);
      if (n === 0) break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    return async () => {
      await admin.query(`ALTER DATABASE ${name} ALLOW_CONNECTIONS true`);
      await admin.destroy();
    };
  }
  // A second connection to the same file holds the write lock.
  const other = new DataSource({ ...db.options, timeout: 200 } as typeof db.options);
  await other.initialize();
  await other.query('BEGIN EXCLUSIVE');
  return async () => {
    await other.query('ROLLBACK');
    await other.destroy();
  };
}

describe.each(testDatabases())('inbox and dispatch on %s', (kind) => {
  describe.each(ADAPTERS)('over %s', (http) => {
    let t: Awaited<ReturnType<typeof startInboundApp>>;
    let db: TestDatabase;
    beforeAll(async () => {
      db = await createTestDatabase(kind);
      // A short busy timeout, so a locked SQLite file fails fast instead of after 5 s.
      if (kind !== 'postgres') db.options = { ...db.options, timeout: 200 } as typeof db.options;
      t = await startInboundApp({ db, http });
    });
    afterAll(async () => {
      await t?.close();
      await db?.drop();
    });
    afterEach(() => {
      t.handlers.delayMs = 0;
      jest.restoreAllMocks();
    });

    it('runs a sequential duplicate no more: 200 both times, one handler run, one row', async () => {
      const id = msgId();
      const payload = order();
      const first = await postWebhook(t.app, 'partner', payload, { id });
      const second = await postWebhook(t.app, 'partner', payload, { id });
      expect([first.status, first.body.status, second.status, second.body.status]).toEqual([
        200,
        'processed',
        200,
        'duplicate',
      ]);
      expect(t.handlers.calls.filter((c) => c.ctx.id === id)).toHaveLength(1);
      expect((await inboxRows(t.app)).filter((r) => r.eventId === id)).toHaveLength(1);
    });

    it('runs concurrent duplicates once: every answer 2xx', async () => {
      const id = msgId();
      const payload = order();
      t.handlers.delayMs = 300;
      const answers = await Promise.all(
        Array.from({ length: 8 }, () => postWebhook(t.app, 'partner', payload, { id })),
      );
      expect(answers.map((a) => a.status)).toEqual(Array(8).fill(200));
      expect(answers.filter((a) => a.body.status === 'processed')).toHaveLength(1);
      expect(t.handlers.calls.filter((c) => c.ctx.id === id)).toHaveLength(1);
      const rows = (await inboxRows(t.app)).filter((r) => r.eventId === id);
      expect(rows.map((r) => r.status)).toEqual(['processed']);
    });

    it('answers 500 when a handler throws, releases the claim, and runs it again on retry', async () => {
      const id = msgId();
      t.handlers.failures.set('fail.once', 1);
      const failed = await postWebhook(t.app, 'partner', order('fail.once'), { id });
      expect(failed.status).toBe(500);
      expect(JSON.parse(failed.text)).toMatchObject({ code: 'handler_failed', status: 500 });
      expect(failed.text).not.toContain('planned failure');
      let row = (await inboxRows(t.app)).find((r) => r.eventId === id)!;
      expect(row).toMatchObject({
        status: 'failed',
        attempts: 1,
        lastError: 'RecordingHandlers.misc: planned failure of fail.once',
      });

      const retried = await postWebhook(t.app, 'partner', order('fail.once'), { id });
      expect([retried.status, retried.body.status]).toEqual([200, 'processed']);
      expect(t.handlers.calls.filter((c) => c.ctx.id === id)).toHaveLength(2);
      row = (await inboxRows(t.app)).find((r) => r.eventId === id)!;
      expect(row).toMatchObject({ status: 'processed', attempts: 2 });
      expect(row.processedAt).toBeInstanceOf(Date);
    });

    it('retakes a claim whose run never finished once the lease is over', async () => {
      const id = msgId();
      await postWebhook(t.app, 'partner', order(), { id }).expect(200);
      // As if the process died mid-run: the row stays "received" with an old timestamp.
      const stale = Date.now() - CLAIM_LEASE_MS - 1000;
      const ds = t.app.get(DataSource);
      const sql = `UPDATE webhook_inbox SET status = 'received', updated_at = ${stale} WHERE event_id = '${id}'`;
      await ds.query(sql);
      const again = await postWebhook(t.app, 'partner', order(), { id });
      expect(again.body.status).toBe('processed');
      expect(t.handlers.calls.filter((c) => c.ctx.id === id)).toHaveLength(2);
    });

    it('runs every handler of an event, and a method with two matching decorators once', async () => {
      const res = await postWebhook(t.app, 'partner', order(), {}).expect(200);
      expect(t.handlers.calls.filter((c) => c.ctx.id === res.body.id).map((c) => c.handler)).toEqual([
        'orderCompleted',
      ]);
      expect(t.audit.seen).toContain(res.body.id);

      const paid = await postWebhook(t.app, 'stripe', { id: `evt_${msgId()}`, type: 'invoice.paid', data: {} }).expect(
        200,
      );
      expect(t.handlers.calls.filter((c) => c.ctx.id === paid.body.id).map((c) => c.handler)).toEqual(['billing']);
    });

    it('matches prefix.* and * and honours the source of a rule', async () => {
      const created = await postWebhook(t.app, 'stripe', {
        id: `evt_${msgId()}`,
        type: 'invoice.created',
        data: {},
      }).expect(200);
      expect(created.body.status).toBe('processed');
      // `invoice.*` is for stripe only: from another source the type has no handler.
      const elsewhere = await postWebhook(t.app, 'partner', { type: 'invoice.created', data: {} }).expect(200);
      expect(elsewhere.body.status).toBe('ignored');
      const ping = await postWebhook(t.app, 'github', { zen: 'hi' }, { type: 'ping' }).expect(200);
      expect(t.handlers.calls.find((c) => c.ctx.id === ping.body.id)?.handler).toBe('github');
    });

    it('hands (data, ctx) to handlers: data is the payload data, ctx the whole call', async () => {
      const payload = { type: 'order.completed', timestamp: '2024-01-01T00:00:00Z', data: { order: 'o-1', total: 5 } };
      const res = await postWebhook(t.app, 'partner', payload, {
        headers: { authorization: 'Bearer app-token', cookie: 'sid=1' },
      });
      const call = t.handlers.calls.find((c) => c.ctx.id === res.body.id)!;
      expect(call.data).toEqual({ order: 'o-1', total: 5 });
      expect(call.ctx).toMatchObject({ id: res.body.id, type: 'order.completed', source: 'partner', payload });
      expect(call.ctx.receivedAt).toBeInstanceOf(Date);
      expect(Object.keys(call.ctx.headers).sort()).toEqual([
        'content-type',
        'webhook-id',
        'webhook-signature',
        'webhook-timestamp',
      ]);
    });

    it('answers 2xx for a type without handler, stores it as ignored and logs it', async () => {
      const log = jest.spyOn(Logger.prototype, 'log');
      const res = await postWebhook(t.app, 'partner', { type: 'nobody.listens', data: {} });
      expect([res.status, res.body.status]).toEqual([200, 'ignored']);
      const row = (await inboxRows(t.app)).find((r) => r.eventId === res.body.id)!;
      expect(row.status).toBe('ignored');
      expect(log).toHaveBeenCalledWith(inboundMessages.ignored('partner', 'nobody.listens', res.body.id));
      const again = await postWebhook(t.app, 'partner', { type: 'nobody.listens', data: {} }, { id: res.body.id });
      expect(again.body.status).toBe('duplicate');
    });

    it('writes the inbox outside a transaction the app holds open: its rollback keeps the row', async () => {
      const runner = t.app.get(DataSource).createQueryRunner();
      await runner.startTransaction();
      await runner.query('SELECT COUNT(*) FROM webhook_inbox');
      const id = msgId();
      const answer = postWebhook(t.app, 'partner', order(), { id }).then((res) => res);
      await new Promise((resolve) => setTimeout(resolve, 150));
      await runner.rollbackTransaction();
      await runner.release();
      const res = await answer;
      expect([res.status, res.body.status]).toEqual([200, 'processed']);
      expect((await inboxRows(t.app)).filter((r) => r.eventId === id).map((r) => r.status)).toEqual(['processed']);
    });

    it('answers 503 with Retry-After while the inbox cannot be written, and recovers', async () => {
      const before = t.handlers.calls.length;
      const restore = await storageDown(db);
      try {
        const res = await postWebhook(t.app, 'partner', order());
        expect(res.status).toBe(503);
        expect(res.headers['retry-after']).toBe('5');
        expect(JSON.parse(res.text)).toMatchObject({ code: 'inbox_unavailable', status: 503 });
        expect(t.handlers.calls.length).toBe(before);
      } finally {
        await restore();
      }
      expect((await postWebhook(t.app, 'partner', order())).status).toBe(200);
    });
  });
});
