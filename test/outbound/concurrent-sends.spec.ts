import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { DataSource, In } from 'typeorm';
import { WebhookDelivery } from '../../src/database/entities/webhook-delivery.entity.js';
import { WebhookMessage } from '../../src/database/entities/webhook-message.entity.js';
import type { CreateEndpointInput } from '../../src/interfaces/webhook-service.interface.js';
import { WebhookService } from '../../src/outbound/webhook.service.js';
import { FAST_OUTBOUND, startTestApp, type TestApp } from '../support/app.js';
import { testDatabases } from '../support/databases.js';

/**
 * Sends without a manager, many at once: on PostgreSQL those of one event-loop turn share a
 * statement. Each caller must still get its own message and exactly the deliveries its customer
 * and type call for.
 */
describe.each(testDatabases())('concurrent send() calls without a manager on %s', (db) => {
  let t: TestApp;
  let svc: WebhookService;
  let ds: DataSource;
  const endpoints: Record<string, string> = {};

  beforeAll(async () => {
    // Emitter with idle relay: the test looks at rows only.
    const outbound = { ...FAST_OUTBOUND, relayIntervalMs: 3_600_000, reconcileIntervalMs: 3_600_000 };
    t = await startTestApp({ db, webhooks: { role: 'emitter', outbound } });
    svc = t.app.get(WebhookService);
    ds = t.app.get(DataSource);
    const make = async (name: string, input: Omit<CreateEndpointInput, 'url'>) =>
      (endpoints[name] = (await svc.createEndpoint({ url: `https://example.com/${name}`, ...input })).id);
    await make('aOrders', { customerId: 'cus_a', eventTypes: ['order.*'] });
    await make('aAll', { customerId: 'cus_a' });
    await make('aInvoices', { customerId: 'cus_a', eventTypes: ['invoice.paid'] });
    await make('aOff', { customerId: 'cus_a', enabled: false });
    await make('bOrders', { customerId: 'cus_b', eventTypes: ['order.created'] });
    await make('nobodyAll', { eventTypes: [] });
    await make('nobodyInvoices', { eventTypes: ['invoice.*'] });
    // More endpoints than delivery ids are made ahead per message: the database makes the rest.
    for (let i = 0; i < 6; i++) await make(`many${i}`, { customerId: 'cus_many', eventTypes: ['order.*'] });
  });
  afterAll(async () => {
    await t?.close();
  });

  const expected: Record<string, string[]> = {
    'cus_a order.created': ['aOrders', 'aAll'],
    'cus_a invoice.paid': ['aAll', 'aInvoices'],
    'cus_a user.deleted': ['aAll'],
    'cus_b order.created': ['bOrders'],
    'cus_b invoice.paid': [],
    'cus_c order.created': [],
    '- order.created': ['nobodyAll'],
    '- invoice.paid': ['nobodyAll', 'nobodyInvoices'],
    'cus_many order.created': ['many0', 'many1', 'many2', 'many3', 'many4', 'many5'],
  };

  it("writes each caller's message with exactly its own customer's matching deliveries", async () => {
    const calls = Array.from({ length: 120 }, (_, i) => Object.keys(expected)[i % Object.keys(expected).length]);
    const results = await Promise.all(
      calls.map((call, i) => {
        const [customer, type] = call.split(' ');
        const customerId = customer === '-' ? undefined : customer;
        return svc.send(type as any, { n: i }, { customerId });
      }),
    );
    expect(new Set(results.map((r) => r.messageId)).size).toBe(calls.length);
    const messages = await ds.getRepository(WebhookMessage).findBy({ id: In(results.map((r) => r.messageId)) });
    const byId = new Map(messages.map((m) => [m.id, m]));
    const deliveries = await ds
      .getRepository(WebhookDelivery)
      .findBy({ messageId: In(results.map((r) => r.messageId)) });
    results.forEach((result, i) => {
      const [customer, type] = calls[i].split(' ');
      const message = byId.get(result.messageId)!;
      expect(message).toMatchObject({ type, customerId: customer === '-' ? null : customer });
      expect(JSON.parse(message.body).data).toEqual({ n: i });
      const own = deliveries.filter((d) => d.messageId === result.messageId);
      expect(result.created).toBe(true);
      expect([...result.deliveryIds].sort()).toEqual(own.map((d) => d.id).sort());
      expect(own.map((d) => d.endpointId).sort()).toEqual(expected[calls[i]].map((name) => endpoints[name]).sort());
      for (const d of own) expect(d).toMatchObject({ status: 'pending', attempts: 0 });
    });
    expect(new Set(deliveries.map((d) => d.id)).size).toBe(deliveries.length);
  });
});
