import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { WebhookService } from '../../src/outbound/webhook.service.js';
import { PortalService } from '../../src/portal/portal.service.js';
import { WebhookEvents, type WebhookEventMap } from '../../src/webhook.events.js';
import type { TestApp } from '../support/app.js';
import { testDatabases } from '../support/databases.js';
import { eventually, Receiver } from '../support/receiver.js';
import { as, startPortalApp } from './support.js';

describe.each(testDatabases())('portal tenant isolation on %s', (db) => {
  let t: TestApp;
  let receiver: Receiver;
  let svc: WebhookService;
  let a: ReturnType<typeof as>;
  let b: ReturnType<typeof as>;
  let aRead: ReturnType<typeof as>;
  const ids = { endpoint: '', message: '', delivery: '' };
  const actions: WebhookEventMap['portal.action'][] = [];

  beforeAll(async () => {
    // Echoes the message id in a response header, which the attempt log must show.
    receiver = await new Receiver((req) => ({
      status: 200,
      headers: { 'x-receiver-saw': String(req.headers['webhook-id']) },
      body: 'ok',
    })).start();
    t = await startPortalApp(db);
    svc = t.app.get(WebhookService);
    const portal = t.app.get(PortalService);
    const server = t.app.getHttpServer();
    a = as(server, (await portal.createSession({ customerId: 'cust-a', scope: 'manage' })).token);
    b = as(server, (await portal.createSession({ customerId: 'cust-b', scope: 'manage' })).token);
    aRead = as(server, (await portal.createSession({ customerId: 'cust-a' })).token);
    t.app.get(WebhookEvents).on('portal.action', (e) => void actions.push(e));

    const ep = await svc.createEndpoint({ url: receiver.url('/a'), customerId: 'cust-a' });
    await svc.createEndpoint({ url: receiver.url('/b'), customerId: 'cust-b' });
    const sent = await svc.send('order.completed', { id: 'ord_a' }, { customerId: 'cust-a' });
    await svc.send('order.completed', { id: 'ord_b' }, { customerId: 'cust-b' });
    await receiver.waitFor(2);
    await eventually(async () => (await svc.getDelivery(sent.deliveryIds[0])).status === 'succeeded');
    Object.assign(ids, { endpoint: ep.id, message: sent.messageId, delivery: sent.deliveryIds[0] });
  });
  afterAll(async () => {
    await t?.close();
    await receiver?.stop();
  });

  it('shows a customer its own endpoints, messages, deliveries, attempts and stats', async () => {
    const session = await a.get('/session').expect(200);
    expect(session.body).toMatchObject({ customerId: 'cust-a', scope: 'manage', theme: { mode: 'auto' } });
    const endpoints = await a.get('/endpoints').expect(200);
    expect(endpoints.body.data.map((e: any) => e.id)).toEqual([ids.endpoint]);
    expect(endpoints.body.data[0].secretMasked).toMatch(/^whsec_••••.{4}$/);
    expect(JSON.stringify(endpoints.body)).not.toContain((await svc.getEndpoint(ids.endpoint)).secret);
    const list = await a.get('/messages').expect(200);
    expect(list.body.data.map((m: any) => [m.id, m.status, m.payload])).toEqual([
      [ids.message, 'succeeded', { id: 'ord_a' }],
    ]);
    const message = await a.get(`/messages/${ids.message}`).expect(200);
    expect(message.body.deliveries.map((d: any) => d.id)).toEqual([ids.delivery]);
    const delivery = await a.get(`/deliveries/${ids.delivery}`).expect(200);
    expect(delivery.body.attempts).toHaveLength(1);
    expect(delivery.body.attempts[0]).toMatchObject({ attemptNumber: 1, responseStatus: 200, trigger: 'scheduled' });
    expect(JSON.parse(delivery.body.attempts[0].requestBody).data).toEqual({ id: 'ord_a' });
    // The headers this attempt sent, as the receiver got them, and those it answered with.
    const got = receiver.requests.find((r) => r.url === '/a')!.headers;
    expect(delivery.body.attempts[0].requestHeaders).toMatchObject({
      'webhook-id': ids.message,
      'webhook-timestamp': got['webhook-timestamp'],
      'webhook-signature': got['webhook-signature'],
    });
    expect(delivery.body.attempts[0].responseHeaders['x-receiver-saw']).toBe(ids.message);
    expect(JSON.stringify(delivery.body)).not.toContain((await svc.getEndpoint(ids.endpoint)).secret);
    const stats = await a.get(`/endpoints/${ids.endpoint}/stats?window=24h`).expect(200);
    expect(stats.body).toMatchObject({ window: '24h', total: 1, succeeded: 1, failed: 0, successRate: 1 });
    expect(stats.body.buckets).toHaveLength(24);
    expect(stats.body.p95Ms).toEqual(expect.any(Number));
    const week = await a.get(`/endpoints/${ids.endpoint}/stats?window=7d`).expect(200);
    expect(week.body.buckets).toHaveLength(28);
    const types = await a.get('/event-types').expect(200);
    expect(types.body.data.map((e: any) => e.name)).toEqual(['order.completed', 'invoice.paid']);
  });

  it("answers 404 to every route given another customer's ids, and changes nothing", async () => {
    const reads = [
      `/endpoints/${ids.endpoint}`,
      `/endpoints/${ids.endpoint}/stats`,
      `/messages/${ids.message}`,
      `/deliveries/${ids.delivery}`,
    ];
    for (const path of reads) {
      const res = await b.get(path);
      expect([path, res.status, res.headers['content-type']]).toEqual([
        path,
        404,
        expect.stringMatching(/^application\/problem\+json/),
      ]);
      expect(res.body).toMatchObject({ status: 404, code: 'not_found' });
    }
    const since = new Date(Date.now() - 3_600_000).toISOString();
    const writes: [string, string, object?][] = [
      ['patch', `/endpoints/${ids.endpoint}`, { url: receiver.url('/stolen') }],
      ['post', `/endpoints/${ids.endpoint}/secret/reveal`],
      ['post', `/endpoints/${ids.endpoint}/secret/rotate`, {}],
      ['post', `/endpoints/${ids.endpoint}/test`, { eventType: 'order.completed' }],
      ['post', `/endpoints/${ids.endpoint}/recover`, { since }],
      ['post', `/endpoints/${ids.endpoint}/replay-missing`, { since }],
      ['post', `/deliveries/${ids.delivery}/replay`],
      ['delete', `/endpoints/${ids.endpoint}`],
    ];
    const before = await svc.getEndpoint(ids.endpoint);
    for (const [method, path, body] of writes) {
      const res = await (b as any)[method](path, body);
      expect([method, path, res.status]).toEqual([method, path, 404]);
    }
    expect(await svc.getEndpoint(ids.endpoint)).toEqual(before);
    expect((await svc.listDeliveries({ endpointId: ids.endpoint })).data).toHaveLength(1);
    // B's lists hold only B's rows, also when filtered by A's endpoint.
    expect((await b.get('/endpoints').expect(200)).body.data.every((e: any) => e.customerId === 'cust-b')).toBe(true);
    expect((await b.get(`/messages?endpointId=${ids.endpoint}`).expect(200)).body.data).toEqual([]);
    expect((await b.get('/messages').expect(200)).body.data.map((m: any) => m.payload)).toEqual([{ id: 'ord_b' }]);
    expect(actions).toEqual([]);
  });

  it('answers an id holding U+0000 as an unknown one (404) and such a filter or cursor with 422, never 500', async () => {
    // PostgreSQL refuses U+0000 in any text parameter: the lookup must not reach it.
    const nul = `${ids.endpoint}%00`;
    const calls: [string, string, object?][] = [
      ['get', `/endpoints/${nul}`],
      ['get', `/endpoints/${nul}/stats`],
      ['get', `/messages/${ids.message}%00`],
      ['get', `/deliveries/${ids.delivery}%00`],
      ['patch', `/endpoints/${nul}`, { description: 'x' }],
      ['post', `/endpoints/${nul}/secret/rotate`, {}],
      ['post', `/deliveries/${ids.delivery}%00/replay`],
      ['delete', `/endpoints/${nul}`],
    ];
    for (const [method, path, body] of calls) {
      const res = await (a as any)[method](path, body);
      expect([method, path, res.status, res.body.code]).toEqual([method, path, 404, 'not_found']);
    }
    for (const query of ['eventType=a%00', `endpointId=${nul}`, `cursor=${ids.message}%00`]) {
      const res = await a.get(`/messages?${query}`);
      expect([query, res.status, res.body.code]).toEqual([query, 422, 'invalid_input']);
    }
    expect((await a.get(`/endpoints?cursor=${nul}`)).body).toMatchObject({ status: 422, code: 'invalid_input' });
    expect(actions).toEqual([]);
  });

  it('refuses changes to a read session (403) and shows it no secret', async () => {
    expect((await aRead.get(`/endpoints/${ids.endpoint}`).expect(200)).body.id).toBe(ids.endpoint);
    for (const res of [
      await aRead.post(`/endpoints/${ids.endpoint}/secret/reveal`),
      await aRead.patch(`/endpoints/${ids.endpoint}`, { disabled: true }),
      await aRead.post('/endpoints', { url: receiver.url('/new') }),
      await aRead.post(`/deliveries/${ids.delivery}/replay`),
    ]) {
      expect(res.status).toBe(403);
      expect(res.body.code).toBe('forbidden');
    }
  });

  it('lets a manage session act on its own objects, and reports each action as a portal.action event', async () => {
    const secret = (await svc.getEndpoint(ids.endpoint)).secret;
    expect((await a.post(`/endpoints/${ids.endpoint}/secret/reveal`).expect(200)).body).toEqual({ secret });
    const rotated = await a.post(`/endpoints/${ids.endpoint}/secret/rotate`, { graceMs: 60_000 }).expect(200);
    const after = await svc.getEndpoint(ids.endpoint);
    expect([after.secret, after.previousSecret]).toEqual([rotated.body.secret, secret]);

    const test = await a.post(`/endpoints/${ids.endpoint}/test`, { eventType: 'invoice.paid' }).expect(202);
    expect(test.body.deliveryIds).toHaveLength(1);
    await eventually(() => receiver.requests.filter((r) => r.url === '/a').length >= 2);
    const body = JSON.parse(receiver.requests.filter((r) => r.url === '/a')[1].body);
    expect(body).toMatchObject({ type: 'invoice.paid', data: { id: 'in_1' } });

    const replay = await a.post(`/deliveries/${ids.delivery}/replay`).expect(200);
    expect(replay.body.id).toBe(ids.delivery);
    await eventually(() => receiver.requests.filter((r) => r.url === '/a').length >= 3);

    const created = await a.post('/endpoints', { url: receiver.url('/new'), eventTypes: ['order.*'] }).expect(201);
    expect(created.body).toMatchObject({ eventTypes: ['order.*'], disabled: false, customerId: 'cust-a' });
    expect((await svc.getEndpoint(created.body.id)).customerId).toBe('cust-a');
    const patched = await a.patch(`/endpoints/${created.body.id}`, { disabled: true }).expect(200);
    expect(patched.body.disabled).toBe(true);
    await a.delete(`/endpoints/${created.body.id}`).expect(204);
    await a.get(`/endpoints/${created.body.id}`).expect(404);

    expect(actions.map((e) => [e.actor.customerId, e.actor.kind, e.action])).toEqual([
      ['cust-a', 'portal', 'endpoint.secret_revealed'],
      ['cust-a', 'portal', 'endpoint.secret_rotated'],
      ['cust-a', 'portal', 'endpoint.test_sent'],
      ['cust-a', 'portal', 'delivery.replayed'],
      ['cust-a', 'portal', 'endpoint.created'],
      ['cust-a', 'portal', 'endpoint.updated'],
      ['cust-a', 'portal', 'endpoint.deleted'],
    ]);
    expect(actions[0].actor.sessionId).toMatch(/^ps_/);
  });

  it('reads limit only as decimal digits and limit or cursor only once (422 otherwise, never a silent first page)', async () => {
    for (const query of ['limit=1e2', 'limit=0x10', 'limit=%205', 'limit=-1', 'limit=1&limit=2', 'cursor=a&cursor=b']) {
      for (const list of ['/endpoints', '/messages']) {
        const res = await a.get(`${list}?${query}`);
        expect([list, query, res.status, res.body.code]).toEqual([list, query, 422, 'invalid_input']);
      }
    }
    expect((await a.get('/messages?limit=1').expect(200)).body.data).toHaveLength(1);
  });

  it('applies the service validation and network policy to endpoints created through the portal (422)', async () => {
    const bad = await a.post('/endpoints', { url: 'ftp://example.com/x' }).expect(422);
    expect(bad.body).toMatchObject({ code: 'invalid_input', status: 422 });
    await a.post('/endpoints', { url: receiver.url('/x'), eventTypes: ['not a type'] }).expect(422);
  });
});
