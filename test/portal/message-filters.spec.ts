import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { DataSource } from 'typeorm';
import { WebhookDelivery } from '../../src/database/entities/webhook-delivery.entity.js';
import { WebhookService } from '../../src/outbound/webhook.service.js';
import { missingMessagesSql } from '../../src/outbound/message.store.js';
import { PortalStore, type MessageFilters } from '../../src/portal/portal.store.js';
import { FAST_OUTBOUND, startTestApp, type TestApp } from '../support/app.js';
import { testDatabases, type DbKind } from '../support/databases.js';

/**
 * The portal's message filters (status, endpoint): which messages they match, and on SQLite the
 * plan they read deliveries by. Without statistics SQLite picked the status or endpoint index for
 * the correlated subqueries and read every delivery of that status or endpoint for each message:
 * 21 s for one page at 1.5 million deliveries. Read by message, a page takes milliseconds.
 */
describe.each(testDatabases())('portal message filters on %s', (db) => {
  let t: TestApp;
  let store: PortalStore;
  const ids: Record<string, string> = {};
  const endpoints: string[] = [];
  const scope = { customerId: 'filters' };

  beforeAll(async () => {
    t = await startTestApp({ db, webhooks: { role: 'emitter', outbound: FAST_OUTBOUND, portal: {} } });
    store = t.app.get(PortalStore);
    const svc = t.app.get(WebhookService);
    for (const n of [1, 2])
      endpoints.push((await svc.createEndpoint({ url: `https://example.com/${n}`, customerId: 'filters' })).id);
    const deliveries = t.app.get(DataSource).getRepository(WebhookDelivery);
    // [message, status of its delivery to endpoint 1, to endpoint 2]
    const rows: [string, string, string][] = [
      ['pending', 'pending', 'succeeded'],
      ['failed', 'failed', 'succeeded'],
      ['discarded', 'discarded', 'discarded'],
      ['succeeded', 'succeeded', 'succeeded'],
    ];
    for (const [name, first, second] of rows) {
      const sent = await svc.send('filter.test', { name }, { customerId: 'filters' });
      ids[name] = sent.messageId;
      await deliveries.update({ messageId: sent.messageId, endpointId: endpoints[0] }, { status: first as never });
      await deliveries.update({ messageId: sent.messageId, endpointId: endpoints[1] }, { status: second as never });
    }
    // Delivered to endpoint 1 only.
    const only = await svc.send(
      'filter.test',
      { name: 'onlyFirst' },
      { customerId: 'filters', endpointId: endpoints[0] },
    );
    ids.onlyFirst = only.messageId;
    await deliveries.update({ messageId: only.messageId }, { status: 'succeeded' });
  });
  afterAll(async () => t?.close());

  const matching = async (f: MessageFilters) =>
    (await store.listMessages(scope, f, { limit: 50 })).data.map((m) => Object.keys(ids).find((k) => ids[k] === m.id));

  it('match by the message status its deliveries give, and by endpoint', async () => {
    expect(await matching({ status: 'pending' })).toEqual(['pending']);
    expect((await matching({ status: 'failed' })).sort()).toEqual(['discarded', 'failed']);
    expect((await matching({ status: 'succeeded' })).sort()).toEqual(['onlyFirst', 'succeeded']);
    expect((await matching({ endpointId: endpoints[1] })).sort()).toEqual([
      'discarded',
      'failed',
      'pending',
      'succeeded',
    ]);
    expect((await matching({ endpointId: endpoints[0] })).sort()).toEqual([
      'discarded',
      'failed',
      'onlyFirst',
      'pending',
      'succeeded',
    ]);
    expect((await matching({ endpointId: endpoints[1], status: 'succeeded' })).sort()).toEqual(['succeeded']);
  });
});

(testDatabases().includes('sqlite') ? describe.each : describe.skip.each)<DbKind>(['sqlite'])(
  'portal message filters on %s: the plan',
  (db) => {
    let t: TestApp;
    beforeAll(async () => {
      t = await startTestApp({ db, webhooks: { role: 'emitter', outbound: FAST_OUTBOUND, portal: {} } });
    });
    afterAll(async () => t?.close());

    it('reads deliveries by message, never by status or endpoint', async () => {
      const ds = t.app.get(DataSource);
      const store = t.app.get(PortalStore);
      const filters: MessageFilters[] = [
        { status: 'pending' },
        { status: 'failed' },
        { status: 'succeeded' },
        { endpointId: 'ep_1' },
        { endpointId: 'ep_1', status: 'succeeded' },
      ];
      for (const f of filters) {
        const query = store.messagesQuery({ customerId: 'c' }, f).orderBy('m.id', 'DESC').limit(51);
        const [sql, params] = query.getQueryAndParameters();
        const plan = (await ds.query(`EXPLAIN QUERY PLAN ${sql}`, params)) as { detail: string }[];
        const reads = plan.map((p) => p.detail).filter((d) => /\b(sd|sf|fd)\b/.test(d));
        expect([f, reads.length > 0 && reads.every((d) => d.includes('idx_webhook_deliveries_message'))]).toEqual([
          f,
          true,
        ]);
      }
    });

    it("replayMissing's page reads deliveries by message too", async () => {
      const ds = t.app.get(DataSource);
      for (const withoutCustomer of [false, true]) {
        const sql = missingMessagesSql(withoutCustomer, true);
        const params = [...(withoutCustomer ? [] : ['c']), 0, 1, '', 'ep_1'];
        const plan = (await ds.query(`EXPLAIN QUERY PLAN ${sql}`, params)) as { detail: string }[];
        const reads = plan.map((p) => p.detail).filter((d) => /\bd\b/.test(d));
        expect(reads.length > 0 && reads.every((d) => d.includes('idx_webhook_deliveries_message'))).toBe(true);
      }
    });
  },
);
