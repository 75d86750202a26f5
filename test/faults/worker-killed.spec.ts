/**
 * Scenario 1: a worker process is SIGKILLed while it has attempts in flight; another worker keeps
 * running. Bull notices the dead worker's jobs as stalled (lock expired, maxStalledCount 1) and
 * hands them to the live one, which sends them again: delivered, at most twice.
 */
import { afterEach, describe, expect, it } from '@jest/globals';
import { DataSource } from 'typeorm';
import { WebhookService } from '../../src/outbound/webhook.service.js';
import { FAST_OUTBOUND, startTestApp } from '../support/app.js';
import { kill, reapChildren, startWorker } from '../support/child.js';
import { testDatabases } from '../support/databases.js';
import { CountingReceiver, eventually } from '../support/receiver.js';
import { REDIS_URL } from '../support/redis.js';
import { allSucceeded, sendMany, sleep } from '../support/deliveries.js';
import { SHORT_LOCKS, tally } from './support.js';

const SENT = 300;
const OUTBOUND = {
  ...FAST_OUTBOUND,
  timeoutMs: 10_000,
  concurrency: 4,
  relayIntervalMs: 300,
  reconcileIntervalMs: 1_000,
};

describe.each(testDatabases())('fault: a worker killed during an attempt (%s)', (kind) => {
  afterEach(() => reapChildren());

  it('every delivery arrives once the other worker takes over; no webhook-id more than twice', async () => {
    // Every request is handled on arrival and answered 100 ms later: attempts are in flight.
    const receiver = await new CountingReceiver(() => ({ delayMs: 100 })).start();
    const emitter = await startTestApp({ db: kind, webhooks: { role: 'emitter', outbound: OUTBOUND } });
    try {
      const svc = emitter.app.get(WebhookService);
      await svc.createEndpoint({ url: receiver.url('/killed'), customerId: 'killed' });
      const worker = (name: string) =>
        startWorker({
          db: emitter.db,
          prefix: emitter.prefix,
          redisUrl: REDIS_URL,
          name,
          outbound: OUTBOUND,
          bullSettings: SHORT_LOCKS,
        });
      const a = await worker('worker-a');
      await worker('worker-b');

      const { messageIds, deliveryIds } = await sendMany(svc, SENT, 'killed');
      await eventually(
        () => (receiver.bySender.get('worker-a') ?? 0) >= 20 && receiver.inFlight('worker-a') > 0,
        30_000,
        5,
      );
      const inFlightAtKill = receiver.inFlight('worker-a');
      await kill(a);

      const done = await allSucceeded(emitter.app.get(DataSource), deliveryIds);
      // A stalled job handed over twice would show up within another stall check or two.
      await sleep(2 * (SHORT_LOCKS.lockDuration + SHORT_LOCKS.stalledInterval));
      const t = tally(`worker-killed[${kind}]`, messageIds, receiver.handled);

      expect(inFlightAtKill).toBeGreaterThan(0);
      expect(done).toBe(true);
      expect(t.lostIds).toEqual([]);
      expect(t.maxCopies).toBeLessThanOrEqual(2);
      // The attempts cut by the kill were handled by the receiver but never recorded: each was
      // sent again by worker-b (that is how its row could end succeeded).
      expect(t.duplicate).toBeGreaterThanOrEqual(inFlightAtKill);
    } finally {
      await reapChildren();
      await emitter.close();
      await receiver.stop();
    }
  }, 90_000);
});
