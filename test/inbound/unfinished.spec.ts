import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { Logger } from '@nestjs/common';
import { randomBytes } from 'node:crypto';
import { DataSource } from 'typeorm';
import { request } from 'undici';
import { WebhookInboxEntry } from '../../src/database/entities/webhook-inbox.entity.js';
import { newId } from '../../src/database/ids.js';
import { CLAIM_LEASE_MS } from '../../src/inbound/inbox.store.js';
import { inboundMessages } from '../../src/inbound/inbound.messages.js';
import { postWebhook, signWebhook } from '../../src/testing/index.js';
import { migrate } from '../support/app.js';
import { exited, message, reapChildren, startChild } from '../support/child.js';
import { createTestDatabase, testDatabases, type DbKind, type TestDatabase } from '../support/databases.js';
import { eventually } from '../support/receiver.js';
import { deletePrefix, REDIS_URL, testPrefix } from '../support/redis.js';
import { inboxRows, SOURCES, startInboundApp } from './support.js';

/**
 * A process that dies while its handlers run (a crash, an OOM kill) leaves its claim `received`.
 * SQLite serves one process, so the next boot releases that row and the sender's retry runs it;
 * on PostgreSQL another process may still be running it, so the row waits for its lease. In queue
 * mode the job is Bull's: the next worker finds it stalled and runs it.
 */
describe.each(testDatabases())('a run whose process died, on %s', (kind) => {
  let db: TestDatabase;
  let prefix: string;
  let queuePrefix: string;
  let t: Awaited<ReturnType<typeof startInboundApp>> | undefined;
  let queued: Awaited<ReturnType<typeof startInboundApp>> | undefined;
  beforeAll(async () => {
    db = await createTestDatabase(kind);
    await migrate(db);
    prefix = testPrefix();
    queuePrefix = testPrefix();
  });
  afterAll(async () => {
    await reapChildren();
    await t?.close();
    await queued?.close();
    await deletePrefix(prefix);
    await deletePrefix(queuePrefix);
    await db?.drop();
  });

  const sqlite = kind !== 'postgres';
  it(
    sqlite
      ? "is released at the next boot (failed, the run counted), so the sender's retry runs it"
      : 'keeps its claim through the next boot (another process may be running it): a retry within the lease is a duplicate',
    async () => {
      const child = await startChild({
        action: 'receive-then-die',
        db: db.options,
        redisUrl: REDIS_URL,
        prefix,
        webhooks: { role: 'emitter', inbound: { sources: { partner: SOURCES.partner } } },
      });
      const { port } = await message<{ port: number }>(child, (m) => m.ready);
      const id = `msg_${randomBytes(8).toString('hex')}`;
      const payload = { type: 'order.completed', data: { order: randomBytes(4).toString('hex') } };
      const signed = signWebhook({ scheme: 'standard', secret: SOURCES.partner.secrets[0], payload, id });
      const answer = request(`http://127.0.0.1:${port}/webhooks/partner`, {
        method: 'POST',
        headers: signed.headers,
        body: signed.body,
      }).then(
        (res) => res.statusCode,
        (err: Error) => err.name,
      );
      await message(child, (m) => m.handling === id);
      expect((await exited(child)).signal).toBe('SIGKILL');
      // The sender got no answer: it will retry.
      expect(await answer).not.toBe(200);

      // A claim older than the lease (and the minute more the boot looks back): a retry takes it
      // already, and the boot's id range does not reach it.
      const old = Date.now() - CLAIM_LEASE_MS - 2 * 60_000;
      const oldId = newId('in', old);
      const direct = new DataSource({ ...db.options, entities: [WebhookInboxEntry] } as typeof db.options);
      await direct.initialize();
      await direct.getRepository(WebhookInboxEntry).insert({
        id: oldId,
        source: 'partner',
        eventId: `msg_old_${randomBytes(4).toString('hex')}`,
        type: 'order.completed',
        rawBody: '{}',
        headers: {},
        status: 'received',
        attempts: 0,
        receivedAt: new Date(old),
        updatedAt: new Date(old),
      });
      await direct.destroy();

      const warn = jest.spyOn(Logger.prototype, 'warn');
      t = await startInboundApp({ db, http: 'express', prefix });
      const released = warn.mock.calls.filter(([m]) => m === inboundMessages.releasedUnfinished(1));
      warn.mockRestore();
      expect(released).toHaveLength(sqlite ? 1 : 0);
      const left = (await inboxRows(t.app)).find((r) => r.eventId === id);
      if (sqlite) {
        expect(left).toMatchObject({ status: 'failed', attempts: 1, lastError: inboundMessages.unfinishedRun() });
      } else {
        expect(left).toMatchObject({ status: 'received', attempts: 0 });
      }

      expect((await inboxRows(t.app)).find((r) => r.id === oldId)).toMatchObject({ status: 'received', attempts: 0 });

      const retry = await postWebhook(t.app, 'partner', payload, { id });
      expect([retry.status, retry.body.status]).toEqual(sqlite ? [200, 'processed'] : [200, 'duplicate']);
      expect(t.handlers.calls.filter((c) => c.ctx.id === id)).toHaveLength(sqlite ? 1 : 0);
      const after = (await inboxRows(t.app)).find((r) => r.eventId === id);
      expect(after).toMatchObject(sqlite ? { status: 'processed', attempts: 2 } : { status: 'received', attempts: 0 });
    },
  );

  it('in queue mode, is run by the next worker once Bull finds its job stalled', async () => {
    // Short locks, so the dead worker's job is found stalled within a second.
    const bullSettings = { lockDuration: 1_000, stalledInterval: 500 };
    const child = await startChild({
      action: 'receive-then-die',
      db: db.options,
      redisUrl: REDIS_URL,
      prefix: queuePrefix,
      bullSettings,
      webhooks: { inbound: { mode: 'queue', sources: { partner: SOURCES.partner } } },
    });
    const { port } = await message<{ port: number }>(child, (m) => m.ready);
    const id = `msg_${randomBytes(8).toString('hex')}`;
    const payload = { type: 'order.completed', data: { order: randomBytes(4).toString('hex') } };
    const signed = signWebhook({ scheme: 'standard', secret: SOURCES.partner.secrets[0], payload, id });
    // 202 once queued, unless the worker's SIGKILL comes first: either way the row is committed.
    void request(`http://127.0.0.1:${port}/webhooks/partner`, {
      method: 'POST',
      headers: signed.headers,
      body: signed.body,
    }).catch(() => undefined);
    await message(child, (m) => m.handling === id);
    expect((await exited(child)).signal).toBe('SIGKILL');

    queued = await startInboundApp({
      db,
      http: 'express',
      prefix: queuePrefix,
      bullSettings,
      inbound: { mode: 'queue' },
    });
    const row = await eventually(async () => {
      const found = (await inboxRows(queued!.app)).find((r) => r.eventId === id);
      return found?.status === 'processed' ? found : null;
    }, 15_000);
    expect(row).toMatchObject({ status: 'processed', attempts: 1 });
    expect(queued.handlers.calls.filter((c) => c.ctx.id === id)).toHaveLength(1);
  });
});

