import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { getQueueToken } from '@nestjs/bull';
import type { Queue } from 'bull';
import { DataSource, In, IsNull } from 'typeorm';
import { WebhookDelivery } from '../../src/database/entities/webhook-delivery.entity.js';
import { FAILED_OF_ENDPOINT } from '../../src/outbound/message.store.js';
import { WebhookService } from '../../src/outbound/webhook.service.js';
import { WEBHOOKS_QUEUE } from '../../src/webhooks.constants.js';
import { FAST_OUTBOUND, startTestApp, type TestApp } from '../support/app.js';
import { eventually } from '../support/receiver.js';
import { testDatabases } from '../support/databases.js';

/** recoverFailed over more deliveries than one of its batches: exactly the endpoint's failed ones since `since`. */
describe.each(testDatabases())('recoverFailed in batches on %s', (db) => {
  let t: TestApp;
  beforeAll(async () => {
    // An emitter: jobs wait in Redis, no worker takes them.
    t = await startTestApp({ db, webhooks: { role: 'emitter', outbound: FAST_OUTBOUND } });
  });
  afterAll(async () => t?.close());

  it("redelivers each of the endpoint's failed and discarded deliveries since `since` once, and nothing else", async () => {
    const svc = t.app.get(WebhookService);
    const queue = t.app.get<Queue>(getQueueToken(WEBHOOKS_QUEUE));
    const repo = t.app.get(DataSource).getRepository(WebhookDelivery);
    const a = await svc.createEndpoint({ url: 'https://a.example.com/h', customerId: 'c-rec' });
    const b = await svc.createEndpoint({ url: 'https://b.example.com/h', customerId: 'c-rec', eventTypes: ['b.*'] });
    const since = new Date(Date.now() - 60_000);
    for (let i = 0; i < 1_040; i += 80)
      await Promise.all(Array.from({ length: 80 }, (_, j) => svc.send('a.x', { n: i + j }, { customerId: 'c-rec' })));
    await svc.send('b.x', {}, { customerId: 'c-rec' });
    await eventually(async () => (await repo.countBy({ enqueuedAt: IsNull() })) === 0);
    await queue.empty();

    const ofA = (await repo.find({ select: { id: true }, where: { endpointId: a.id }, order: { id: 'ASC' } })).map(
      (d) => d.id,
    );
    expect(ofA).toHaveLength(1_041);
    const [succeeded, pending, discarded, old] = [
      ofA.slice(0, 5),
      ofA.slice(5, 10),
      ofA.slice(10, 30),
      ofA.slice(30, 37),
    ];
    await repo.update({ status: 'pending' }, { status: 'failed' });
    await repo.update({ id: In(succeeded) }, { status: 'succeeded' });
    await repo.update({ id: In(pending) }, { status: 'pending' });
    await repo.update({ id: In(discarded) }, { status: 'discarded' });
    await repo.update({ id: In(old) }, { createdAt: new Date(since.getTime() - 1_000) });
    const expected = ofA.filter((id) => ![...succeeded, ...pending, ...old].includes(id));

    // A page reads the endpoint's index in its order: no sort of every failed row since `since`
    // (each page sorted them all before, ~50 µs a delivery more at 50,000).
    const ds = t.app.get(DataSource);
    const params = [a.id, since.getTime(), since.getTime(), '', 500];
    let plan: string;
    if (db === 'postgres') {
      await ds.query('ANALYZE webhook_deliveries');
      plan = await ds.transaction(async (m) => {
        await m.query('SET LOCAL enable_seqscan = off');
        let n = 0;
        const rows = await m.query(`EXPLAIN ${FAILED_OF_ENDPOINT.replace(/\?/g, () => `$${++n}`)}`, params);
        return rows.map((r: Record<string, string>) => r['QUERY PLAN']).join('\n');
      });
      // Sorted only within equal created_at (an incremental sort), never the endpoint's rows.
      expect(plan).not.toMatch(/(?<!Incremental )Sort {2}/);
    } else {
      const rows = await ds.query(`EXPLAIN QUERY PLAN ${FAILED_OF_ENDPOINT}`, params);
      plan = rows.map((r: { detail: string }) => r.detail).join('\n');
      expect(plan).not.toMatch(/TEMP B-TREE FOR ORDER BY/);
    }
    expect(plan).toMatch(/idx_webhook_deliveries_endpoint/);

    const { deliveryIds } = await svc.recoverFailed({ endpointId: a.id, since });
    expect(deliveryIds).toEqual(expected);
    const jobs = await queue.getWaiting(0, -1);
    expect(jobs.map((j) => String(j.id)).sort()).toEqual(expected);
    expect(jobs.every((j) => j.data.trigger === 'manual')).toBe(true);
    const statuses = await repo.find({ select: { id: true, status: true, endpointId: true } });
    const byStatus = (s: string) =>
      statuses
        .filter((d) => d.status === s)
        .map((d) => d.id)
        .sort();
    expect(byStatus('pending')).toEqual([...pending, ...expected].sort());
    expect(byStatus('succeeded')).toEqual(succeeded);
    // The other endpoint's delivery, and A's older ones, stay failed.
    expect(byStatus('failed')).toEqual(
      [...old, ...statuses.filter((d) => d.endpointId === b.id).map((d) => d.id)].sort(),
    );

    // Nothing is failed any more: a second call redelivers nothing.
    expect((await svc.recoverFailed({ endpointId: a.id, since })).deliveryIds).toEqual([]);
    expect(await queue.getWaitingCount()).toBe(expected.length);
  }, 60_000);
});
