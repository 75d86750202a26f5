import { getQueueToken } from '@nestjs/bull';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Queue } from 'bull';
import { DataSource, In, IsNull, Not } from 'typeorm';
import { WebhookDelivery } from '../../src/database/entities/webhook-delivery.entity.js';
import { OutboxRelay } from '../../src/outbound/outbox.relay.js';
import { WebhookService } from '../../src/outbound/webhook.service.js';
import { WEBHOOKS_QUEUE } from '../../src/webhooks.constants.js';
import { messages } from '../../src/webhooks.messages.js';
import { FAST_OUTBOUND, startTestApp, type TestApp } from '../support/app.js';
import { exited, forkChild, message } from '../support/child.js';
import { createTestDatabase, testDatabases, type TestDatabase } from '../support/databases.js';
import { deletePrefix, REDIS_URL, testPrefix } from '../support/redis.js';
import { PrivateRedis } from '../support/redis-server.js';
import { CapturingLogger } from '../support/logger.js';
import { eventually, Receiver } from '../support/receiver.js';

const OUTBOUND = { ...FAST_OUTBOUND, relayIntervalMs: 200, reconcileIntervalMs: 500 };

describe.each(testDatabases())('recovery of committed deliveries on %s', (kind) => {
  let db: TestDatabase;
  let receiver: Receiver;
  const status = (t: TestApp, id: string) =>
    t.app.get(DataSource).getRepository(WebhookDelivery).findOneByOrFail({ id });

  beforeAll(async () => {
    db = await createTestDatabase(kind);
    receiver = await new Receiver().start();
  });
  afterAll(async () => {
    await receiver?.stop();
    await db?.drop();
  });

  it('Redis away: the relay names its address and the error once, then logs at a bounded rate', async () => {
    const redis = await PrivateRedis.start();
    const logger = new CapturingLogger();
    const t = await startTestApp({ db, redisUrl: redis.url, webhooks: { outbound: OUTBOUND }, logger });
    try {
      const svc = t.app.get(WebhookService);
      await svc.createEndpoint({ url: receiver.url('/redis-away'), customerId: 'redis-away' });
      await redis.stop();
      const mark = logger.lines.length;
      await svc.send('redis.away', { n: 1 }, { customerId: 'redis-away' });
      await new Promise((r) => setTimeout(r, 3_000)); // fifteen relay passes
      const address = new URL(redis.url).host;
      const away = logger.since(mark, 'warn').filter((l) => l.startsWith('outbox pass failed: Redis at '));
      expect(away[0]).toMatch(new RegExp(`^outbox pass failed: Redis at ${address} is \\w+ \\(.*ECONNREFUSED`));
      // At once, then after 1 s and 2 s more: never a line per pass.
      expect(away.length).toBeGreaterThanOrEqual(1);
      expect(away.length).toBeLessThanOrEqual(4);
      await redis.start();
      await eventually(
        async () => logger.since(mark, 'log').some((l) => l.startsWith('outbox pass works again')),
        15_000,
      );
    } finally {
      await t.close();
      await redis.stop();
    }
  });

  it('a commit while Redis is down still resolves; the relay delivers once Redis is back', async () => {
    const redis = await PrivateRedis.start();
    const t = await startTestApp({ db, redisUrl: redis.url, webhooks: { outbound: OUTBOUND } });
    try {
      const svc = t.app.get(WebhookService);
      await svc.createEndpoint({ url: receiver.url('/redis-down'), customerId: 'redis-down' });
      await redis.stop();
      const ds = t.app.get(DataSource);
      const inTx = await ds.transaction((m) =>
        svc.send('redis.down', { n: 1 }, { customerId: 'redis-down', manager: m }),
      );
      const plain = await svc.send('redis.down', { n: 2 }, { customerId: 'redis-down' });
      // Committed and waiting. (Not `enqueuedAt: null`: the relay, every 200 ms, claims the rows
      // and hands them back when Redis refuses them, so a read can fall between the two.)
      for (const id of [...inTx.deliveryIds, ...plain.deliveryIds])
        expect((await status(t, id)).status).toBe('pending');
      expect(receiver.requests.filter((r) => r.url === '/redis-down')).toHaveLength(0);
      await redis.start();
      for (const id of [...inTx.deliveryIds, ...plain.deliveryIds]) {
        await eventually(async () => (await status(t, id)).status === 'succeeded', 30_000);
      }
      const ids = receiver.requests.filter((r) => r.url === '/redis-down').map((r) => r.headers['webhook-id']);
      expect(ids.sort()).toEqual([inTx.messageId, plain.messageId].sort());
    } finally {
      await t.close();
      await redis.stop();
    }
  });

  it('an app booted while Redis is down boots at once, takes sends, and delivers them once Redis is back', async () => {
    const redis = await PrivateRedis.start();
    await redis.stop();
    const booting = Date.now();
    const logger = new CapturingLogger();
    const t = await startTestApp({ db, redisUrl: redis.url, webhooks: { outbound: OUTBOUND }, logger });
    try {
      // Nothing at boot waits for Redis (ioredis holds a command while it reconnects).
      expect(Date.now() - booting).toBeLessThan(5_000);
      // But it is said, once Redis has stayed silent for a while.
      const address = new URL(redis.url);
      await eventually(async () =>
        logger.lines.some(
          (l) => l.level === 'warn' && l.message === messages.redisNotAnswering(`${address.hostname}:${address.port}`),
        ),
      );
      const svc = t.app.get(WebhookService);
      await svc.createEndpoint({ url: receiver.url('/booted-down'), customerId: 'booted-down' });
      const sent = await svc.send('redis.down.at.boot', { n: 1 }, { customerId: 'booted-down' });
      expect((await status(t, sent.deliveryIds[0])).status).toBe('pending');
      await redis.start();
      await eventually(async () => (await status(t, sent.deliveryIds[0])).status === 'succeeded', 30_000);
      expect(receiver.requests.filter((r) => r.url === '/booted-down').map((r) => r.headers['webhook-id'])).toEqual([
        sent.messageId,
      ]);
    } finally {
      await t.close();
      await redis.stop();
    }
  });

  it('a process killed between commit and enqueue loses nothing: a new process delivers', async () => {
    const prefix = testPrefix();
    const setup = await startTestApp({ db, prefix, webhooks: { outbound: OUTBOUND, role: 'emitter' } });
    await setup.app.get(WebhookService).createEndpoint({ url: receiver.url('/killed'), customerId: 'killed' });
    await setup.app.close();

    const child = forkChild({
      action: 'commit-then-die',
      db: db.options,
      redisUrl: REDIS_URL,
      prefix,
      webhooks: { outbound: OUTBOUND },
      customerId: 'killed',
    });
    const { deliveryIds } = await message<{ deliveryIds: string[] }>(child, (m) => m.deliveryIds);
    expect(await exited(child)).toEqual({ code: null, signal: 'SIGKILL' });
    expect(child.messages.some((m) => m.survived)).toBe(false);

    const t = await startTestApp({ db, prefix, webhooks: { outbound: OUTBOUND } });
    try {
      expect(deliveryIds).toHaveLength(1);
      // Committed, never enqueued: the row is there and Redis has no job for it.
      expect(await t.app.get<Queue>(getQueueToken(WEBHOOKS_QUEUE)).getJob(deliveryIds[0])).toBeNull();
      await eventually(async () => (await status(t, deliveryIds[0])).status === 'succeeded', 20_000);
      expect(receiver.requests.filter((r) => r.url === '/killed')).toHaveLength(1);
    } finally {
      await t.close();
      await deletePrefix(prefix);
    }
  });

  it('two relays on one database enqueue each delivery exactly once', async () => {
    const prefix = testPrefix();
    // Emitters with a relay that only runs when called, so the test decides when they race.
    const opts = {
      outbound: { ...OUTBOUND, relayIntervalMs: 3_600_000, reconcileIntervalMs: 3_600_000 },
      role: 'emitter' as const,
    };
    const a = await startTestApp({ db, prefix, webhooks: opts });
    const b = await startTestApp({ db, prefix, webhooks: opts });
    try {
      const svc = a.app.get(WebhookService);
      await svc.createEndpoint({ url: receiver.url('/relays'), customerId: 'relays' });
      const all: string[] = [];
      for (let i = 0; i < 600; i++)
        all.push(...(await svc.send('relay.race', { i }, { customerId: 'relays' })).deliveryIds);
      // Make them look like rows whose enqueue never happened, once the real enqueue is over:
      // the enqueued_at marks are written a few ms after send() returns, and a late one would
      // land on the faked state.
      const ds = a.app.get(DataSource);
      const repo = ds.getRepository(WebhookDelivery);
      await eventually(async () => (await repo.countBy({ id: In(all), enqueuedAt: Not(IsNull()) })) === all.length);
      const queue = a.app.get<Queue>(getQueueToken(WEBHOOKS_QUEUE));
      await queue.empty();
      await repo
        .createQueryBuilder()
        .update()
        .set({ enqueuedAt: null, createdAt: new Date(Date.now() - 7_200_000) })
        .whereInIds(all)
        .execute();

      const claimedA: string[] = [];
      const claimedB: string[] = [];
      for (;;) {
        const [ra, rb] = await Promise.all([a.app.get(OutboxRelay).relay(), b.app.get(OutboxRelay).relay()]);
        claimedA.push(...ra);
        claimedB.push(...rb);
        if (ra.length === 0 && rb.length === 0) break;
      }
      expect(claimedA.filter((id) => claimedB.includes(id))).toEqual([]);
      expect([...claimedA, ...claimedB].sort()).toEqual([...all].sort());
      expect(await queue.getWaitingCount()).toBe(all.length);
    } finally {
      await a.close();
      await b.close();
    }
  });
});
