import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { getQueueToken } from '@nestjs/bull';
import { Injectable } from '@nestjs/common';
import type { Histogram } from '@opentelemetry/sdk-metrics';
import type { Queue } from 'bull';
import request from 'supertest';
import { DataSource } from 'typeorm';
import { OnWebhook } from '../../src/decorators/on-webhook.decorator.js';
import { WebhookService } from '../../src/outbound/webhook.service.js';
import { postWebhook } from '../../src/testing/index.js';
import { WEBHOOKS_QUEUE } from '../../src/webhooks.constants.js';
import { FAST_OUTBOUND, startTestApp, type TestApp } from '../support/app.js';
import { testDatabases } from '../support/databases.js';
import { allSucceeded } from '../support/deliveries.js';
import { eventually, Receiver } from '../support/receiver.js';
import { workerStarted } from '../inbound/support.js';
import { InMemoryOtel } from './support.js';

const SECRET = 'whsec_' + Buffer.from('telemetry-test-secret-0123456789').toString('base64');
const OTHER_SECRET = 'whsec_' + Buffer.from('not-the-partner-secret-012345678').toString('base64');
const TRACEPARENT = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';

@Injectable()
class Handlers {
  @OnWebhook('invoice.paid')
  paid() {}
}

describe.each(testDatabases())('metrics and traces through an OpenTelemetry SDK on %s', (db) => {
  let otel: InMemoryOtel;
  let receiver: Receiver;
  let t: TestApp;
  let svc: WebhookService;

  beforeAll(async () => {
    otel = new InMemoryOtel();
    receiver = await new Receiver((req) => {
      if (req.url === '/gone') return { status: 410 };
      if (req.url === '/broken') return { status: 500 };
      return undefined;
    }).start();
    t = await startTestApp({
      db,
      http: 'express',
      providers: [Handlers],
      webhooks: {
        outbound: FAST_OUTBOUND,
        inbound: { sources: { partner: { scheme: 'standard', secrets: [SECRET] } } },
        observability: { traceparent: true, eventTypeLabels: 3 },
      },
    });
    svc = t.app.get(WebhookService);
  });
  afterAll(async () => {
    if (t) await workerStarted(t.app);
    await t?.close();
    await receiver?.stop();
    await otel?.close();
  });

  it('counts attempts, deliveries and disabled endpoints with bounded labels, and traces send -> attempt', async () => {
    await svc.createEndpoint({ url: receiver.url('/ok'), eventTypes: ['order.*'] });
    await svc.createEndpoint({ url: receiver.url('/gone'), eventTypes: ['order.cancelled'] });
    await svc.createEndpoint({ url: receiver.url('/broken'), eventTypes: ['order.failed'] });
    const sent: { deliveryIds: string[] }[] = [];
    for (let i = 0; i < 3; i++) sent.push(await svc.send('order.created', { i }));
    sent.push(await svc.send('order.cancelled', {}));
    sent.push(await svc.send('order.failed', {}));
    await eventually(async () => {
      const ds = await Promise.all(sent.flatMap((s) => s.deliveryIds).map((id) => svc.getDelivery(id)));
      return ds.every((d) => ['succeeded', 'failed'].includes(d.status));
    }, 15_000);
    // A fourth type is past the cap of 3: counted as `other`.
    sent.push(await svc.send('order.extra', {}));
    const ids = sent.flatMap((s) => s.deliveryIds);
    expect(ids).toHaveLength(8);
    await eventually(async () => {
      const ds = await Promise.all(ids.map((id) => svc.getDelivery(id)));
      return ds.every((d) => ['succeeded', 'failed'].includes(d.status));
    }, 15_000);

    const attempt = (type: string, status: string, outcome: string) =>
      otel.count('webhooks.outbound.attempts', {
        'webhooks.event_type': type,
        'webhooks.status_class': status,
        'webhooks.outcome': outcome,
      });
    expect(await attempt('order.created', '2xx', 'succeeded')).toBe(3);
    expect(await attempt('order.cancelled', '2xx', 'succeeded')).toBe(1);
    expect(await attempt('order.cancelled', '4xx', 'gone')).toBe(1);
    expect(await attempt('order.failed', '5xx', 'retry')).toBe(2);
    expect(await attempt('order.failed', '5xx', 'failed')).toBe(1);
    expect(await attempt('order.failed', '2xx', 'succeeded')).toBe(1);
    expect(await attempt('other', '2xx', 'succeeded')).toBe(1);
    const delivered = (type: string, outcome: string) =>
      otel.count('webhooks.outbound.deliveries', { 'webhooks.event_type': type, 'webhooks.outcome': outcome });
    expect(await delivered('order.created', 'succeeded')).toBe(3);
    expect(await delivered('order.cancelled', 'failed')).toBe(1);
    expect(await delivered('order.failed', 'failed')).toBe(1);
    expect(await delivered('other', 'succeeded')).toBe(1);
    expect(await otel.count('webhooks.outbound.endpoint.disables', { 'webhooks.reason': 'gone' })).toBe(1);
    const durations = await otel.points('webhooks.outbound.attempt.duration');
    const total = durations.reduce((n, p) => n + (p.value as Histogram).count, 0);
    expect(total).toBe(10);
    // No label carries an id or a URL.
    const labels = JSON.stringify(await otel.points('webhooks.outbound.attempts'));
    expect(labels).not.toMatch(/msg_|ep_|dlv_|127\.0\.0\.1/);

    // Every attempt span continues the trace of the send() that created its delivery, through the Bull job.
    const sends = otel.finished('webhook send');
    const attempts = otel.finished('webhook attempt');
    expect(sends).toHaveLength(6);
    expect(attempts).toHaveLength(10);
    for (const span of attempts) {
      const parent = sends.find((s) => s.spanContext().spanId === span.parentSpanContext?.spanId);
      expect(parent?.spanContext().traceId).toBe(span.spanContext().traceId);
    }
    const failedAttempt = attempts.find((s) => s.attributes['http.response.status_code'] === 500)!;
    expect(failedAttempt.attributes).toMatchObject({ 'webhooks.status_class': '5xx', 'error.type': 'http' });
    // traceparent on: each request carries its attempt's span.
    const posted = receiver.requests.filter((r) => r.url === '/ok');
    expect(posted).toHaveLength(6);
    for (const r of posted) {
      const [, traceId, spanId] = String(r.headers.traceparent).split('-');
      expect(attempts.some((s) => s.spanContext().traceId === traceId && s.spanContext().spanId === spanId)).toBe(true);
    }
  });

  it("counts the pending deliveries an endpoint's disabling discards, by event type", async () => {
    const queue = t.app.get<Queue>(getQueueToken(WEBHOOKS_QUEUE));
    const delivered = () =>
      otel.count('webhooks.outbound.deliveries', {
        'webhooks.event_type': 'order.cancelled',
        'webhooks.outcome': 'discarded',
      });
    const before = await delivered();
    const ep = await svc.createEndpoint({ url: receiver.url('/gone'), customerId: 'c-discard' });
    // This worker takes no job while three deliveries are written; two then lose their jobs and
    // stay pending, as deliveries waiting for their turn would.
    await queue.pause(true);
    const sent: { deliveryIds: string[] }[] = [];
    try {
      for (let i = 0; i < 3; i++) sent.push(await svc.send('order.cancelled', { i }, { customerId: 'c-discard' }));
      const [first, ...waiting] = sent.map((s) => s.deliveryIds[0]);
      await eventually(async () => (await Promise.all(sent.map((s) => queue.getJob(s.deliveryIds[0])))).every(Boolean));
      for (const id of waiting) await (await queue.getJob(id))!.remove();
      expect((await queue.getJob(first)) !== null).toBe(true);
    } finally {
      await queue.resume(true);
    }
    // The first attempt gets 410: the endpoint is disabled, the other two discarded in one statement.
    await eventually(async () => (await svc.getEndpoint(ep.id)).enabled === false);
    const statuses = await Promise.all(sent.map((s) => svc.getDelivery(s.deliveryIds[0])));
    expect(statuses.map((d) => d.status)).toEqual(['failed', 'discarded', 'discarded']);
    expect((await delivered()) - before).toBe(2);
    await svc.deleteEndpoint(ep.id);
  });

  it('sends a job enqueued at the commit of the caller transaction with the trace of its send()', async () => {
    const dataSource = t.app.get(DataSource);
    const { deliveryIds } = await dataSource.transaction((manager) =>
      svc.send('order.created', { tx: 1 }, { manager }),
    );
    expect(await allSucceeded(dataSource, deliveryIds, 10_000)).toBe(true);
    const send = otel.finished('webhook send').at(-1)!;
    const attempt = await eventually(() =>
      otel.finished('webhook attempt').find((s) => s.parentSpanContext?.spanId === send.spanContext().spanId),
    );
    expect(attempt.spanContext().traceId).toBe(send.spanContext().traceId);
  });

  it('gauges the backlog: pending deliveries, oldest due age, relay lag, disabled endpoints', async () => {
    const gauge = async (name: string) => (await otel.points(name))[0]?.value;
    expect(await gauge('webhooks.outbound.backlog')).toBe(0);
    expect(await gauge('webhooks.outbound.backlog.oldest_due_age')).toBe(0);
    expect(await gauge('webhooks.outbound.relay.lag')).toBe(0);
    expect(await gauge('webhooks.outbound.endpoints.disabled')).toBe(1);
  });

  it('counts inbound calls by source and answer, times handlers, and traces call -> handler', async () => {
    const before = otel.finished('webhook receive').length;
    await postWebhook(
      t.app,
      'partner',
      { type: 'invoice.paid', data: {} },
      { headers: { traceparent: TRACEPARENT } },
    ).expect(200);
    await postWebhook(t.app, 'partner', { type: 'invoice.paid', data: {} }, { secret: OTHER_SECRET }).expect(401);
    await request(t.app.getHttpServer()).post('/webhooks/not-a-source').send({}).expect(404);
    await eventually(() => otel.finished('webhook receive').length === before + 3, 5_000);

    expect(
      await otel.count('webhooks.inbound.calls', { 'webhooks.source': 'partner', 'http.response.status_code': 200 }),
    ).toBe(1);
    expect(
      await otel.count('webhooks.inbound.calls', { 'webhooks.source': 'partner', 'http.response.status_code': 401 }),
    ).toBe(1);
    expect(
      await otel.count('webhooks.inbound.calls', { 'webhooks.source': 'unknown', 'http.response.status_code': 404 }),
    ).toBe(1);
    const [handled] = await otel.points('webhooks.inbound.handler.duration');
    expect(handled.attributes).toEqual({
      'webhooks.source': 'partner',
      'webhooks.event_type': 'invoice.paid',
      'webhooks.outcome': 'ok',
    });
    expect((handled.value as Histogram).count).toBe(1);

    const receive = otel.finished('webhook receive').find((s) => s.attributes['http.response.status_code'] === 200)!;
    // The sender's traceparent is continued.
    expect(receive.spanContext().traceId).toBe(TRACEPARENT.split('-')[1]);
    const [handler] = otel.finished('webhook handler');
    expect(handler.parentSpanContext?.spanId).toBe(receive.spanContext().spanId);
    expect(handler.attributes['webhooks.handler']).toBe('Handlers.paid');
  });

  it('counts and traces inbound calls on Fastify too', async () => {
    const fastify = await startTestApp({
      db,
      http: 'fastify',
      providers: [Handlers],
      webhooks: { role: 'emitter', inbound: { sources: { shop: { scheme: 'standard', secrets: [SECRET] } } } },
    });
    try {
      await postWebhook(fastify.app, 'shop', { type: 'invoice.paid', data: {} }).expect(200);
      await postWebhook(fastify.app, 'shop', { type: 'invoice.paid', data: {} }, { secret: OTHER_SECRET }).expect(401);
      const calls = (status: number) =>
        otel.count('webhooks.inbound.calls', { 'webhooks.source': 'shop', 'http.response.status_code': status });
      await eventually(async () => (await calls(401)) === 1, 5_000);
      expect(await calls(200)).toBe(1);
      const receive = otel
        .finished('webhook receive')
        .find((s) => s.attributes['webhooks.source'] === 'shop' && s.attributes['http.response.status_code'] === 200)!;
      const handler = otel.finished('webhook handler').find((s) => s.attributes['webhooks.source'] === 'shop')!;
      expect(handler.parentSpanContext?.spanId).toBe(receive.spanContext().spanId);
    } finally {
      await fastify.close();
    }
  });
});
