import { getQueueToken } from '@nestjs/bull';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Queue } from 'bull';
import { DataSource, In, IsNull, Not } from 'typeorm';
import { WebhookDelivery } from '../../src/database/entities/webhook-delivery.entity.js';
import { OutboxRelay } from '../../src/outbound/outbox.relay.js';
import { WebhookService } from '../../src/outbound/webhook.service.js';
import { WEBHOOKS_QUEUE } from '../../src/webhooks.constants.js';
import { FAST_OUTBOUND, startTestApp, type TestApp } from '../support/app.js';
import { testDatabases } from '../support/databases.js';
import { eventually, Receiver } from '../support/receiver.js';

// Timers off: the test decides when the reconciler looks.
const OUTBOUND = { ...FAST_OUTBOUND, relayIntervalMs: 3_600_000, reconcileIntervalMs: 3_600_000 };

describe.each(testDatabases())('reconciler on %s', (kind) => {
  let t: TestApp;
  let receiver: Receiver;

  beforeAll(async () => {
    receiver = await new Receiver().start();
    t = await startTestApp({ db: kind, webhooks: { outbound: OUTBOUND } });
  });
  afterAll(async () => {
    await t?.close();
    await receiver?.stop();
  });

  it('does not re-add a delivery whose job finished between its scan and its job check', async () => {
    const svc = t.app.get(WebhookService);
    const outbox = t.app.get(OutboxRelay);
    const queue = t.app.get<Queue>(getQueueToken(WEBHOOKS_QUEUE));
    const rows = t.app.get(DataSource).getRepository(WebhookDelivery);
    await svc.createEndpoint({ url: receiver.url('/reconcile'), customerId: 'reconcile' });

    // Two deliveries whose jobs wait in a paused queue, both pending and enqueued long ago.
    await queue.pause();
    const [done] = (await svc.send('rec.done', {}, { customerId: 'reconcile' })).deliveryIds;
    const [vanished] = (await svc.send('rec.vanished', {}, { customerId: 'reconcile' })).deliveryIds;
    for (const id of [done, vanished])
      await eventually(async () => (await rows.findOneByOrFail({ id })).enqueuedAt !== null);
    await rows.update([done, vanished], { enqueuedAt: new Date(Date.now() - 7_200_000) });

    // The reconciler's scan sees both pending...
    const olderThan = Date.now() - OUTBOUND.relayIntervalMs;
    const snapshot = await outbox.scanPending(olderThan);
    expect(snapshot).toEqual(expect.arrayContaining([done, vanished]));

    // ...then one job vanishes from Redis, and the worker really delivers the other (its job
    // removed on completion) before the reconciler checks the jobs.
    await (await queue.getJob(vanished))!.remove();
    await queue.resume();
    await eventually(async () => (await rows.findOneByOrFail({ id: done })).status === 'succeeded');
    await eventually(async () => (await queue.getJob(done)) === null);

    expect(await outbox.reenqueueLost(snapshot, olderThan)).toBe(1);
    expect(await queue.getJob(done)).toBeNull();
    await eventually(async () => (await rows.findOneByOrFail({ id: vanished })).status === 'succeeded');
    const ids = receiver.requests.filter((r) => r.url === '/reconcile').map((r) => JSON.parse(r.body).type);
    expect(ids.sort()).toEqual(['rec.done', 'rec.vanished']);
  });

  it('tells live, vanished and failed jobs apart across a whole page, each row by its own job', async () => {
    const svc = t.app.get(WebhookService);
    const outbox = t.app.get(OutboxRelay);
    const queue = t.app.get<Queue>(getQueueToken(WEBHOOKS_QUEUE));
    const rows = t.app.get(DataSource).getRepository(WebhookDelivery);
    await svc.createEndpoint({ url: receiver.url('/page'), customerId: 'page' });
    const ids: string[] = [];
    await queue.pause();
    try {
      // 30 deliveries waiting in the paused queue; every third job vanishes, every fifth that
      // is left is failed by Bull (as a job that stalled too often is), the rest stay live.
      for (let i = 0; i < 30; i++) ids.push(...(await svc.send('rec.page', { i }, { customerId: 'page' })).deliveryIds);
      await eventually(async () => (await rows.countBy({ id: In(ids), enqueuedAt: Not(IsNull()) })) === 30);
      await rows.update(ids, { enqueuedAt: new Date(Date.now() - 7_200_000) });
      const vanished = ids.filter((_, i) => i % 3 === 0);
      const failed = ids.filter((_, i) => i % 3 !== 0 && i % 5 === 0);
      for (const id of vanished) await (await queue.getJob(id))!.remove();
      for (const id of failed)
        await queue.client
          .multi()
          .lrem(queue.toKey('paused'), 0, id)
          .zadd(queue.toKey('failed'), Date.now(), id)
          .exec();

      const olderThan = Date.now() - OUTBOUND.relayIntervalMs;
      const page = (await outbox.scanPending(olderThan)).filter((id) => ids.includes(id));
      expect(page.sort()).toEqual([...ids].sort());
      expect(await outbox.reenqueueLost(page, olderThan)).toBe(vanished.length + failed.length);
      // Every row has one job again, waiting; none of the live ones was touched or doubled.
      const waiting = (await queue.getJobs(['paused', 'waiting'])).map((j) => String(j.id));
      expect(waiting.filter((id) => ids.includes(id)).sort()).toEqual([...ids].sort());
      expect(await queue.getJobs(['failed'])).toEqual([]);
      const live = ids.filter((id) => !vanished.includes(id) && !failed.includes(id));
      expect(await outbox.reenqueueLost(live, olderThan)).toBe(0);
    } finally {
      await queue.resume();
    }
    await eventually(async () => (await rows.countBy({ id: In(ids), status: 'succeeded' })) === 30);
    const sent = receiver.requests.filter((r) => r.url === '/page').map((r) => JSON.parse(r.body).data.i);
    expect(sent.sort((a, b) => a - b)).toEqual(Array.from({ length: 30 }, (_, i) => i));
  });
});
