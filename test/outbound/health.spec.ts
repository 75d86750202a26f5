import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { WebhookService } from '../../src/outbound/webhook.service.js';
import { WebhookEvents, type WebhookEventMap } from '../../src/webhook.events.js';
import { startTestApp, type TestApp } from '../support/app.js';
import { testDatabases } from '../support/databases.js';
import { eventually, Receiver } from '../support/receiver.js';

type Seen = { [K in keyof WebhookEventMap]: WebhookEventMap[K][] };

describe.each(testDatabases())('endpoint health, network policy and operational events on %s', (db) => {
  let receiver: Receiver;
  let up = false;
  beforeAll(async () => {
    receiver = await new Receiver(() => (up ? undefined : { status: 500 })).start();
  });
  afterAll(async () => receiver?.stop());

  function listen(t: TestApp): Seen {
    const seen = {
      'delivery.succeeded': [],
      'delivery.failed': [],
      'delivery.exhausted': [],
      'endpoint.disabled': [],
      'endpoint.enabled': [],
      'portal.action': [],
    } as Seen;
    const events = t.app.get(WebhookEvents);
    for (const name of Object.keys(seen) as (keyof Seen)[])
      events.on(name, (p: any) => void (seen[name] as any[]).push(p));
    return seen;
  }

  it('refuses loopback by default: the attempt is recorded as blocked and not retried', async () => {
    const t = await startTestApp({ db, webhooks: { outbound: { schedule: [0, 50, 50], jitter: 0 } } });
    try {
      const seen = listen(t);
      const svc = t.app.get(WebhookService);
      await svc.createEndpoint({ url: receiver.url('/blocked') });
      const sent = await svc.send('policy.check', {});
      const d = await eventually(async () => {
        const x = await svc.getDelivery(sent.deliveryIds[0]);
        return x.status === 'failed' ? x : null;
      });
      expect(d.attempts).toBe(1);
      const [a] = (await svc.listAttempts(d.id)).data;
      expect(a).toMatchObject({ errorClass: 'blocked', statusCode: null });
      expect(a.errorMessage).toMatch(/127\.0\.0\.1/);
      expect(receiver.requests.filter((r) => r.url === '/blocked')).toHaveLength(0);
      expect(seen['delivery.exhausted']).toEqual([expect.objectContaining({ deliveryId: d.id, attempt: 1 })]);
    } finally {
      await t.close();
    }
  });

  it('disables an endpoint failing past disableAfterMs, keeps its deliveries, and replays them after re-enabling', async () => {
    up = false;
    const t = await startTestApp({
      db,
      webhooks: {
        outbound: {
          schedule: [0, 150, 150, 150, 150, 150, 150],
          jitter: 0,
          disableAfterMs: 400,
          network: { allow: ['127.0.0.1/32'] },
        },
      },
    });
    try {
      const seen = listen(t);
      const svc = t.app.get(WebhookService);
      const ep = await svc.createEndpoint({ url: receiver.url('/health'), customerId: 'health' });
      const since = new Date(Date.now() - 1000);
      const first = await svc.send('health.check', { n: 1 }, { customerId: 'health' });
      const disabled = await eventually(async () => {
        const e = await svc.getEndpoint(ep.id);
        return e.enabled ? null : e;
      });
      expect(disabled.disabledReason).toMatch(/^failing without success since /);
      expect(disabled.consecutiveFailures).toBeGreaterThanOrEqual(3);
      expect(seen['endpoint.disabled']).toEqual([
        { endpointId: ep.id, customerId: 'health', reason: disabled.disabledReason },
      ]);
      expect(seen['delivery.failed'].length).toBeGreaterThanOrEqual(2);
      expect(seen['delivery.failed'][0]).toMatchObject({
        deliveryId: first.deliveryIds[0],
        attempt: 1,
        nextAttemptAt: expect.any(Date),
      });

      // Kept, not dropped: the delivery is discarded with the reason, and replayable.
      const d1 = await eventually(async () => {
        const d = await svc.getDelivery(first.deliveryIds[0]);
        return d.status === 'discarded' ? d : null;
      });
      expect(d1.lastError).toMatch(/endpoint disabled: failing without success/);
      const requestsWhileDisabled = receiver.requests.filter((r) => r.url === '/health').length;
      expect((await svc.send('health.check', { n: 2 }, { customerId: 'health' })).deliveryIds).toEqual([]);
      await expect(svc.redeliver(d1.id)).rejects.toThrow(/is disabled .*re-enable it/);

      up = true;
      await svc.updateEndpoint(ep.id, { enabled: true });
      expect(seen['endpoint.enabled']).toEqual([{ endpointId: ep.id, customerId: 'health' }]);
      expect(await svc.getEndpoint(ep.id)).toMatchObject({
        enabled: true,
        disabledReason: null,
        failingSince: null,
        consecutiveFailures: 0,
      });
      const { deliveryIds } = await svc.recoverFailed({ endpointId: ep.id, since });
      expect(deliveryIds).toEqual([d1.id]);
      await eventually(async () => (await svc.getDelivery(d1.id)).status === 'succeeded');
      expect(receiver.requests.filter((r) => r.url === '/health').length).toBe(requestsWhileDisabled + 1);
      expect(seen['delivery.succeeded']).toEqual([expect.objectContaining({ deliveryId: d1.id, statusCode: 200 })]);
    } finally {
      await t.close();
    }
  });
});