// The lock that guards this is better-sqlite3's ('sqlite'); typeorm 0.3's sqlite3 has none (docs/inbound.md).
const lockedKinds = testDatabases().filter((kind) => kind === 'sqlite');
(lockedKinds.length ? describe.each(lockedKinds) : describe.skip.each<DbKind>(['sqlite']))(
  'a second process on the same SQLite file (%s)',
  (kind) => {
    it('does not release the rows the first is still running, which the first then finishes once', async () => {
      const db = await createTestDatabase(kind);
      const prefix = testPrefix();
      let first: Awaited<ReturnType<typeof startInboundApp>> | undefined;
      let second: Awaited<ReturnType<typeof startInboundApp>> | undefined;
      let release!: () => void;
      try {
        first = await startInboundApp({ db, prefix });
        first.handlers.hold = new Promise((resolve) => (release = resolve));
        const id = `msg_${randomBytes(8).toString('hex')}`;
        const answer = postWebhook(first.app, 'partner', { type: 'order.completed', data: {} }, { id }).then(
          (res) => res.status,
        );
        await eventually(() => first!.handlers.calls.some((c) => c.ctx.id === id));

        // Another process (a deploy overlapping the old one) boots on the same file meanwhile.
        second = await startInboundApp({ db, prefix, skipMigrations: true });
        expect((await inboxRows(second.app)).find((r) => r.eventId === id)).toMatchObject({
          status: 'received',
          attempts: 0,
        });
        // The first process finishes its run: the row is processed once, and no retry runs it again.
        first.handlers.hold = null;
        release();
        expect(await answer).toBe(200);
        expect((await inboxRows(second.app)).find((r) => r.eventId === id)).toMatchObject({
          status: 'processed',
          attempts: 1,
        });
        expect(
          (await postWebhook(second.app, 'partner', { type: 'order.completed', data: {} }, { id })).body.status,
        ).toBe('duplicate');
      } finally {
        release?.();
        await second?.close();
        await first?.close();
        await db.drop();
      }
    });
  },
);
