import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createServer, type Socket } from 'node:net';
import { DataSource } from 'typeorm';
import { WebhookValidationError } from '../../src/errors/webhook-validation.error.js';
import { WebhookService } from '../../src/outbound/webhook.service.js';
import { verifyStandardSignature } from '../../src/signing/standard-webhooks.js';
import { messages } from '../../src/webhooks.messages.js';
import { startTestApp, type TestApp } from '../support/app.js';
import { testDatabases } from '../support/databases.js';
import { eventually, Receiver } from '../support/receiver.js';
import { WebhookNotFoundError } from '../../src/errors/webhook-not-found.error.js';

const OUTBOUND = {
  schedule: [0, 150, 300],
  jitter: 0,
  timeoutMs: 400,
  maxResponseBodyBytes: 64,
  network: { allow: ['127.0.0.1/32'] },
};

describe.each(testDatabases())('outbound delivery on %s', (db) => {
  let t: TestApp;
  let svc: WebhookService;
  const receivers: Receiver[] = [];
  const receiver = async (...args: ConstructorParameters<typeof Receiver>) => {
    const r = await new Receiver(...args).start();
    receivers.push(r);
    return r;
  };
  const finalDelivery = (id: string) =>
    eventually(async () => {
      const [d] = (await svc.listDeliveries({ messageId: id })).data;
      return d && ['succeeded', 'failed', 'discarded'].includes(d.status) ? d : null;
    });

  beforeAll(async () => {
    t = await startTestApp({ db, webhooks: { outbound: OUTBOUND } });
    svc = t.app.get(WebhookService);
  });
  afterAll(async () => {
    await t?.close();
    await Promise.all(receivers.map((r) => r.stop()));
  });

  it('applies migrations that match the entities exactly', async () => {
    const ds = t.app.get(DataSource);
    const pending = await ds.driver.createSchemaBuilder().log();
    expect(pending.upQueries.map((q) => q.query)).toEqual([]);
  });

  it('delivers a signed POST with the Standard Webhooks headers and logs the attempt', async () => {
    const r = await receiver();
    const ep = await svc.createEndpoint({ url: r.url(), headers: { 'X-Tenant': 'acme' }, customerId: 'c-basic' });
    expect(ep.secret).toMatch(/^whsec_/);
    const sent = await svc.send('order.completed', { order_id: 'o1', total: '9.99' }, { customerId: 'c-basic' });
    await r.waitFor(1);
    const req = r.requests[0];
    expect(req.method).toBe('POST');
    expect(req.headers['content-type']).toBe('application/json');
    expect(req.headers['user-agent']).toMatch(/^nestjs-webhooks\//);
    expect(req.headers['x-tenant']).toBe('acme');
    expect(req.headers['webhook-id']).toBe(sent.messageId);
    const body = JSON.parse(req.body);
    expect(body).toEqual({
      type: 'order.completed',
      timestamp: expect.any(String),
      data: { order_id: 'o1', total: '9.99' },
    });
    const ts = Number(req.headers['webhook-timestamp']);
    expect(Math.abs(ts - Date.now() / 1000)).toBeLessThan(10);
    expect(
      verifyStandardSignature(String(req.headers['webhook-signature']), [ep.secret], sent.messageId, ts, req.body),
    ).toBe(true);

    const d = await finalDelivery(sent.messageId);
    expect(d).toMatchObject({ status: 'succeeded', attempts: 1, lastStatusCode: 200 });
    const [a] = (await svc.listAttempts(d.id)).data;
    expect(a).toMatchObject({ number: 1, statusCode: 200, responseBody: 'ok', errorClass: null, trigger: 'scheduled' });
    expect(a.durationMs).toBeGreaterThanOrEqual(0);
  });

  it('retries after a 500 with the same webhook-id and body, then succeeds', async () => {
    const r = await receiver((_req, n) => (n === 0 ? { status: 500, body: 'boom' } : undefined));
    await svc.createEndpoint({ url: r.url(), customerId: 'c-retry' });
    const sent = await svc.send('order.completed', { n: 1 }, { customerId: 'c-retry' });
    await r.waitFor(2);
    expect(r.requests[1].headers['webhook-id']).toBe(r.requests[0].headers['webhook-id']);
    expect(r.requests[1].body).toBe(r.requests[0].body);
    expect(r.requests[1].at - r.requests[0].at).toBeGreaterThanOrEqual(140);
    const d = await finalDelivery(sent.messageId);
    expect(d).toMatchObject({ status: 'succeeded', attempts: 2 });
    const attempts = (await svc.listAttempts(d.id)).data;
    expect(attempts.map((a) => [a.number, a.statusCode, a.errorClass, a.responseBody])).toEqual([
      [2, 200, null, 'ok'],
      [1, 500, 'http', 'boom'],
    ]);
  });

  it('records a timeout and, after the last attempt, fails the delivery with its error', async () => {
    const r = await receiver(() => 'hang');
    await svc.createEndpoint({ url: r.url(), customerId: 'c-timeout' });
    const sent = await svc.send('order.completed', {}, { customerId: 'c-timeout' });
    const d = await finalDelivery(sent.messageId);
    expect(d).toMatchObject({ status: 'failed', attempts: 3, lastStatusCode: null });
    expect(d.lastError).toMatch(/timeout|abort/i);
    const attempts = (await svc.listAttempts(d.id)).data;
    expect(attempts.map((a) => a.errorClass)).toEqual(['timeout', 'timeout', 'timeout']);
    for (const a of attempts) expect(a.durationMs).toBeGreaterThanOrEqual(350);
  });

  it("bounds a TLS handshake that never completes by timeoutMs, not by the HTTP client's own 10 s", async () => {
    // Accepts the connection and never speaks TLS: the attempt must still end at its deadline.
    const sockets = new Set<Socket>();
    const silent = createServer((s) => sockets.add(s.on('error', () => undefined)));
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    try {
      const { port } = silent.address() as { port: number };
      await svc.createEndpoint({ url: `https://127.0.0.1:${port}/hook`, customerId: 'c-tls-silent' });
      const sent = await svc.send('order.completed', {}, { customerId: 'c-tls-silent' });
      const [first] = await eventually(async () => {
        const attempts = (await svc.listAttempts(sent.deliveryIds[0])).data;
        return attempts.length > 0 ? attempts : null;
      });
      expect(first).toMatchObject({ errorClass: 'timeout', statusCode: null });
      // The DOMException's name, not its legacy numeric code (23).
      expect(first.errorMessage).toMatch(/^TimeoutError: /);
      expect(first.durationMs).toBeGreaterThanOrEqual(350);
      expect(first.durationMs).toBeLessThan(3_000);
      expect((await finalDelivery(sent.messageId)).attempts).toBe(3);
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise((r) => silent.close(r));
    }
  });

  it('keeps a status that arrived when its body is then cut short: a 410 still ends the delivery', async () => {
    const r = await receiver((_req, _n, res) => {
      res.writeHead(410, { 'content-length': '100000' });
      res.write('going');
      return 'hang';
    });
    const ep = await svc.createEndpoint({ url: r.url(), customerId: 'c-410-slow' });
    const sent = await svc.send('order.completed', {}, { customerId: 'c-410-slow' });
    const d = await finalDelivery(sent.messageId);
    expect(d).toMatchObject({ status: 'failed', attempts: 1, lastStatusCode: 410 });
    const [a] = (await svc.listAttempts(d.id)).data;
    expect(a).toMatchObject({ statusCode: 410, errorClass: 'http', responseBody: 'going' });
    expect(a.errorMessage).toMatch(/^HTTP 410; its body was cut short \(TimeoutError: /);
    expect(await svc.getEndpoint(ep.id)).toMatchObject({ enabled: false });
  });

  it('keeps a 2xx whose connection resets in its body as delivered: no second POST', async () => {
    const r = await receiver((_req, _n, res) => {
      res.setHeader('__proto__', 'kept');
      res.writeHead(200, { 'content-length': '100' });
      res.write('o', () => res.socket?.destroy());
      return 'hang';
    });
    await svc.createEndpoint({ url: r.url(), customerId: 'c-200-reset' });
    const sent = await svc.send('order.completed', {}, { customerId: 'c-200-reset' });
    const d = await finalDelivery(sent.messageId);
    expect(d).toMatchObject({ status: 'succeeded', attempts: 1, lastStatusCode: 200 });
    const [a] = (await svc.listAttempts(d.id)).data;
    expect(a).toMatchObject({ statusCode: 200, errorClass: null, errorMessage: null, responseBody: 'o' });
    // A header named like a prototype key is kept as any other.
    expect(Object.entries(a.responseHeaders ?? {})).toContainEqual(['__proto__', 'kept']);
    expect(r.requests).toHaveLength(1);
  });

  it('stores at most maxResponseBodyBytes of an answer, leaving out a character the cap cuts, and UTF-8 headers as such', async () => {
    const r = await receiver(() => ({
      status: 500,
      // Header bytes go out as written: UTF-8 here, and one latin1 value.
      headers: { 'x-note': Buffer.from('café ☃').toString('latin1'), 'x-latin1': 'caf\u00e9' },
      body: `${'x'.repeat(63)}€ and more`,
    }));
    await svc.createEndpoint({ url: r.url(), customerId: 'c-cap' });
    const sent = await svc.send('order.completed', {}, { customerId: 'c-cap' });
    const d = await finalDelivery(sent.messageId);
    const [a] = (await svc.listAttempts(d.id)).data;
    expect(a.responseBody).toBe('x'.repeat(63));
    // The log keeps header values as the receiver wrote them, UTF-8 read as such.
    expect(a.responseHeaders).toMatchObject({ 'x-note': 'café ☃', 'x-latin1': 'café' });
  });

  it('records a refused connection', async () => {
    const port = await closedPort();
    await svc.createEndpoint({ url: `http://127.0.0.1:${port}/x`, customerId: 'c-refused' });
    const sent = await svc.send('order.completed', {}, { customerId: 'c-refused' });
    const d = await finalDelivery(sent.messageId);
    expect(d.status).toBe('failed');
    const attempts = (await svc.listAttempts(d.id)).data;
    expect(attempts.map((a) => a.errorClass)).toEqual(['refused', 'refused', 'refused']);
  });

  it('treats a 3xx as a failure and never follows it', async () => {
    const target = await receiver();
    const r = await receiver(() => ({ status: 302, headers: { location: target.url() } }));
    await svc.createEndpoint({ url: r.url(), customerId: 'c-302' });
    const sent = await svc.send('order.completed', {}, { customerId: 'c-302' });
    const d = await finalDelivery(sent.messageId);
    expect(d).toMatchObject({ status: 'failed', attempts: 3, lastStatusCode: 302 });
    expect(target.requests).toHaveLength(0);
  });

  it('ends the delivery on 410 and disables the endpoint', async () => {
    const r = await receiver(() => ({ status: 410 }));
    const ep = await svc.createEndpoint({ url: r.url(), customerId: 'c-410' });
    const sent = await svc.send('order.completed', {}, { customerId: 'c-410' });
    const d = await finalDelivery(sent.messageId);
    expect(d).toMatchObject({ status: 'failed', attempts: 1, lastStatusCode: 410 });
    const after = await svc.getEndpoint(ep.id);
    expect(after).toMatchObject({ enabled: false, disabledReason: expect.stringMatching(/410/) });
    // A disabled endpoint gets no new deliveries, so no attempts.
    const next = await svc.send('order.completed', {}, { customerId: 'c-410' });
    expect(next.deliveryIds).toEqual([]);
    await new Promise((res) => setTimeout(res, 300));
    expect(r.requests).toHaveLength(1);
  });

  it('honours Retry-After on 429, clamped to twice the scheduled delay', async () => {
    const r = await receiver((_req, n) => (n === 0 ? { status: 429, headers: { 'retry-after': '60' } } : undefined));
    await svc.createEndpoint({ url: r.url(), customerId: 'c-429' });
    const sent = await svc.send('order.completed', {}, { customerId: 'c-429' });
    await r.waitFor(1);
    const pending = await eventually(async () => {
      const [d] = (await svc.listDeliveries({ messageId: sent.messageId })).data;
      return d.attempts === 1 ? d : null;
    });
    // Scheduled 150 ms, Retry-After 60 s, clamped to 2 × 150 ms.
    expect(pending.status).toBe('pending');
    const waited = pending.nextAttemptAt!.getTime() - pending.updatedAt.getTime();
    expect(waited).toBeGreaterThanOrEqual(295);
    expect(waited).toBeLessThanOrEqual(305);
    await r.waitFor(2);
    expect(r.requests[1].at - r.requests[0].at).toBeGreaterThanOrEqual(280);
    expect((await finalDelivery(sent.messageId)).status).toBe('succeeded');
  });

  it('signs with both secrets while a rotation grace period runs', async () => {
    const r = await receiver();
    const ep = await svc.createEndpoint({ url: r.url(), customerId: 'c-rotate' });
    const rotated = await svc.rotateEndpointSecret(ep.id, { graceSeconds: 3600 });
    expect(rotated.secret).not.toBe(ep.secret);
    const sent = await svc.send('order.completed', { x: 1 }, { customerId: 'c-rotate' });
    await r.waitFor(1);
    const req = r.requests[0];
    const ts = Number(req.headers['webhook-timestamp']);
    const sig = String(req.headers['webhook-signature']);
    expect(sig.split(' ')).toHaveLength(2);
    expect(verifyStandardSignature(sig, [ep.secret], sent.messageId, ts, req.body)).toBe(true);
    expect(verifyStandardSignature(sig, [rotated.secret], sent.messageId, ts, req.body)).toBe(true);

    await svc.rotateEndpointSecret(ep.id, { graceSeconds: 0 });
    await svc.send('order.completed', { x: 2 }, { customerId: 'c-rotate' });
    await r.waitFor(2);
    expect(String(r.requests[1].headers['webhook-signature']).split(' ')).toHaveLength(1);
  });

  it('keeps tenants apart and applies event filters', async () => {
    const [a, aOrders, b, none] = await Promise.all([receiver(), receiver(), receiver(), receiver()]);
    await svc.createEndpoint({ url: a.url(), customerId: 'tenant-a' });
    await svc.createEndpoint({ url: aOrders.url(), customerId: 'tenant-a', eventTypes: ['order.*'] });
    await svc.createEndpoint({ url: b.url(), customerId: 'tenant-b' });
    await svc.createEndpoint({ url: none.url(), eventTypes: ['invoice.paid'] });

    const forA = await svc.send('user.created', {}, { customerId: 'tenant-a' });
    expect(forA.deliveryIds).toHaveLength(1);
    const orderForA = await svc.send('order.shipped', {}, { customerId: 'tenant-a' });
    expect(orderForA.deliveryIds).toHaveLength(2);
    const noCustomer = await svc.send('invoice.paid', {});
    const noCustomerOther = await svc.send('invoice.voided', {});
    expect(noCustomerOther.deliveryIds).toHaveLength(0);
    await Promise.all([a.waitFor(2), aOrders.waitFor(1), none.waitFor(1)]);
    await new Promise((res) => setTimeout(res, 300));
    expect(a.requests.map((q) => q.headers['webhook-id'])).toEqual(
      expect.arrayContaining([forA.messageId, orderForA.messageId]),
    );
    expect(aOrders.requests.map((q) => q.headers['webhook-id'])).toEqual([orderForA.messageId]);
    expect(none.requests.map((q) => q.headers['webhook-id'])).toEqual([noCustomer.messageId]);
    expect(b.requests).toHaveLength(0);
  });

  it('fans one event out to many endpoints by their filters, each delivery with its own id', async () => {
    const r = await receiver();
    const matching = [['*'], ['order.*'], ['order.item.*'], ['order.item.added'], undefined, []] as const;
    const ids = new Set<string>();
    for (const eventTypes of matching)
      ids.add(
        (
          await svc.createEndpoint({
            url: r.url(),
            customerId: 'tenant-fan',
            eventTypes: eventTypes && [...eventTypes],
          })
        ).id,
      );
    for (const eventTypes of [['order'], ['other.*'], ['order.item']])
      await svc.createEndpoint({ url: r.url(), customerId: 'tenant-fan', eventTypes });
    await svc.createEndpoint({ url: r.url(), customerId: 'tenant-fan', enabled: false });
    await svc.createEndpoint({ url: r.url(), customerId: 'tenant-other' });

    const sent = await svc.send('order.item.added', { n: 1 }, { customerId: 'tenant-fan' });
    expect(sent.deliveryIds).toHaveLength(matching.length);
    expect(new Set(sent.deliveryIds).size).toBe(matching.length);
    for (const id of sent.deliveryIds) expect(id).toMatch(/^dlv_[0-9A-HJKMNP-TV-Z]{26}$/);
    const deliveries = (await svc.listDeliveries({ messageId: sent.messageId })).data;
    expect(new Set(deliveries.map((d) => d.endpointId))).toEqual(ids);
    expect(deliveries.map((d) => d.id).sort()).toEqual([...sent.deliveryIds].sort());
    await r.waitFor(matching.length);
    expect(r.requests.map((q) => q.headers['webhook-id'])).toEqual(Array(matching.length).fill(sent.messageId));
  });

  it('returns the first message for a repeated idempotency key of the same customer', async () => {
    const r = await receiver();
    await svc.createEndpoint({ url: r.url(), customerId: 'c-idem' });
    await svc.createEndpoint({ url: r.url('/other'), customerId: 'c-idem2' });
    const first = await svc.send('order.completed', { v: 1 }, { customerId: 'c-idem', idempotencyKey: 'k1' });
    const again = await svc.send('order.completed', { v: 2 }, { customerId: 'c-idem', idempotencyKey: 'k1' });
    expect(first.created).toBe(true);
    expect(again).toEqual({ messageId: first.messageId, deliveryIds: first.deliveryIds, created: false });
    const otherCustomer = await svc.send('order.completed', { v: 3 }, { customerId: 'c-idem2', idempotencyKey: 'k1' });
    expect(otherCustomer.messageId).not.toBe(first.messageId);
    const concurrent = await Promise.all(
      [1, 2, 3, 4].map((v) => svc.send('order.completed', { v }, { customerId: 'c-idem', idempotencyKey: 'k2' })),
    );
    expect(new Set(concurrent.map((c) => c.messageId)).size).toBe(1);
    expect(concurrent.filter((c) => c.created)).toHaveLength(1);
    expect((await svc.listMessages({ customerId: 'c-idem' })).data).toHaveLength(2);
    await r.waitFor(2);
    await new Promise((res) => setTimeout(res, 300));
    expect(r.requests.filter((q) => q.url === '/hook')).toHaveLength(2);
  });

  it('refuses bad input with a clear error and writes nothing', async () => {
    const before = (await svc.listMessages({ limit: 500 })).data.length;
    const bad: [() => Promise<unknown>, string, RegExp][] = [
      [() => svc.send('order completed', {}), 'type', /dot-delimited segments/],
      [() => svc.send('', {}), 'type', /invalid/],
      [() => svc.send('order.*', {}), 'type', /invalid/],
      [() => svc.send('a.b', undefined), 'data', /JSON-serialisable/],
      [() => svc.send('a.b', { n: 1n }), 'data', /JSON-serialisable/],
      [() => svc.send('a.b', circular()), 'data', /JSON-serialisable/],
      // Each would be sent as {}: the payload lost, silently.
      [() => svc.send('a.b', Promise.resolve({ n: 1 })), 'data', /a Promise has no JSON form/],
      [() => svc.send('a.b', new Map([['n', 1]])), 'data', /a Map has no JSON form/],
      [() => svc.send('a.b', new Set([1])), 'data', /a Set has no JSON form/],
      [() => svc.send('a.b', { s: 'x'.repeat(300 * 1024) }), 'data', /limit is 262144/],
      [() => svc.send('a.b', {}, { customerId: '' }), 'customerId', /non-empty/],
      [() => svc.send('a.b', {}, { idempotencyKey: 'k'.repeat(300) }), 'idempotencyKey', /at most 255/],
      [() => svc.createEndpoint({ url: 'ftp://example.com/x' }), 'url', /only http and https/],
      [() => svc.createEndpoint({ url: 'not a url' }), 'url', /not an absolute URL/],
      // The request would drop them, silently: credentials (shown masked), a fragment; port 0 never connects.
      [
        () => svc.createEndpoint({ url: 'https://user:pa55@example.com/x' }),
        'url',
        /"https:\/\/…@example\.com\/x".*header/,
      ],
      [() => svc.createEndpoint({ url: 'https://user@example.com/x' }), 'url', /credentials in a URL are never sent/],
      [
        () => svc.createEndpoint({ url: 'https://a@b:secret@example.com/x' }),
        'url',
        /^(?!.*secret).*"https:\/\/…@example\.com\/x"/,
      ],
      [() => svc.createEndpoint({ url: 'https://example.com/x#frag' }), 'url', /fragment/],
      [() => svc.createEndpoint({ url: 'https://example.com/x#' }), 'url', /fragment/],
      [() => svc.createEndpoint({ url: 'http://example.com:0/x' }), 'url', /port 0/],
      [() => svc.createEndpoint({ url: 'https://example.com', eventTypes: ['order*'] }), 'eventTypes', /prefix\.\*/],
      [
        () => svc.createEndpoint({ url: 'https://example.com', headers: { 'Webhook-Id': 'x' } }),
        'headers',
        /cannot be overridden/,
      ],
      [
        () => svc.createEndpoint({ url: 'https://example.com', headers: { 'Content-Type': 'text/plain' } }),
        'headers',
        /cannot be overridden/,
      ],
      [
        () => svc.createEndpoint({ url: 'https://example.com', headers: { 'X-A': 'a\r\nb' } }),
        'headers',
        /not a valid/,
      ],
      [() => svc.createEndpoint({ url: 'https://example.com', secret: 'whsec_' }), 'secret', /whsec_/],
      [() => svc.createEndpoint({ url: 'https://example.com', secret: 'plain' }), 'secret', /whsec_/],
      // U+0000 would reach PostgreSQL, which refuses it in any text value.
      [() => svc.createEndpoint({ url: 'https://example.com/a\u0000' }), 'url', /control characters/],
      [() => svc.createEndpoint({ url: 'https://example.com', description: 'a\u0000b' }), 'description', /U\+0000/],
      [() => svc.createEndpoint({ url: 'https://example.com', description: 42 as never }), 'description', /string/],
      [() => svc.updateEndpoint('ep_x', { description: 'a\u0000b' }), 'description', /U\+0000/],
      [() => svc.createEndpoint({ url: 'https://example.com', customerId: 'c\u0000' }), 'customerId', /U\+0000/],
      [() => svc.send('a.b', {}, { idempotencyKey: 'k\u0000' }), 'idempotencyKey', /U\+0000/],
      [() => svc.listDeliveries({ limit: 0 }), 'limit', /1 to 500/],
      [() => svc.rotateEndpointSecret('ep_x', { graceSeconds: -1 }), 'graceSeconds', /integer/],
      // An expiry past the last date a Date can hold (the portal's graceMs: 9007199254740991).
      [() => svc.rotateEndpointSecret('ep_x', { graceSeconds: 9_007_199_254_741 }), 'graceSeconds', /at most/],
    ];
    for (const [call, field, message] of bad) {
      const err = await call().then(
        () => null,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(WebhookValidationError);
      expect(err).toMatchObject({ field, message: expect.stringMatching(message) });
    }
    expect(messages.payloadTooLarge(1, 2)).toMatch(/outbound.maxPayloadBytes/);
    expect((await svc.listMessages({ limit: 500 })).data.length).toBe(before);
    await expect(svc.getEndpoint('ep_missing')).rejects.toThrow('No webhook endpoint with id "ep_missing"');
  });

  it('answers an id holding U+0000 as unknown and such a filter with an empty page, on every database', async () => {
    // PostgreSQL refuses U+0000 in any text parameter: these must not reach it.
    const nul = 'ep_\u0000';
    const unknown: [string, () => Promise<unknown>][] = [
      ['getEndpoint', () => svc.getEndpoint(nul)],
      ['getMessage', () => svc.getMessage(nul)],
      ['getDelivery', () => svc.getDelivery(nul)],
      ['updateEndpoint', () => svc.updateEndpoint(nul, { enabled: true })],
      ['rotateEndpointSecret', () => svc.rotateEndpointSecret(nul)],
      ['deleteEndpoint', () => svc.deleteEndpoint(nul)],
      ['redeliver', () => svc.redeliver(nul)],
      ['recoverFailed', () => svc.recoverFailed({ endpointId: nul, since: new Date(0) })],
      ['replayMissing', () => svc.replayMissing({ endpointId: nul, since: new Date(0) })],
    ];
    for (const [name, call] of unknown) {
      const err = await call().then(
        () => null,
        (e: unknown) => e,
      );
      expect([name, err]).toEqual([name, expect.any(WebhookNotFoundError)]);
    }
    const empty = { data: [], nextCursor: null };
    expect(await svc.listMessages({ type: 'a\u0000' })).toEqual(empty);
    expect(await svc.listEndpoints({ customerId: 'c\u0000' })).toEqual(empty);
    expect(await svc.listDeliveries({ endpointId: nul })).toEqual(empty);
    expect(await svc.listAttempts('dlv_\u0000')).toEqual(empty);
    await expect(svc.send('a.b', {}, { endpointId: nul })).rejects.toThrow(WebhookValidationError);
  });

  it('keeps tenants apart whose ids differ by a lone surrogate: refused when written, matched by nothing', async () => {
    // The pg driver writes a lone surrogate as U+FFFD: 'lone\uDC00' would be stored, and
    // matched, as this customer's id.
    const ep = await svc.createEndpoint({ url: 'https://example.com/lone', customerId: 'lone\uFFFD' });
    const lone = 'lone\uDC00';
    const refused: [string, () => Promise<unknown>, string][] = [
      ['send customerId', () => svc.send('order.completed', {}, { customerId: lone }), 'customerId'],
      ['send idempotencyKey', () => svc.send('order.completed', {}, { idempotencyKey: 'k\uD800' }), 'idempotencyKey'],
      [
        'createEndpoint customerId',
        () => svc.createEndpoint({ url: 'https://example.com/x', customerId: lone }),
        'customerId',
      ],
      ['createEndpoint url', () => svc.createEndpoint({ url: 'https://example.com/\uD800' }), 'url'],
      ['updateEndpoint description', () => svc.updateEndpoint(ep.id, { description: 'a\uDBFFb' }), 'description'],
    ];
    for (const [name, call, field] of refused) {
      const err = await call().then(
        () => null,
        (e: unknown) => e,
      );
      expect([name, err instanceof WebhookValidationError && err.field]).toEqual([name, field]);
    }
    const empty = { data: [], nextCursor: null };
    expect(await svc.listEndpoints({ customerId: lone })).toEqual(empty);
    expect(await svc.listMessages({ customerId: lone })).toEqual(empty);
    expect((await svc.listEndpoints({ customerId: 'lone\uFFFD' })).data.map((e) => e.id)).toEqual([ep.id]);
  });

  it('manages endpoints: update, list by customer, paginate, delete', async () => {
    const created = [];
    for (let i = 0; i < 5; i++)
      created.push(await svc.createEndpoint({ url: `https://example.com/${i}`, customerId: 'c-list' }));
    const page1 = await svc.listEndpoints({ customerId: 'c-list', limit: 2 });
    expect(page1.data.map((e) => e.id)).toEqual([created[4].id, created[3].id]);
    const page2 = await svc.listEndpoints({ customerId: 'c-list', limit: 2, cursor: page1.nextCursor! });
    const page3 = await svc.listEndpoints({ customerId: 'c-list', limit: 2, cursor: page2.nextCursor! });
    expect([...page2.data, ...page3.data].map((e) => e.id)).toEqual([created[2].id, created[1].id, created[0].id]);
    expect(page3.nextCursor).toBeNull();

    const updated = await svc.updateEndpoint(created[0].id, {
      eventTypes: ['a.*'],
      description: 'mine',
      enabled: false,
    });
    expect(await svc.getEndpoint(created[0].id)).toMatchObject({
      eventTypes: ['a.*'],
      description: 'mine',
      enabled: false,
      disabledReason: 'disabled by the app',
    });
    expect(updated.enabled).toBe(false);
    await svc.deleteEndpoint(created[0].id);
    await expect(svc.getEndpoint(created[0].id)).rejects.toThrow(/No webhook endpoint/);
    await expect(svc.deleteEndpoint(created[0].id)).rejects.toThrow(/No webhook endpoint/);
  });

  it('keeps a failed delivery replayable: redeliver and recoverFailed', async () => {
    let up = false;
    const r = await receiver(() => (up ? undefined : { status: 500 }));
    const ep = await svc.createEndpoint({ url: r.url(), customerId: 'c-replay' });
    const since = new Date(Date.now() - 1000);
    const s1 = await svc.send('order.completed', { n: 1 }, { customerId: 'c-replay' });
    const s2 = await svc.send('order.completed', { n: 2 }, { customerId: 'c-replay' });
    expect((await finalDelivery(s1.messageId)).status).toBe('failed');
    expect((await finalDelivery(s2.messageId)).status).toBe('failed');
    up = true;
    await svc.redeliver(s1.deliveryIds[0]);
    const d1 = await eventually(async () => {
      const d = (await svc.listDeliveries({ messageId: s1.messageId })).data[0];
      return d.status === 'succeeded' ? d : null;
    });
    expect(d1.attempts).toBe(4);
    const [last] = (await svc.listAttempts(d1.id)).data;
    expect(last).toMatchObject({ number: 4, trigger: 'manual', statusCode: 200 });

    const recovered = await svc.recoverFailed({ endpointId: ep.id, since });
    expect(recovered.deliveryIds).toEqual([s2.deliveryIds[0]]);
    await eventually(
      async () => (await svc.listDeliveries({ messageId: s2.messageId })).data[0].status === 'succeeded',
    );
    const ids = r.requests.map((q) => q.headers['webhook-id']);
    expect(ids.filter((id) => id === s1.messageId)).toHaveLength(4);
  });

  // Last: it deletes the fully delivered messages of the tests before it too.
  it('prunes the log of fully delivered messages only: failed ones stay, and so do newer ones', async () => {
    const ok = await receiver();
    const down = await receiver(() => ({ status: 500 }));
    await svc.createEndpoint({ url: ok.url(), customerId: 'c-prune' });
    await svc.createEndpoint({ url: down.url(), customerId: 'c-prune', eventTypes: ['kept.*'] });
    const gone = await svc.send('gone.delivered', { n: 1 }, { customerId: 'c-prune', idempotencyKey: 'k-prune' });
    const kept = await svc.send('kept.failed', { n: 2 }, { customerId: 'c-prune' });
    const nobody = await svc.send('gone.unrouted', { n: 3 }, { customerId: 'c-prune-nobody' });
    expect([gone.deliveryIds.length, kept.deliveryIds.length, nobody.deliveryIds.length]).toEqual([1, 2, 0]);
    expect((await finalDelivery(gone.messageId)).status).toBe('succeeded');
    await eventually(async () =>
      (await svc.listDeliveries({ messageId: kept.messageId })).data.every((d) =>
        ['succeeded', 'failed'].includes(d.status),
      ),
    );
    const attempts = (deliveryIds: string[]) =>
      t.app
        .get(DataSource)
        .query(
          `SELECT COUNT(*) AS n FROM webhook_attempts WHERE delivery_id IN (${deliveryIds.map((id) => `'${id}'`).join(', ')})`,
        );
    expect(Number((await attempts(gone.deliveryIds))[0].n)).toBe(1);

    // Nothing of these is a day old.
    await svc.prune(new Date(Date.now() - 24 * 3600 * 1000));
    expect((await svc.getMessage(gone.messageId)).id).toBe(gone.messageId);

    expect(await svc.prune(new Date(Date.now() + 1000))).toBeGreaterThanOrEqual(2);
    await expect(svc.getMessage(gone.messageId)).rejects.toThrow(WebhookNotFoundError);
    await expect(svc.getMessage(nobody.messageId)).rejects.toThrow(WebhookNotFoundError);
    expect((await svc.listDeliveries({ messageId: gone.messageId })).data).toEqual([]);
    expect(Number((await attempts(gone.deliveryIds))[0].n)).toBe(0);
    // A message with a failed delivery keeps its whole log, the succeeded delivery included.
    expect((await svc.listDeliveries({ messageId: kept.messageId })).data.map((d) => d.status).sort()).toEqual([
      'failed',
      'succeeded',
    ]);
    expect(Number((await attempts(kept.deliveryIds))[0].n)).toBeGreaterThan(1);
    // The idempotency key went with its message: the same key now makes a new message.
    const again = await svc.send('gone.delivered', { n: 1 }, { customerId: 'c-prune', idempotencyKey: 'k-prune' });
    expect(again.messageId).not.toBe(gone.messageId);
    await expect(svc.prune(new Date(NaN))).rejects.toThrow(WebhookValidationError);
  });
});

function circular() {
  const o: Record<string, unknown> = {};
  o.self = o;
  return o;
}

async function closedPort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as { port: number }).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}
