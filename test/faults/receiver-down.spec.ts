/**
 * Scenario 3: the receiver is down (connection refused) when the events are sent, and comes back
 * on the same port later: every delivery arrives on a later attempt of its schedule, once.
 */
import { describe, expect, it } from '@jest/globals';
import { DataSource } from 'typeorm';
import { WebhookService } from '../../src/outbound/webhook.service.js';
import { FAST_OUTBOUND, startTestApp } from '../support/app.js';
import { testDatabases } from '../support/databases.js';
import { CountingReceiver, eventually } from '../support/receiver.js';
import { allSucceeded, sendMany } from '../support/deliveries.js';
import { tally } from './support.js';

const SENT = 100;
// Five attempts over 15 s: the receiver comes back after the first.
const OUTBOUND = {
  ...FAST_OUTBOUND,
  schedule: [0, 1_000, 2_000, 4_000, 8_000],
  timeoutMs: 5_000,
  relayIntervalMs: 200,
  reconcileIntervalMs: 500,
};

describe.each(testDatabases())('fault: the receiver down for a while (%s)', (kind) => {
  it('delivers on a later attempt once it is up', async () => {
    const receiver = await new CountingReceiver().start();
    const app = await startTestApp({ db: kind, webhooks: { outbound: OUTBOUND } });
    try {
      const svc = app.app.get(WebhookService);
      const ds = app.app.get(DataSource);
      await svc.createEndpoint({ url: receiver.url('/down'), customerId: 'down' });
      await receiver.stop();
      const { messageIds, deliveryIds } = await sendMany(svc, SENT, 'down');
      // Up again once every delivery has failed its first attempt.
      const attempted = async () =>
        Number((await ds.query('SELECT COUNT(DISTINCT delivery_id) AS n FROM webhook_attempts'))[0].n);
      await eventually(async () => (await attempted()) === SENT, 30_000);
      await receiver.start();

      const done = await allSucceeded(ds, deliveryIds);
      const t = tally(`receiver-down[${kind}]`, messageIds, receiver.handled);

      expect(done).toBe(true);
      expect(t.lostIds).toEqual([]);
      // Nothing reached a receiver that was down, so nothing arrived twice.
      expect(t.duplicate).toBe(0);
      // Each delivery: failed attempts (connection refused) first, then one success.
      const rows: { n: number; statusCode: number | null; errorClass: string | null }[] = await ds.query(
        'SELECT number AS n, status_code AS "statusCode", error_class AS "errorClass" FROM webhook_attempts ORDER BY delivery_id, number',
      );
      expect(rows.filter((r) => r.n === 1)).toHaveLength(SENT);
      expect(rows.filter((r) => r.n === 1 && r.statusCode === null && r.errorClass === 'refused')).toHaveLength(SENT);
      expect(rows.filter((r) => r.statusCode === 200)).toHaveLength(SENT);
      expect(rows.filter((r) => r.statusCode === 200 && r.n > 1)).toHaveLength(SENT);
    } finally {
      await app.close();
      await receiver.stop();
    }
  }, 90_000);
});
