import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createHmac } from 'node:crypto';
import request from 'supertest';
import { constantTimeEqual, type WebhookVerifier } from '../../src/index.js';
import { postWebhook } from '../../src/testing/index.js';
import { testDatabases } from '../support/databases.js';
import { SOURCES, startInboundApp } from './support.js';

/** A scheme the module does not know: hex HMAC-SHA512 in `x-custom-signature`, as a user would write it. */
const sha512: WebhookVerifier = {
  name: 'sha512',
  keepHeaders: ['x-custom-'],
  verify({ rawBody, headers, secrets }) {
    const given = headers['x-custom-signature'];
    if (!given) return { ok: false, reason: 'missing_signature' };
    let match = false;
    for (const secret of secrets)
      match = constantTimeEqual(given, createHmac('sha512', secret).update(rawBody).digest('hex')) || match;
    return match ? { ok: true } : { ok: false, reason: 'signature_mismatch' };
  },
  eventType: (payload) => payload?.kind,
  eventId: (_payload, headers) => headers['x-custom-id'],
};

describe.each(testDatabases())('inbound configuration on %s', (db) => {
  let t: Awaited<ReturnType<typeof startInboundApp>>;
  beforeAll(async () => {
    t = await startInboundApp({
      db,
      async: true,
      inbound: {
        path: 'hooks',
        sources: {
          ...SOURCES,
          custom: { scheme: sha512, secrets: ['k1', 'k2'] },
          relabelled: {
            scheme: 'hmac-sha256',
            secrets: ['s'],
            header: 'X-Sig',
            prefix: 'sha256=',
            encoding: 'base64',
            eventType: (payload) => `order.${payload.meta.kind}`,
            eventId: (_payload, headers) => headers['x-delivery'],
          },
        },
      },
    });
  });
  afterAll(() => t?.close());

  it('serves the route at inbound.path through forRootAsync (inboundPath)', async () => {
    await postWebhook(t.app, 'partner', { type: 'order.completed', data: {} }).expect(200);
    const stale = await request(t.app.getHttpServer()).post('/webhooks/partner').send({});
    expect(stale.status).toBe(404);
    // Parse failures there reach the guard too: the route's path, not the default one, is watched.
    const invalid = await postWebhook(t.app, 'partner', '{not json', { type: 'order.completed' });
    expect([invalid.status, JSON.parse(invalid.text).code]).toEqual([400, 'invalid_json']);
  });

  it('verifies with a custom verifier and reads its type and id', async () => {
    const body = JSON.stringify({ kind: 'order.completed', data: { n: 1 } });
    const post = (secret: string) =>
      request(t.app.getHttpServer())
        .post('/hooks/custom')
        .set({
          'content-type': 'application/json',
          'x-custom-id': 'c-1',
          'x-custom-signature': createHmac('sha512', secret).update(body).digest('hex'),
        })
        .send(body);
    expect((await post('wrong')).status).toBe(401);
    const ok = await post('k2');
    expect([ok.status, ok.body.id]).toEqual([200, 'c-1']);
    expect(t.handlers.calls.at(-1)!.ctx).toMatchObject({
      source: 'custom',
      id: 'c-1',
      headers: { 'x-custom-id': 'c-1' },
    });
    expect(() => postWebhook(t.app, 'custom', {})).toThrow(/custom verifier/);
  });

  it('lets a source override how type and id are read', async () => {
    const res = await postWebhook(
      t.app,
      'relabelled',
      { meta: { kind: 'completed' }, data: {} },
      { headers: { 'x-delivery': 'd-42' } },
    );
    expect([res.status, res.body.id]).toEqual([200, 'd-42']);
    expect(t.handlers.calls.at(-1)!.ctx).toMatchObject({ type: 'order.completed', id: 'd-42', source: 'relabelled' });
  });
});
