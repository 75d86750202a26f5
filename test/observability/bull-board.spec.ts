import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createBullBoard } from '@bull-board/api';
import { BullAdapter } from '@bull-board/api/bullAdapter';
import { ExpressAdapter } from '@bull-board/express';
import type { INestApplication } from '@nestjs/common';
import { getQueueToken } from '@nestjs/bull';
import type { Queue } from 'bull';
import request from 'supertest';
import { WebhookService } from '../../src/outbound/webhook.service.js';
import { startTestApp, type TestApp } from '../support/app.js';
import { testDatabases } from '../support/databases.js';
import { Receiver } from '../support/receiver.js';

/**
 * The board as docs/operations.md mounts it with @bull-board/api and its Express adapter, on the
 * module's queue (named `webhooks`). @bull-board/nestjs, the other snippet there, is CommonJS that
 * requires ESM-only Nest 12: Node >= 20.19 loads it, jest's module runtime on Node 20 cannot.
 */
function mountBoard(app: INestApplication): void {
  const serverAdapter = new ExpressAdapter();
  serverAdapter.setBasePath('/queues');
  const queue = app.get<Queue>(getQueueToken('webhooks'), { strict: false });
  createBullBoard({ queues: [new BullAdapter(queue)], serverAdapter });
  app.use('/queues', serverAdapter.getRouter());
}

describe.each(testDatabases())('the module queue in bull-board on %s', (db) => {
  let receiver: Receiver;
  let t: TestApp;
  beforeAll(async () => {
    receiver = await new Receiver().start();
    // An emitter: no worker here takes the job, so it waits in the queue for the board to show.
    t = await startTestApp({
      db,
      http: 'express',
      beforeInit: mountBoard,
      webhooks: { role: 'emitter', outbound: { network: { allow: ['127.0.0.1/32'] } } },
    });
  });
  afterAll(async () => {
    await t?.close();
    await receiver?.stop();
  });

  it('lists the queue, reads a delivery job through the board API, and pauses the queue from it', async () => {
    const svc = t.app.get(WebhookService);
    await svc.createEndpoint({ url: receiver.url('/hook') });
    const { deliveryIds } = await svc.send('order.created', { n: 1 });
    const http = request(t.app.getHttpServer());

    const list = await http.get('/queues/api/queues').query({ activeQueue: 'webhooks', status: 'waiting' }).expect(200);
    const queue = list.body.queues.find((q: { name: string }) => q.name === 'webhooks');
    expect(queue.counts.waiting).toBe(1);
    expect(queue.jobs.map((j: { id: string }) => j.id)).toEqual(deliveryIds);

    const job = await http.get(`/queues/api/queues/webhooks/${deliveryIds[0]}`).expect(200);
    expect(job.body.job).toMatchObject({ id: deliveryIds[0], name: 'deliver', data: { deliveryId: deliveryIds[0] } });

    await http.put('/queues/api/queues/webhooks/pause').expect(200);
    expect(await t.app.get<Queue>(getQueueToken('webhooks'), { strict: false }).isPaused()).toBe(true);
  });
});
