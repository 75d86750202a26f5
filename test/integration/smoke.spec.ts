import { describe, expect, it } from '@jest/globals';
import { WebhookService } from '../../src/outbound/webhook.service.js';
import { startTestApp } from '../support/app.js';
import { Receiver } from '../support/receiver.js';

describe('smoke', () => {
  it('delivers one event', async () => {
    const receiver = await new Receiver().start();
    const t = await startTestApp({ db: 'sqlite' });
    try {
      const svc = t.app.get(WebhookService);
      await svc.createEndpoint({ url: receiver.url() });
      const r = await svc.send('order.completed', { id: 1 });
      await receiver.waitFor(1);
      expect(receiver.requests[0].headers['webhook-id']).toBe(r.messageId);
    } finally {
      await t.close();
      await receiver.stop();
    }
  });
});
