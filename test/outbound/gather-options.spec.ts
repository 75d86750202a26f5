/**
 * `outbound.publishGatherMs` and `outbound.markGatherMs`: how long a commit's jobs wait before one
 * addBulk, and how long the `enqueued_at` marks wait before one UPDATE. Bad values fail the boot.
 */
import { getQueueToken } from '@nestjs/bull';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Queue } from 'bull';
import { DataSource } from 'typeorm';
import { WebhookDelivery } from '../../src/database/entities/webhook-delivery.entity.js';
import { WebhooksConfigError } from '../../src/errors/webhooks-config.error.js';
import type { OutboundOptions } from '../../src/interfaces/webhooks-options.interface.js';
import { WebhookService } from '../../src/outbound/webhook.service.js';
import { WEBHOOKS_QUEUE } from '../../src/webhooks.constants.js';
import { messages } from '../../src/webhooks.messages.js';
import { FAST_OUTBOUND, startTestApp, type TestApp } from '../support/app.js';
import { testDatabases } from '../support/databases.js';
import { eventually } from '../support/receiver.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
// No relay pass meanwhile (it would enqueue and mark the rows itself); an emitter runs no job.
const QUIET = { ...FAST_OUTBOUND, relayIntervalMs: 3_600_000, reconcileIntervalMs: 3_600_000 };

describe.each(testDatabases())('send-path gather times on %s', (kind) => {
  describe.each([
    ['0 and 0', { publishGatherMs: 0, markGatherMs: 0 }],
    ['1000 and 3000', { publishGatherMs: 1_000, markGatherMs: 3_000 }],
  ])('set to %s', (_name, gather) => {
    let t: TestApp;
    beforeAll(async () => {
      t = await startTestApp({ db: kind, webhooks: { role: 'emitter', outbound: { ...QUIET, ...gather } } });
    });
    afterAll(() => t?.close());

    it('adds the committed job and writes its mark after that long', async () => {
      const svc = t.app.get(WebhookService);
      const queue = t.app.get<Queue>(getQueueToken(WEBHOOKS_QUEUE));
      const ds = t.app.get(DataSource);
      await svc.createEndpoint({ url: 'http://127.0.0.1:9/gather', customerId: 'gather' });
      const sent = await ds.transaction((m) => svc.send('gather.timed', {}, { customerId: 'gather', manager: m }));
      const committed = Date.now();
      const [id] = sent.deliveryIds;
      const mark = async () => (await ds.getRepository(WebhookDelivery).findOneByOrFail({ id })).enqueuedAt;

      if (gather.publishGatherMs === 0) {
        await eventually(async () => (await queue.getJob(id)) !== null, 500, 10);
        await eventually(async () => (await mark()) !== null, 500, 10);
        return;
      }
      await sleep(400);
      expect(await queue.getJob(id)).toBeNull();
      await eventually(async () => (await queue.getJob(id)) !== null, 3_000, 10);
      expect(Date.now() - committed).toBeGreaterThanOrEqual(gather.publishGatherMs - 50);
      // The mark waits for its own gather after the enqueue.
      await sleep(1_000);
      expect(await mark()).toBeNull();
      await eventually(async () => (await mark()) !== null, 4_000, 20);
    }, 15_000);
  });

  it.each<[keyof OutboundOptions, unknown, string]>([
    ['publishGatherMs', -1, 'a number from 0 to 1000'],
    ['publishGatherMs', 60_000, 'a number from 0 to 1000'],
    ['markGatherMs', Number.POSITIVE_INFINITY, 'a number from 0 to 10000'],
    ['markGatherMs', '250', 'a number from 0 to 10000'],
  ])('fails the boot on outbound.%s = %p, saying what it accepts', async (option, value, allowed) => {
    const boot = startTestApp({ db: kind, webhooks: { outbound: { ...QUIET, [option]: value } } });
    await expect(boot).rejects.toThrow(
      new WebhooksConfigError(messages.invalidOption(`outbound.${option}`, allowed, value)),
    );
  });
});
