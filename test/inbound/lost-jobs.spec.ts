import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { getQueueToken } from '@nestjs/bull';
import type { Queue } from 'bull';
import { randomBytes } from 'node:crypto';
import { InboundProcessor } from '../../src/inbound/inbound.processor.js';
import { postWebhook } from '../../src/testing/index.js';
import { WEBHOOKS_QUEUE } from '../../src/webhooks.constants.js';
import { createTestDatabase, testDatabases, type TestDatabase } from '../support/databases.js';
import { eventually } from '../support/receiver.js';
import { deletePrefix, testPrefix } from '../support/redis.js';
import { inboxRows, startInboundApp } from './support.js';

const msgId = () => `msg_${randomBytes(8).toString('hex')}`;
const row = async (t: { app: any }, id: string) => (await inboxRows(t.app)).find((r) => r.eventId === id);

describe.each(testDatabases())('queue mode, a job Redis lost, on %s', (kind) => {
  let db: TestDatabase;
  const prefix = testPrefix();
  beforeAll(async () => {
    db = await createTestDatabase(kind);
  });
  afterAll(async () => {
    await deletePrefix(prefix);
    await db?.drop();
  });

  it('is queued again by the reconciler: an accepted (202) call still runs its handler, once', async () => {
    // An API process accepts the call; no worker is running yet.
    const api = await startInboundApp({ db, prefix, role: 'emitter', inbound: { mode: 'queue' } });
    let worker: Awaited<ReturnType<typeof startInboundApp>> | undefined;
    try {
      const id = msgId();
      await postWebhook(api.app, 'partner', { type: 'order.completed', data: { n: 1 } }, { id }).expect(202);
      const queue = api.app.get<Queue>(getQueueToken(WEBHOOKS_QUEUE), { strict: false });
      const rowId = (await row(api, id))!.id;
      expect(await queue.getJob(rowId)).not.toBeNull();
      // Redis loses every job of the queue (a restart without persistence).
      await deletePrefix(prefix);
      expect(await queue.getJob(rowId)).toBeNull();

      worker = await startInboundApp({
        db,
        prefix,
        role: 'worker',
        inbound: { mode: 'queue', reconcileIntervalMs: 100 },
      });
      await eventually(async () => (await row(worker!, id))?.status === 'processed', 15_000);
      // Later passes find nothing more to queue: the handler ran once.
      expect(await worker.app.get(InboundProcessor).reconcile(Date.now() + 60_000)).toBe(0);
      expect(worker.handlers.calls.filter((c) => c.ctx.id === id).map((c) => c.data)).toEqual([{ n: 1 }]);
    } finally {
      await worker?.close();
      await api.close();
    }
  });

  it('leaves a row whose job is still queued alone, and queues again one whose job was removed', async () => {
    const api = await startInboundApp({ db, prefix, role: 'emitter', inbound: { mode: 'queue' } });
    try {
      const queued = msgId();
      await postWebhook(api.app, 'partner', { type: 'order.completed', data: {} }, { id: queued }).expect(202);
      const processor = api.app.get(InboundProcessor);
      // The job is waiting (no worker): nothing to do.
      expect(await processor.reconcile(Date.now() + 60_000)).toBe(0);
      const queue = api.app.get<Queue>(getQueueToken(WEBHOOKS_QUEUE), { strict: false });
      await (await queue.getJob((await row(api, queued))!.id))!.remove();
      expect(await processor.reconcile(Date.now() + 60_000)).toBe(1);
      expect(await queue.getJob((await row(api, queued))!.id)).not.toBeNull();
    } finally {
      await api.close();
    }
  });
});
