/**
 * Scenario 6 (PostgreSQL): the database stops answering while a worker records an attempt, and
 * the worker is then SIGTERMed. The worker reaches PostgreSQL only through a TCP proxy the test
 * owns; on the attempt's INSERT the proxy freezes: no connection is closed, nothing passes in
 * either direction, new connections get no answer, as with a database host that hangs. The
 * shutdown must still end within the documented bound (the attempt timeout plus 5 s, plus a few
 * seconds to close), and the attempt, never recorded, is made again by another worker.
 */
import { afterEach, describe, expect, it } from '@jest/globals';
import { WebhookService } from '../../src/outbound/webhook.service.js';
import { FAST_OUTBOUND, startTestApp } from '../support/app.js';
import { reapChildren, startWorker, stop } from '../support/child.js';
import { PG_URL } from '../support/databases.js';
import { CountingReceiver, eventually } from '../support/receiver.js';
import { REDIS_URL } from '../support/redis.js';
import { sleep } from '../support/deliveries.js';
import { SHORT_LOCKS, TcpProxy } from './support.js';

const OUTBOUND = { ...FAST_OUTBOUND, timeoutMs: 2_000 };
/** The processor's wait (attempt timeout + 5 s) and 3 s to close Redis and the database. */
const EXIT_BOUND_MS = OUTBOUND.timeoutMs + 5_000 + 3_000;

describe('fault: the database stops answering during an attempt, then SIGTERM (postgres)', () => {
  afterEach(() => reapChildren());

  /**
   * Worker-a (through the proxy, with `outbound`) makes the attempt; the proxy freezes on its
   * INSERT; `beforeSigterm` ms later worker-a is SIGTERMed. Returns how it ended, and a check
   * that worker-b then makes the unrecorded attempt again.
   */
  async function frozenWhileRecording(
    outbound: Record<string, unknown>,
    beforeSigterm: number,
    check: (end: Awaited<ReturnType<typeof stop>>, again: () => Promise<void>) => Promise<void>,
  ) {
    const pg = new URL(PG_URL);
    const proxy = await TcpProxy.start({ host: pg.hostname, port: Number(pg.port || 5432) });
    const receiver = await new CountingReceiver(() => ({})).start();
    const emitter = await startTestApp({ db: 'postgres', webhooks: { role: 'emitter', outbound: OUTBOUND } });
    try {
      const svc = emitter.app.get(WebhookService);
      await svc.createEndpoint({ url: receiver.url('/hang'), customerId: 'hang' });
      const worker = (name: string, db = emitter.db) =>
        startWorker({
          db,
          prefix: emitter.prefix,
          redisUrl: REDIS_URL,
          name,
          outbound: { ...OUTBOUND, ...outbound },
          bullSettings: SHORT_LOCKS,
        });
      // As docs/guarantees.md advises for PostgreSQL: a connect timeout, so that a connection being opened
      // to a hung database (by a relay pass) cannot hold DataSource.destroy() forever.
      const routed = proxy.route(emitter.db);
      const a = await worker('worker-a', {
        ...routed,
        options: { ...routed.options, extra: { connectionTimeoutMillis: 2_000 } } as typeof routed.options,
      });
      const frozen = proxy.freezeOn(/INSERT INTO "?webhook_attempts"?/i);
      const sent = await svc.send('fault.hang', {}, { customerId: 'hang' });
      await frozen;
      expect(receiver.bySender.get('worker-a')).toBe(1);
      await sleep(beforeSigterm);

      const end = await stop(a, 'SIGTERM', EXIT_BOUND_MS + 2_000);
      console.log(`database-hang: worker-a ${JSON.stringify(end)}; messages ${JSON.stringify(a.messages)}`);
      await check(end, async () => {
        await proxy.stop();
        expect(await svc.getDelivery(sent.deliveryIds[0])).toMatchObject({ status: 'pending', attempts: 0 });
        await worker('worker-b');
        await eventually(async () => (await svc.getDelivery(sent.deliveryIds[0])).status === 'succeeded', 30_000);
        expect(receiver.bySender.get('worker-b')).toBe(1);
      });
    } finally {
      await reapChildren();
      await emitter.close();
      await receiver.stop();
      await proxy.stop();
    }
  }

  it('the worker exits by itself within the bound; another worker makes the unrecorded attempt again', async () => {
    // No relay or reconcile pass in flight: this is the processor's bound alone.
    await frozenWhileRecording(
      { relayIntervalMs: 3_600_000, reconcileIntervalMs: 3_600_000 },
      0,
      async (end, again) => {
        expect(end).toMatchObject({ code: 0, signal: null, timedOut: false });
        expect(end.ms).toBeLessThan(EXIT_BOUND_MS);
        await again();
      },
    );
  }, 90_000);

  /*
   * A relay pass started after the freeze hangs on its query too; the outbox's shutdown wait for
   * it is bounded like the processor's, so the process still ends by itself.
   */
  it('with a relay pass in flight too, the worker still exits within the bound', async () => {
    await frozenWhileRecording({ relayIntervalMs: 200 }, 1_000, async (end) => {
      expect(end).toMatchObject({ code: 0, signal: null, timedOut: false });
      expect(end.ms).toBeLessThan(EXIT_BOUND_MS + 1_000);
    });
  }, 90_000);
});
