/**
 * Scenario 2: the suite's own redis-server, without persistence, is killed mid-run and started
 * again empty: every queued job is gone. Deliveries committed and enqueued before are re-added by
 * the reconciler (pending rows whose job vanished); those sent while Redis was away, by the relay.
 */
import { describe, expect, it } from '@jest/globals';
import { DataSource } from 'typeorm';
import { WebhookService } from '../../src/outbound/webhook.service.js';
import { FAST_OUTBOUND, startTestApp } from '../support/app.js';
import { testDatabases } from '../support/databases.js';
import { CountingReceiver, eventually } from '../support/receiver.js';
import { PrivateRedis } from '../support/redis-server.js';
import { allSucceeded, sendMany } from '../support/deliveries.js';
import { SHORT_LOCKS, tally, warningsLogger } from './support.js';

const SENT_BEFORE = 300;
const SENT_DURING = 20;
// Two attempts at a time against a receiver answering after 20 ms: a backlog waits in Redis.
const OUTBOUND = { ...FAST_OUTBOUND, timeoutMs: 5_000, concurrency: 2, relayIntervalMs: 200, reconcileIntervalMs: 500 };

describe.each(testDatabases())('fault: Redis restarted without persistence (%s)', (kind) => {
  it('delivers every committed event once Redis is back', async () => {
    const redis = await PrivateRedis.start();
    const receiver = await new CountingReceiver(() => ({ delayMs: 20 })).start();
    const logger = warningsLogger();
    // One process that emits and delivers, on the private Redis.
    const app = await startTestApp({
      db: kind,
      redisUrl: redis.url,
      webhooks: { outbound: OUTBOUND },
      bullSettings: SHORT_LOCKS,
      logger,
    });
    try {
      const svc = app.app.get(WebhookService);
      await svc.createEndpoint({ url: receiver.url('/redis'), customerId: 'redis' });
      const before = await sendMany(svc, SENT_BEFORE, 'redis');
      await eventually(() => receiver.handled.size >= 50, 30_000, 5);
      await redis.stop();
      const backlog = SENT_BEFORE - receiver.handled.size;
      // Sent while Redis is away: committed, the enqueue fails, the send still resolves.
      const during = await sendMany(svc, SENT_DURING, 'redis');
      await redis.start();

      const deliveryIds = [...before.deliveryIds, ...during.deliveryIds];
      const done = await allSucceeded(app.app.get(DataSource), deliveryIds);
      const t = tally(`redis-restart[${kind}]`, [...before.messageIds, ...during.messageIds], receiver.handled);

      // Jobs were lost with the restart (a backlog was waiting), and the reconciler re-added them.
      expect(backlog).toBeGreaterThan(0);
      const reenqueued = logger.warnings.filter((w) => /^Re-enqueued \d+ pending deliveries/.test(w));
      expect(reenqueued.length).toBeGreaterThan(0);
      expect(done).toBe(true);
      expect(t.lostIds).toEqual([]);
      // An attempt in flight across the restart can be recorded after the reconciler re-added
      // its job: sent twice, never three times.
      expect(t.maxCopies).toBeLessThanOrEqual(2);
    } finally {
      await app.close();
      await receiver.stop();
      await redis.stop();
    }
  }, 90_000);
});
