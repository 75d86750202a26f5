import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { getQueueToken } from '@nestjs/bull';
import type { Queue } from 'bull';
import { DataSource, IsNull } from 'typeorm';
import { WebhookDelivery } from '../../src/database/entities/webhook-delivery.entity.js';
import { WebhookEndpoint } from '../../src/database/entities/webhook-endpoint.entity.js';
import { newId } from '../../src/database/ids.js';
import { forDriver, rows, SQLITE } from '../../src/database/sql.js';
import { WebhookService } from '../../src/outbound/webhook.service.js';
import { generateSecret } from '../../src/signing/standard-webhooks.js';
import { FAST_OUTBOUND, startTestApp, type TestApp } from '../support/app.js';
import { testDatabases } from '../support/databases.js';
import { CapturingLogger } from '../support/logger.js';
import { eventually } from '../support/receiver.js';
import { WEBHOOKS_QUEUE } from '../../src/webhooks.constants.js';

/** More endpoints than one multi-row INSERT of deliveries can take on either database. */
const ENDPOINTS = 12_000;
const CUSTOMER = 'fan-out';

describe.each(testDatabases())('send() to 12,000 endpoints on %s', (db) => {
  let t: TestApp;
  let svc: WebhookService;
  let ds: DataSource;
  let endpointIds: string[];
  const deliveriesOf = (messageId: string) => ds.getRepository(WebhookDelivery).countBy({ messageId });

  beforeAll(async () => {
    // Emitter with idle relay: the test looks at rows, and no worker posts 12,000 requests.
    const outbound = { ...FAST_OUTBOUND, relayIntervalMs: 3_600_000, reconcileIntervalMs: 3_600_000 };
    t = await startTestApp({ db, webhooks: { role: 'emitter', outbound } });
    svc = t.app.get(WebhookService);
    ds = t.app.get(DataSource);
    endpointIds = await insertEndpoints(ds, ENDPOINTS, CUSTOMER);
  });
  afterAll(async () => {
    await t?.close();
  });

  it("writes a delivery for every endpoint inside the caller's transaction, which commits", async () => {
    const sent = await ds.transaction(async (m) => {
      // The caller's own change, which must commit with the message.
      await m.query(
        forDriver('UPDATE webhook_endpoints SET description = ? WHERE id = ?', SQLITE.has(ds.options.type)),
        ['touched', endpointIds[0]],
      );
      return svc.send('fan.out', { n: 1 }, { customerId: CUSTOMER, manager: m });
    });
    expect(sent.created).toBe(true);
    expect(new Set(sent.deliveryIds).size).toBe(ENDPOINTS);
    expect(await deliveriesOf(sent.messageId)).toBe(ENDPOINTS);
    expect((await svc.getEndpoint(endpointIds[0])).description).toBe('touched');
  });

  it('with an idempotency key: every delivery written, and a repeat returns the same ids', async () => {
    const first = await ds.transaction((m) =>
      svc.send('fan.keyed', { n: 2 }, { customerId: CUSTOMER, idempotencyKey: 'fan-key', manager: m }),
    );
    expect(first.created).toBe(true);
    expect(new Set(first.deliveryIds).size).toBe(ENDPOINTS);
    expect(await deliveriesOf(first.messageId)).toBe(ENDPOINTS);
    const again = await svc.send('fan.keyed', { n: 3 }, { customerId: CUSTOMER, idempotencyKey: 'fan-key' });
    expect(again).toMatchObject({ messageId: first.messageId, created: false });
    expect(again.deliveryIds).toEqual([...first.deliveryIds].sort());
  });

  it('without a manager, in a transaction of its own', async () => {
    const sent = await svc.send('fan.plain', { n: 4 }, { customerId: CUSTOMER });
    expect(sent.deliveryIds).toHaveLength(ENDPOINTS);
    expect(await deliveriesOf(sent.messageId)).toBe(ENDPOINTS);
  });
});

describe.each(testDatabases())('a commit of more deliveries than wait in memory on %s', (db) => {
  let t: TestApp;
  const logger = new CapturingLogger();

  beforeAll(async () => {
    // An emitter, so the jobs stay in Redis to be counted; a relay pass a second.
    const outbound = { ...FAST_OUTBOUND, relayIntervalMs: 1_000, reconcileIntervalMs: 3_600_000 };
    t = await startTestApp({ db, webhooks: { role: 'emitter', outbound }, logger });
    await insertEndpoints(t.app.get(DataSource), 6_000, 'big-commit');
  });
  afterAll(async () => {
    await t?.close();
  });

  it('has the relay enqueue what is left in passes back to back, not one an interval', async () => {
    const ds = t.app.get(DataSource);
    const queue = t.app.get<Queue>(getQueueToken(WEBHOOKS_QUEUE));
    const mark = logger.lines.length;
    const sent = await ds.transaction((m) =>
      t.app.get(WebhookService).send('fan.big', {}, { customerId: 'big-commit', manager: m }),
    );
    const committed = Date.now();
    // 1,000 wait in memory for Redis; the relay takes the 5,000 others, 500 a pass. One pass a
    // second would take ten seconds more.
    await eventually(async () => (await queue.getJobCounts()).waiting === sent.deliveryIds.length, 20_000);
    expect(Date.now() - committed).toBeLessThan(6_000);
    const unqueued = await ds
      .getRepository(WebhookDelivery)
      .countBy({ messageId: sent.messageId, enqueuedAt: IsNull() });
    expect(unqueued).toBe(0);
    // One line for the run of passes, once a pass finds nothing left (right after the last jobs).
    const relayed = () => logger.since(mark, 'log').filter((l) => l.startsWith('Relayed '));
    await eventually(() => relayed().length > 0, 5_000);
    expect(relayed()).toEqual(['Relayed 5000 deliveries that had not reached the queue.']);
  });
});

/** Inserts `count` endpoints of `customerId` subscribed to `fan.*` (faster than createEndpoint). */
async function insertEndpoints(ds: DataSource, count: number, customerId: string): Promise<string[]> {
  const now = Date.now();
  const ids = Array.from({ length: count }, () => newId('ep', now));
  const filters = JSON.stringify(['fan.*']);
  for (let at = 0; at < count; at += 1_000) {
    const batch = ids.slice(at, at + 1_000);
    await ds.query(
      forDriver(
        `INSERT INTO webhook_endpoints (id, url, customer_id, event_types, secret, enabled, consecutive_failures, created_at, updated_at)
         VALUES ${rows(batch.length, '(?, ?, ?, ?, ?, TRUE, 0, ?, ?)')}`,
        SQLITE.has(ds.options.type),
      ),
      batch.flatMap((id, i) => [id, `https://example.com/${at + i}`, customerId, filters, generateSecret(), now, now]),
    );
  }
  expect(await ds.getRepository(WebhookEndpoint).countBy({ customerId })).toBe(count);
  return ids;
}
