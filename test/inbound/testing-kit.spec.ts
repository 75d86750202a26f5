import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Injectable } from '@nestjs/common';
import { OnWebhook } from '../../src/decorators/on-webhook.decorator.js';
import { postWebhook, signWebhook } from '../../src/testing/index.js';
import type { TestApp } from '../support/app.js';
import { startTestApp } from '../support/app.js';
import { testDatabases } from '../support/databases.js';
import { workerStarted } from './support.js';

/** The Django tutorial's receiving view, as a handler. */
@Injectable()
class OrderWebhooks {
  readonly completed: unknown[] = [];
  @OnWebhook('order.completed', { source: 'orders' })
  orderCompleted(data: unknown) {
    this.completed.push(data);
  }
}

// The seed's WebhookTests (Django TestCase), with the testing kit.
describe.each(testDatabases())('the seed WebhookTests on %s', (db) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({
      db,
      http: 'express',
      providers: [OrderWebhooks],
      webhooks: {
        inbound: {
          sources: { orders: { scheme: 'hmac-sha256', header: 'X-Webhook-Signature', secrets: ['test_secret'] } },
        },
      },
    });
  });
  afterAll(async () => {
    await workerStarted(t.app);
    await t.close();
  });

  it('test_valid_webhook', async () => {
    await postWebhook(t.app, 'orders', { event: 'order.completed', data: {} }).expect(200);
    expect(t.app.get(OrderWebhooks).completed).toEqual([{}]);
  });

  it('test_invalid_signature_rejected', async () => {
    await postWebhook(
      t.app,
      'orders',
      { event: 'order.completed', data: {} },
      { headers: { 'X-Webhook-Signature': 'invalid_signature' } },
    ).expect(401);
  });

  it('signs exactly like the tutorial: hex HMAC-SHA256 of the raw body', () => {
    const payload = JSON.stringify({ event: 'order.completed', data: {} });
    const signed = signWebhook({
      scheme: 'hmac-sha256',
      secret: 'test_secret',
      payload,
      header: 'X-Webhook-Signature',
    });
    // hmac.new(b'test_secret', payload, hashlib.sha256).hexdigest(), computed in Python.
    expect(signed.headers['x-webhook-signature']).toBe(
      '20b48f03d50cb6d9fa96cbd867b56125a0d79bd317c1d787317f8a883f223681',
    );
    expect(signed.body).toBe(payload);
  });

  it('signs a UTF-8 Buffer as its text, and refuses one that is not UTF-8 rather than change its bytes', () => {
    const text = JSON.stringify({ event: 'order.completed', data: { note: 'café' } });
    const opts = { scheme: 'hmac-sha256' as const, secret: 'test_secret', header: 'X-Webhook-Signature' };
    expect(signWebhook({ ...opts, payload: Buffer.from(text) })).toEqual(signWebhook({ ...opts, payload: text }));
    const latin1 = Buffer.from(text, 'latin1');
    expect(() => signWebhook({ ...opts, payload: latin1 })).toThrow(/a Buffer payload must be UTF-8/);
  });
});

describe.each(testDatabases())('postWebhook on a Fastify app on %s', (db) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({
      db,
      http: 'fastify',
      fastifyReady: false, // as a test that never calls ready() itself
      providers: [OrderWebhooks],
      webhooks: { inbound: { sources: { orders: { scheme: 'hmac-sha256', secrets: ['test_secret'] } } } },
    });
  });
  afterAll(async () => {
    await workerStarted(t.app);
    await t.close();
  });

  it('waits for the instance to be ready by itself', async () => {
    await postWebhook(t.app, 'orders', { event: 'order.completed', data: { id: 7 } }).expect(200);
    expect(t.app.get(OrderWebhooks).completed).toEqual([{ id: 7 }]);
    await postWebhook(t.app, 'orders', { event: 'order.completed', data: {} }, { secret: 'wrong' }).expect(401);
  });
});
