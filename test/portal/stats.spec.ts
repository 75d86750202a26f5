import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { DataSource } from 'typeorm';
import { newId } from '../../src/database/ids.js';
import { WebhookService } from '../../src/outbound/webhook.service.js';
import { PortalService } from '../../src/portal/portal.service.js';
import type { TestApp } from '../support/app.js';
import { testDatabases } from '../support/databases.js';
import { as, startPortalApp } from './support.js';

const HOUR = 3_600_000;

describe.each(testDatabases())('portal endpoint statistics on %s', (db) => {
  let t: TestApp;
  let api: ReturnType<typeof as>;
  let endpointId: string;
  const durations = Array.from({ length: 20 }, (_, i) => (i + 1) * 10); // 10, 20, … 200 ms

  beforeAll(async () => {
    t = await startPortalApp(db);
    const svc = t.app.get(WebhookService);
    endpointId = (await svc.createEndpoint({ url: 'https://stats.example.com/', customerId: 'stats' })).id;
    const other = (await svc.createEndpoint({ url: 'https://other.example.com/', customerId: 'stats' })).id;
    api = as(t.app.getHttpServer(), (await t.app.get(PortalService).createSession({ customerId: 'stats' })).token);
    const ds = t.app.get(DataSource);
    const msg = newId('msg');
    const now = Date.now();
    const p = (n: number) => (ds.driver.options.type === 'postgres' ? `$${n}` : '?');
    await ds.query(
      `INSERT INTO webhook_messages (id, type, customer_id, body, created_at) VALUES (${p(1)}, 'a.b', 'stats', '{}', ${p(2)})`,
      [msg, now - 3 * 24 * HOUR],
    );
    // One delivery per attempt: 20 attempts of this endpoint 2 h ago (every 4th failed), one 3 days
    // ago (in 7d only), one 9 days ago (in neither), and one of another endpoint.
    const attempts: [string, number, number, number | null][] = [
      ...durations.map(
        (ms, i) => [endpointId, now - 2 * HOUR, ms, i % 4 === 0 ? 500 : 200] as [string, number, number, number],
      ),
      [endpointId, now - 3 * 24 * HOUR, 5000, null],
      [endpointId, now - 9 * 24 * HOUR, 7000, 200],
      [other, now - 2 * HOUR, 9000, 200],
    ];
    for (const [ep, at, ms, code] of attempts) {
      const dlv = newId('dlv');
      await ds.query(
        `INSERT INTO webhook_deliveries (id, message_id, endpoint_id, status, attempts, created_at, updated_at)
         VALUES (${p(1)}, ${p(2)}, ${p(3)}, 'succeeded', 1, ${p(4)}, ${p(5)})`,
        [dlv, msg, ep, at - 1000, at - 1000],
      );
      await ds.query(
        `INSERT INTO webhook_attempts (id, delivery_id, number, status_code, duration_ms, trigger, created_at) VALUES (${p(1)}, ${p(2)}, 1, ${p(3)}, ${p(4)}, 'scheduled', ${p(5)})`,
        [newId('atm'), dlv, code, ms, at],
      );
    }
  });
  afterAll(async () => t?.close());

  it('counts the last 24 h by hour: outcomes, success rate, p50 / p95 of attempt durations', async () => {
    const res = await api.get(`/endpoints/${endpointId}/stats?window=24h`).expect(200);
    expect(res.body).toMatchObject({ window: '24h', total: 20, succeeded: 15, failed: 5, successRate: 0.75 });
    expect([res.body.p50Ms, res.body.p95Ms]).toEqual([100, 190]);
    expect(res.body.buckets).toHaveLength(24);
    const filled = res.body.buckets.filter((b: any) => b.succeeded + b.failed > 0);
    expect(filled).toEqual([expect.objectContaining({ succeeded: 15, failed: 5 })]);
    expect(new Date(res.body.to).getTime() - new Date(res.body.from).getTime()).toBe(24 * HOUR);
  });

  it('counts 7 days in 6-hour buckets, and says null where there is nothing to measure', async () => {
    const week = await api.get(`/endpoints/${endpointId}/stats?window=7d`).expect(200);
    expect(week.body).toMatchObject({ total: 21, succeeded: 15, failed: 6, p95Ms: 200 });
    expect(week.body.buckets).toHaveLength(28);
    const svc = t.app.get(WebhookService);
    const idle = (await svc.createEndpoint({ url: 'https://idle.example.com/', customerId: 'stats' })).id;
    const empty = await api.get(`/endpoints/${idle}/stats?window=7d`).expect(200);
    expect(empty.body).toMatchObject({ total: 0, successRate: null, p50Ms: null, p95Ms: null });
    await api.get(`/endpoints/${endpointId}/stats?window=30d`).expect(422);
  });
});
