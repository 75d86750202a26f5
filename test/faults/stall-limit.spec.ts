/**
 * Scenario 4: with maxStalledCount 0, a job whose worker died is not retried by Bull but failed
 * ("job stalled more than allowable limit") without using its attempts. Its delivery row is still
 * pending: the reconciler finds the failed job, removes it and adds it again, and the live worker
 * delivers it.
 */
import { getQueueToken } from '@nestjs/bull';
import { afterEach, describe, expect, it } from '@jest/globals';
import type { Queue } from 'bull';
import { DataSource } from 'typeorm';
import { WebhookService } from '../../src/outbound/webhook.service.js';
import { WEBHOOKS_QUEUE } from '../../src/webhooks.constants.js';
import { FAST_OUTBOUND, startTestApp } from '../support/app.js';
import { kill, reapChildren, startWorker } from '../support/child.js';
import { testDatabases } from '../support/databases.js';
import { CountingReceiver, eventually } from '../support/receiver.js';
import { REDIS_URL } from '../support/redis.js';
import { allSucceeded, sendMany } from '../support/deliveries.js';
import { SHORT_LOCKS, tally } from './support.js';

const SENT = 40;
const OUTBOUND = {
  ...FAST_OUTBOUND,
  timeoutMs: 15_000,
  concurrency: 4,
  relayIntervalMs: 200,
  reconcileIntervalMs: 500,
};
const BULL = { ...SHORT_LOCKS, maxStalledCount: 0 };

describe.each(testDatabases())('fault: a job failed by Bull for stalling (%s)', (kind) => {
  afterEach(() => reapChildren());

  it('is not lost: the reconciler removes the failed job and adds it again', async () => {
    // worker-a's requests get no answer (it dies with them in flight); worker-b's are answered.
    const receiver = await new CountingReceiver((req) =>
      req.headers['user-agent'] === 'worker-a' ? 'hang' : {},
    ).start();
    // The emitter runs the reconciler; the workers run it too (every role does).
    const emitter = await startTestApp({
      db: kind,
      webhooks: { role: 'emitter', outbound: OUTBOUND },
      bullSettings: BULL,
    });
    try {
      const svc = emitter.app.get(WebhookService);
      await svc.createEndpoint({ url: receiver.url('/stalled'), customerId: 'stalled' });
      const failedByBull: { jobId: string; reason: string }[] = [];
      const queue = emitter.app.get<Queue>(getQueueToken(WEBHOOKS_QUEUE));
      const registered = new Promise((resolve) => queue.once('registered:global:failed', resolve));
      queue.on('global:failed', (jobId: string, reason: string) => void failedByBull.push({ jobId, reason }));
      await registered;

      const worker = (name: string) =>
        startWorker({
          db: emitter.db,
          prefix: emitter.prefix,
          redisUrl: REDIS_URL,
          name,
          outbound: OUTBOUND,
          bullSettings: BULL,
        });
      const a = await worker('worker-a');
      await worker('worker-b');
      const { messageIds, deliveryIds } = await sendMany(svc, SENT, 'stalled');
      await eventually(() => receiver.inFlight('worker-a') > 0, 30_000, 5);
      const stranded = receiver.requests
        .filter((r) => r.headers['user-agent'] === 'worker-a')
        .map((r) => String(r.headers['webhook-id']));
      await kill(a);

      const ds = emitter.app.get(DataSource);
      const done = await allSucceeded(ds, deliveryIds);
      const t = tally(`stall-limit[${kind}]`, messageIds, receiver.handled);

      // Bull failed worker-a's jobs for stalling, rather than retrying them...
      const strandedJobs = deliveryIds.filter((_, i) => stranded.includes(messageIds[i]));
      expect(strandedJobs.length).toBeGreaterThan(0);
      for (const jobId of strandedJobs) {
        expect(failedByBull).toContainEqual({ jobId, reason: expect.stringMatching(/stalled more than/) });
      }
      // ...and every delivery still arrived, worker-a's too (each was re-added by a reconciler).
      expect(done).toBe(true);
      expect(t.lostIds).toEqual([]);
      for (const id of stranded) expect(receiver.handled.get(id)).toBeGreaterThanOrEqual(1);
      // worker-a's attempts were never answered, so none of them counts; a second copy could come
      // only from a worker-b job failed as stalled while still running (a long event-loop stall)
      // and re-added meanwhile: at-least-once allows it, a third copy would be a bug.
      expect(t.maxCopies).toBeLessThanOrEqual(2);
    } finally {
      await reapChildren();
      await emitter.close();
      await receiver.stop();
    }
  }, 90_000);
});
