import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { DataSource } from 'typeorm';
import { WebhookAttempt } from '../../src/database/entities/webhook-attempt.entity.js';
import { WebhookDelivery } from '../../src/database/entities/webhook-delivery.entity.js';
import { WebhookMessage } from '../../src/database/entities/webhook-message.entity.js';
import { newId } from '../../src/database/ids.js';
import { ENDPOINT_DELETE_BATCH } from '../../src/outbound/message.store.js';
import { WebhookService } from '../../src/outbound/webhook.service.js';
import { FAST_OUTBOUND, startTestApp, type TestApp } from '../support/app.js';
import { testDatabases } from '../support/databases.js';

/**
 * Deleting an endpoint with a long log. On SQLite its deliveries (and their attempts) go in
 * batches, each a statement of its own, then the endpoint: one cascading statement blocked the
 * event loop for seconds (7 s for 85,000 deliveries). On PostgreSQL, which blocks nothing, the
 * one cascading statement stays (it took half the time of the batches).
 */
describe.each(testDatabases())('deleteEndpoint with a long log on %s', (db) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ db, webhooks: { role: 'emitter', outbound: FAST_OUTBOUND } });
  });
  afterAll(() => t?.close());

  it('deletes the deliveries and attempts in batches, then the endpoint; another endpoint keeps its log', async () => {
    const dataSource = t.app.get(DataSource);
    const svc = t.app.get(WebhookService);
    const [gone, kept] = [
      await svc.createEndpoint({ url: 'https://example.com/gone' }),
      await svc.createEndpoint({ url: 'https://example.com/kept' }),
    ];
    const count = Math.floor(ENDPOINT_DELETE_BATCH * 2.5);
    const now = Date.now();
    const at = new Date(now);
    const messages = Array.from({ length: count }, (_, i) => ({
      id: newId('msg', now + i),
      type: 'delete.test',
      customerId: null,
      idempotencyKey: null,
      body: '{}',
      createdAt: at,
    }));
    const deliveries = messages.map((m, i) => ({
      id: newId('dlv', now + i),
      messageId: m.id,
      endpointId: i % 100 === 0 ? kept.id : gone.id,
      status: 'failed' as const,
      attempts: 1,
      createdAt: at,
      updatedAt: at,
    }));
    const attempts = deliveries.map((d, i) => ({
      id: newId('atm', now + i),
      deliveryId: d.id,
      number: 1,
      statusCode: 500,
      durationMs: 1,
      trigger: 'scheduled' as const,
      createdAt: at,
    }));
    for (const [entity, rows] of [
      [WebhookMessage, messages],
      [WebhookDelivery, deliveries],
      [WebhookAttempt, attempts],
    ] as const)
      for (let i = 0; i < rows.length; i += 250)
        await dataSource.getRepository(entity).insert(rows.slice(i, i + 250) as never);

    const statements: string[] = [];
    const logQuery = dataSource.logger.logQuery.bind(dataSource.logger);
    dataSource.logger.logQuery = (query, parameters, runner) => {
      if (/^\s*(WITH [\s\S]*)?DELETE/i.test(query)) statements.push(query);
      return logQuery(query, parameters, runner);
    };
    try {
      await svc.deleteEndpoint(gone.id);
    } finally {
      dataSource.logger.logQuery = logQuery;
    }

    const ofGone = deliveries.filter((d) => d.endpointId === gone.id).length;
    // SQLite: batches of deliveries, then the endpoint; PostgreSQL: the endpoint's cascading delete alone.
    expect(statements.filter((q) => /webhook_deliveries/.test(q) && !/webhook_endpoints/.test(q))).toHaveLength(
      db === 'sqlite' ? Math.ceil((ofGone + 1) / ENDPOINT_DELETE_BATCH) : 0,
    );
    expect(statements.filter((q) => /webhook_endpoints/.test(q))).toHaveLength(1);
    await expect(svc.getEndpoint(gone.id)).rejects.toThrow(/No webhook endpoint/);
    const left = await dataSource.getRepository(WebhookDelivery).find({ select: { id: true, endpointId: true } });
    expect(new Set(left.map((d) => d.endpointId))).toEqual(new Set([kept.id]));
    expect(left).toHaveLength(count - ofGone);
    expect(await dataSource.getRepository(WebhookAttempt).count()).toBe(count - ofGone);
    await expect(svc.deleteEndpoint(gone.id)).rejects.toThrow(/No webhook endpoint/);
  });
});
