import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { postWebhook } from '../../src/testing/index.js';
import { createTestDatabase, testDatabases } from '../support/databases.js';
import { eventually } from '../support/receiver.js';
import { testPrefix } from '../support/redis.js';
import { PrivateRedis } from '../support/redis-server.js';
import { ADAPTERS, inboxRows, startInboundApp, workerStarted } from './support.js';

const msgId = () => `msg_${randomBytes(8).toString('hex')}`;
const row = async (t: { app: any }, id: string) => (await inboxRows(t.app)).find((r) => r.eventId === id);

describe.each(testDatabases())('queue mode on %s', (kind) => {
  describe.each(ADAPTERS)('over %s', (http) => {
    let t: Awaited<ReturnType<typeof startInboundApp>>;
    beforeAll(async () => {
      t = await startInboundApp({ db: kind, http, inbound: { mode: 'queue', queueAttempts: 2 } });
    });
    afterAll(() => t?.close());

    it('stores and queues the call, answers 202 at once, and runs the handler in the worker', async () => {
      // The handler cannot finish until released: an answer that waited for it would never come.
      let release!: () => void;
      t.handlers.hold = new Promise((resolve) => (release = resolve));
      const id = msgId();
      const res = await postWebhook(t.app, 'partner', { type: 'order.completed', data: { n: 1 } }, { id });
      expect([res.status, res.body.status]).toEqual([202, 'queued']);
      expect((await row(t, id))?.status).toBe('received');
      t.handlers.hold = null;
      release();
      await eventually(async () => (await row(t, id))?.status === 'processed');
      const call = t.handlers.calls.find((c) => c.ctx.id === id)!;
      expect(call.data).toEqual({ n: 1 });
      expect(call.ctx).toMatchObject({ source: 'partner', type: 'order.completed', headers: { 'webhook-id': id } });
      expect(await row(t, id)).toMatchObject({ attempts: 1, lastError: null });
    });

    it('answers a duplicate with 200 and queues nothing more', async () => {
      const id = msgId();
      await postWebhook(t.app, 'partner', { type: 'order.completed', data: {} }, { id }).expect(202);
      const dup = await postWebhook(t.app, 'partner', { type: 'order.completed', data: {} }, { id });
      expect([dup.status, dup.body.status]).toEqual([200, 'duplicate']);
      await eventually(async () => (await row(t, id))?.status === 'processed');
      await new Promise((r) => setTimeout(r, 200));
      expect(t.handlers.calls.filter((c) => c.ctx.id === id)).toHaveLength(1);
    });

    it('retries a failed handler with backoff; the inbox shows the failure, then the success', async () => {
      const id = msgId();
      t.handlers.failures.set('fail.once', 1);
      await postWebhook(t.app, 'partner', { type: 'fail.once', data: {} }, { id }).expect(202);
      await eventually(async () => (await row(t, id))?.lastError !== null && (await row(t, id))?.attempts === 1);
      expect((await row(t, id))!.status).toBe('received');
      await eventually(async () => (await row(t, id))?.status === 'processed');
      expect(await row(t, id)).toMatchObject({
        attempts: 2,
        lastError: 'RecordingHandlers.misc: planned failure of fail.once',
      });
      expect(t.handlers.calls.filter((c) => c.ctx.id === id)).toHaveLength(2);
    });

    it('marks the call failed once its attempts are used up; a resend queues it again', async () => {
      const id = msgId();
      t.handlers.failures.set('fail.always', 2);
      await postWebhook(t.app, 'partner', { type: 'fail.always', data: {} }, { id }).expect(202);
      await eventually(async () => (await row(t, id))?.status === 'failed');
      expect(await row(t, id)).toMatchObject({
        attempts: 2,
        lastError: 'RecordingHandlers.misc: planned failure of fail.always',
      });
      // The sender (or an operator) sends it again: the released claim is taken and queued anew.
      const again = await postWebhook(t.app, 'partner', { type: 'fail.always', data: {} }, { id });
      expect(again.status).toBe(202);
      await eventually(async () => (await row(t, id))?.status === 'processed');
      expect(await row(t, id)).toMatchObject({ attempts: 3 });
    });

    it('queues a type without handler and lets the worker mark it ignored', async () => {
      const res = await postWebhook(t.app, 'partner', { type: 'nobody.listens', data: {} }).expect(202);
      await eventually(async () => (await row(t, res.body.id))?.status === 'ignored');
    });
  });

  it('splits across processes: an emitter stores and queues, a worker on the same database and Redis runs', async () => {
    const db = await createTestDatabase(kind);
    const prefix = testPrefix();
    const api = await startInboundApp({ db, prefix, role: 'emitter', inbound: { mode: 'queue' } });
    const worker = await startInboundApp({ db, prefix, role: 'worker', inbound: { mode: 'queue' } });
    try {
      const id = msgId();
      await postWebhook(api.app, 'partner', { type: 'order.completed', data: {} }, { id }).expect(202);
      await eventually(async () => (await row(worker, id))?.status === 'processed');
      expect(api.handlers.calls).toHaveLength(0);
      expect(worker.handlers.calls.map((c) => c.ctx.id)).toEqual([id]);
    } finally {
      await worker.close();
      await api.close();
      await db.drop();
    }
  });

  it('while Redis is away: 503 with Retry-After and the claim released; resent once Redis is back, the handler runs once', async () => {
    const redis = await PrivateRedis.start();
    const t = await startInboundApp({ db: kind, redisUrl: redis.url, inbound: { mode: 'queue' } });
    try {
      await workerStarted(t.app);
      await redis.stop();
      const id = msgId();
      const event = { type: 'order.completed', data: { n: 7 } };
      const res = await postWebhook(t.app, 'partner', event, { id });
      expect([res.status, res.headers['retry-after'], res.headers['content-type']]).toEqual([
        503,
        '5',
        expect.stringMatching(/^application\/problem\+json/),
      ]);
      expect(JSON.parse(res.text)).toMatchObject({ code: 'inbox_unavailable', status: 503 });
      // Stored, and released for the sender's retry.
      expect(await row(t, id)).toMatchObject({
        status: 'failed',
        attempts: 0,
        lastError: expect.stringContaining('Redis'),
      });
      await redis.start();
      // A sender retries until it gets a 2xx (ioredis reconnects within a couple of seconds). Bull
      // may also run the job the first call queued while Redis was away, once it reconnects: the
      // row id is the job id and the worker skips a processed row, so the handler still runs once.
      await eventually(
        async () => {
          const again = await postWebhook(t.app, 'partner', event, { id });
          return again.status === 202 || again.status === 200;
        },
        20_000,
        500,
      );
      await eventually(async () => (await row(t, id))?.status === 'processed');
      await new Promise((r) => setTimeout(r, 1_500));
      expect(t.handlers.calls.filter((c) => c.ctx.id === id).map((c) => c.data)).toEqual([{ n: 7 }]);
    } finally {
      await t.close();
      await redis.stop();
    }
  }, 60_000);
});
