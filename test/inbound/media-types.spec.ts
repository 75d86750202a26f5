import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Body, Controller, Post } from '@nestjs/common';
import request from 'supertest';
import { inboundMessages } from '../../src/inbound/inbound.messages.js';
import { testDatabases } from '../support/databases.js';
import { postWebhook } from '../../src/testing/index.js';
import { signStandard } from '../../src/signing/standard-webhooks.js';
import { ADAPTERS, inboxRows, SOURCES, startInboundApp } from './support.js';

/** One of the app's own routes, beside the webhook route. */
@Controller('api')
class EchoController {
  @Post('echo')
  echo(@Body() body: unknown) {
    return body ?? null;
  }
}

const BOUNDARY = 'x-boundary-1';
/** Bodies no adapter parser keeps as bytes: [label, content type or none, body]. */
const UNREADABLE: [string, string | undefined, string][] = [
  ['no Content-Type', undefined, '{"type":"order.completed","data":{}}'],
  ['application/octet-stream', 'application/octet-stream', '\u0000\u0001binary'],
  [
    'application/cloudevents+json',
    'application/cloudevents+json',
    '{"specversion":"1.0","type":"order.completed","id":"1"}',
  ],
  [
    'multipart/form-data',
    `multipart/form-data; boundary=${BOUNDARY}`,
    `--${BOUNDARY}\r\nContent-Disposition: form-data; name="a"\r\n\r\nb\r\n--${BOUNDARY}--\r\n`,
  ],
];

describe.each(testDatabases())('webhook bodies of an unreadable content type on %s', (kind) => {
  const apps: Partial<Record<(typeof ADAPTERS)[number], Awaited<ReturnType<typeof startInboundApp>>>> = {};
  beforeAll(async () => {
    for (const http of ADAPTERS) apps[http] = await startInboundApp({ db: kind, http, controllers: [EchoController] });
  });
  afterAll(async () => {
    for (const http of ADAPTERS) await apps[http]?.close();
  });

  const post = (http: (typeof ADAPTERS)[number], path: string, type: string | undefined, body: string) => {
    const req = request(apps[http]!.app.getHttpServer()).post(path);
    // supertest sets no Content-Type for a Buffer body.
    if (type) req.set('content-type', type);
    return req.send(Buffer.from(body));
  };

  it.each(UNREADABLE)('%s: the same 415 problem on Express and Fastify, nothing stored', async (_label, type, body) => {
    const answers = [];
    for (const http of ADAPTERS) {
      const res = await post(http, '/webhooks/partner', type, body);
      answers.push({ status: res.status, contentType: res.headers['content-type'], body: JSON.parse(res.text) });
      expect(await inboxRows(apps[http]!.app)).toHaveLength(0);
      expect(apps[http]!.handlers.calls).toHaveLength(0);
    }
    expect(answers[0]).toEqual({
      status: 415,
      contentType: 'application/problem+json; charset=utf-8',
      body: expect.objectContaining({
        code: 'unsupported_media_type',
        detail: inboundMessages.unsupportedMediaType('partner', type),
      }),
    });
    expect(answers[1]).toEqual(answers[0]);
  });

  it.each(UNREADABLE)('%s to an unknown source: 404 on both', async (_label, type, body) => {
    for (const http of ADAPTERS) {
      const res = await post(http, '/webhooks/nobody', type, body);
      expect([res.status, JSON.parse(res.text).code]).toEqual([404, 'unknown_source']);
    }
  });

  it.each(['latin1', 'iso-8859-1', 'utf-16'])(
    'a declared charset=%s is ignored on both adapters (JSON has none): UTF-8 bytes are read, others refused',
    async (charset) => {
      const headers = { 'content-type': `application/json; charset=${charset}` };
      for (const http of ADAPTERS) {
        const { app, handlers } = apps[http]!;
        const before = handlers.calls.length;
        const ok = await postWebhook(
          app,
          'partner',
          { type: 'order.completed', data: { note: `${http} ${charset}` } },
          { headers },
        );
        expect([http, ok.status]).toEqual([http, 200]);
        expect(handlers.calls.slice(before).map((c) => (c.data as { note: string }).note)).toEqual([
          `${http} ${charset}`,
        ]);
        // latin1's é as sent, signed: refused as not UTF-8, as without a charset.
        const latin1 = Buffer.from(
          `{"type":"order.completed","data":{"note":"caf\u00e9 ${http} ${charset}"}}`,
          'latin1',
        );
        const id = `msg_${http}_${charset}_${Math.random().toString(36).slice(2)}`;
        const timestamp = Math.floor(Date.now() / 1000);
        const refused = await request(app.getHttpServer())
          .post('/webhooks/partner')
          .set({
            ...headers,
            'webhook-id': id,
            'webhook-timestamp': String(timestamp),
            'webhook-signature': signStandard(SOURCES.partner.secrets[0], id, timestamp, latin1),
          })
          // As bytes: superagent would otherwise serialise a Buffer sent as JSON.
          .serialize(() => latin1 as unknown as string)
          .send(latin1);
        expect([http, refused.status, JSON.parse(refused.text).detail]).toEqual([http, 400, inboundMessages.notUtf8()]);
        expect(handlers.calls.length).toBe(before + 1);
        // Read by the module on Express: bounded by inbound.bodyLimit (1 MiB here), as Fastify's own.
        const big = await postWebhook(
          app,
          'partner',
          { type: 'order.completed', data: { pad: 'x'.repeat(1_100_000) } },
          { headers },
        );
        expect([http, big.status, JSON.parse(big.text).code]).toEqual([http, 413, 'payload_too_large']);
      }
    },
  );

  // Express's body parser refuses these before it keeps a byte (Fastify keeps the bytes as sent).
  const UNDECODABLE: [string, Record<string, string>][] = [
    [
      'an unsupported charset, compressed',
      { 'content-type': 'application/json; charset=latin1', 'content-encoding': 'gzip' },
    ],
    ['an unknown content encoding', { 'content-type': 'application/json', 'content-encoding': 'x-unknown' }],
    ['gzip that does not inflate', { 'content-type': 'application/json', 'content-encoding': 'gzip' }],
  ];
  it.each(UNDECODABLE)(
    'Express: a body of %s answers the 415 problem, 404 for an unknown source, nothing stored',
    async (_label, headers) => {
      const body = Buffer.from('{"type":"order.completed","data":{}}');
      const server = apps.express!.app.getHttpServer();
      const [rows, calls] = [(await inboxRows(apps.express!.app)).length, apps.express!.handlers.calls.length];
      const known = await request(server).post('/webhooks/partner').set(headers).send(body);
      expect([known.status, known.headers['content-type']]).toEqual([415, 'application/problem+json; charset=utf-8']);
      expect(JSON.parse(known.text)).toMatchObject({
        code: 'unsupported_media_type',
        detail: expect.stringContaining('could not decode the body'),
      });
      const unknown = await request(server).post('/webhooks/nobody').set(headers).send(body);
      expect([unknown.status, JSON.parse(unknown.text).code]).toEqual([404, 'unknown_source']);
      expect(await inboxRows(apps.express!.app)).toHaveLength(rows);
      expect(apps.express!.handlers.calls).toHaveLength(calls);
    },
  );

  it("leaves the app's own routes to Fastify's own answer", async () => {
    const res = await post('fastify', '/api/echo', 'application/octet-stream', 'bytes');
    expect(res.status).toBe(415);
    expect(res.headers['content-type']).not.toMatch(/problem\+json/);
  });
});
