import { afterEach, describe, expect, it } from '@jest/globals';
import { DataSource } from 'typeorm';
import { WebhookService } from '../../src/outbound/webhook.service.js';
import { sendMany, sleep, statusCounts } from '../support/deliveries.js';
import { FAST_OUTBOUND, startTestApp } from '../support/app.js';
import { type Child, reapChildren, startWorker, stop } from '../support/child.js';
import { testDatabases } from '../support/databases.js';
import { CountingReceiver, eventually } from '../support/receiver.js';
import { REDIS_URL } from '../support/redis.js';

const DELIVERIES = 2_000;
// Short relay and reconcile passes, so that a pass re-adding a job that is running or has just
// finished (the ways a duplicate could arise without any crash) happens many times in the run.
// A generous attempt timeout: a timed-out attempt is a failure, and a failure is retried (the
// at-least-once duplicate), which is not what this test is about. On SQLite it matters: the
// three processes share one database file (WAL mode), and better-sqlite3 waits for another
// process's write lock synchronously (up to 5 s), so a worker's event loop stalls meanwhile and
// its attempts in flight time out once it resumes. With a 1 s timeout 30–120 of the 2,000
// deliveries were sent twice: an attempt logged as `timeout` whose request the receiver did
// handle, then the retry.
const OUTBOUND = {
  ...FAST_OUTBOUND,
  timeoutMs: 10_000,
  concurrency: 10,
  relayIntervalMs: 300,
  reconcileIntervalMs: 500,
};

describe.each(testDatabases())('the worker role on %s', (kind) => {
  afterEach(() => reapChildren());

  it(`two worker processes on one queue deliver ${DELIVERIES} deliveries, each exactly once`, async () => {
    const receiver = await new CountingReceiver().start();
    // This process only emits; the two children deliver.
    const emitter = await startTestApp({ db: kind, webhooks: { role: 'emitter', outbound: OUTBOUND } });
    const workers: Child[] = [];
    try {
      const svc = emitter.app.get(WebhookService);
      const ds = emitter.app.get(DataSource);
      await svc.createEndpoint({ url: receiver.url('/workers'), customerId: 'workers' });
      for (const name of ['worker-a', 'worker-b']) {
        workers.push(
          await startWorker({ db: emitter.db, prefix: emitter.prefix, redisUrl: REDIS_URL, name, outbound: OUTBOUND }),
        );
      }

      const { messageIds, deliveryIds } = await sendMany(svc, DELIVERIES, 'workers');
      expect(deliveryIds).toHaveLength(DELIVERIES);
      await eventually(async () => (await statusCounts(ds)).succeeded === DELIVERIES, 120_000, 200);
      // Give a late duplicate (a relay or reconcile pass re-adding a finished job) time to land.
      await sleep(3 * OUTBOUND.reconcileIntervalMs);

      // How many webhook-ids the receiver got 0, 1, 2… times: all of them exactly once.
      const byCopies: Record<number, number> = {};
      for (const id of messageIds) {
        const n = receiver.handled.get(id) ?? 0;
        byCopies[n] = (byCopies[n] ?? 0) + 1;
      }
      expect(byCopies).toEqual({ 1: DELIVERIES });
      expect(receiver.requests).toHaveLength(DELIVERIES);
      expect(await statusCounts(ds)).toEqual({ succeeded: DELIVERIES });
      const [{ n: attempts }] = await ds.query('SELECT COUNT(*) AS n FROM webhook_attempts');
      expect(Number(attempts)).toBe(DELIVERIES);
      // Both processes took part: one queue shared, not one worker doing everything.
      expect(receiver.bySender.get('worker-a')).toBeGreaterThan(0);
      expect(receiver.bySender.get('worker-b')).toBeGreaterThan(0);

      for (const w of workers) expect(await stop(w)).toMatchObject({ code: 0, signal: null, timedOut: false });
    } finally {
      await reapChildren();
      await emitter.close();
      await receiver.stop();
    }
  }, 180_000);
});
