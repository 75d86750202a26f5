import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { AddressInfo } from 'node:net';
import { WebhookService } from '../../src/outbound/webhook.service.js';
import { generateSecret } from '../../src/signing/standard-webhooks.js';
import { FAST_OUTBOUND, startTestApp, type TestApp } from '../support/app.js';
import { testDatabases } from '../support/databases.js';
import { eventually } from '../support/receiver.js';
import { ADAPTERS, inboxRows, SOURCES, startInboundApp, workerStarted } from './support.js';

describe.each(testDatabases())('round trip on %s', (db) => {
  describe.each(ADAPTERS)('into a %s receiver', (http) => {
    const secret = generateSecret();
    let receiver: Awaited<ReturnType<typeof startInboundApp>>;
    let sender: TestApp;
    let webhooks: WebhookService;
    let url: string;

    beforeAll(async () => {
      receiver = await startInboundApp({
        db,
        http,
        inbound: { sources: { ...SOURCES, shop: { scheme: 'standard', secrets: [secret] } } },
      });
      await receiver.app.listen(0, '127.0.0.1');
      url = `http://127.0.0.1:${(receiver.app.getHttpServer().address() as AddressInfo).port}/webhooks/shop`;
      sender = await startTestApp({ db, webhooks: { outbound: FAST_OUTBOUND } });
      webhooks = sender.app.get(WebhookService);
    });
    afterAll(async () => {
      if (sender) await workerStarted(sender.app);
      await sender?.close();
      await receiver?.close();
    });

    it('delivers a signed message that the receiver verifies, stores and hands to its handlers', async () => {
      await webhooks.createEndpoint({ url, secret, eventTypes: ['order.completed'] });
      const { messageId } = await webhooks.send('order.completed', { order_id: 'o-1', total: '9.99' });
      await eventually(() => receiver.handlers.calls.some((c) => c.ctx.id === messageId));
      const call = receiver.handlers.calls.find((c) => c.ctx.id === messageId)!;
      expect(call.data).toEqual({ order_id: 'o-1', total: '9.99' });
      expect(call.ctx).toMatchObject({ source: 'shop', type: 'order.completed' });
      expect(receiver.audit.seen).toContain(messageId);
      const delivery = (await webhooks.listDeliveries({ messageId })).data[0];
      await eventually(async () => (await webhooks.listDeliveries({ messageId })).data[0].status === 'succeeded');
      // A manual redelivery carries the same webhook-id: the receiver answers 2xx and runs nothing.
      await webhooks.redeliver(delivery.id);
      await eventually(async () => (await webhooks.listAttempts(delivery.id)).data.length === 2);
      expect(receiver.handlers.calls.filter((c) => c.ctx.id === messageId)).toHaveLength(1);
    });

    it('runs the handler once when the sender times out and retries while it is still running', async () => {
      receiver.handlers.delayMs = FAST_OUTBOUND.timeoutMs + 500;
      try {
        const { messageId, deliveryIds } = await webhooks.send('order.completed', { order_id: 'o-2' });
        await eventually(async () => (await webhooks.getDelivery(deliveryIds[0])).status === 'succeeded', 15_000);
        const attempts = (await webhooks.listAttempts(deliveryIds[0])).data;
        expect(attempts.length).toBeGreaterThanOrEqual(2);
        await eventually(
          async () => (await inboxRows(receiver.app)).find((r) => r.eventId === messageId)?.status === 'processed',
        );
        expect(receiver.handlers.calls.filter((c) => c.ctx.id === messageId)).toHaveLength(1);
      } finally {
        receiver.handlers.delayMs = 0;
      }
    });

    it('runs the handler again when it failed: the 500 makes the sender retry', async () => {
      receiver.handlers.failures.set('order.completed', 1);
      const { messageId, deliveryIds } = await webhooks.send('order.completed', { order_id: 'o-3' });
      await eventually(async () => (await webhooks.getDelivery(deliveryIds[0])).status === 'succeeded', 15_000);
      const attempts = (await webhooks.listAttempts(deliveryIds[0])).data.map((a) => a.statusCode).sort();
      expect(attempts).toEqual([200, 500]);
      expect(
        receiver.handlers.calls.filter((c) => c.ctx.id === messageId && c.handler === 'orderCompleted'),
      ).toHaveLength(2);
      const row = (await inboxRows(receiver.app)).find((r) => r.eventId === messageId)!;
      expect(row).toMatchObject({ status: 'processed', attempts: 2 });
    });
  });
});
