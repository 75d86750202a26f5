import { afterAll, afterEach, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { Body, Controller, Logger, Post, VersioningType } from '@nestjs/common';
import request from 'supertest';
import { inboundMessages } from '../../src/inbound/inbound.messages.js';
import { postWebhook } from '../../src/testing/index.js';
import { testDatabases } from '../support/databases.js';
import { signStandard } from '../../src/signing/standard-webhooks.js';
import { ADAPTERS, inboxRows, SOURCES, startAppWithoutRawBody, startInboundApp } from './support.js';

const problem = (text: string) => JSON.parse(text);

/** One of the app's own JSON routes, beside the webhook route. */
@Controller('api')
class EchoController {
  readonly bodies: unknown[] = [];

  @Post('echo')
  echo(@Body() body: unknown) {
    this.bodies.push(body);
    return body;
  }
}

describe.each(testDatabases())('inbound answers on %s', (kind) => {
  describe.each(ADAPTERS)('over %s', (http) => {
    let t: Awaited<ReturnType<typeof startInboundApp>>;
    beforeAll(async () => {
      t = await startInboundApp({ db: kind, http, controllers: [EchoController], inbound: { bodyLimit: 2048 } });
    });
    afterAll(() => t?.close());
    afterEach(() => {
      jest.restoreAllMocks();
    });

    it('answers an unknown source with 404 and logs the rejection without the body', async () => {
      const warn = jest.spyOn(Logger.prototype, 'warn');
      const res = await request(t.app.getHttpServer())
        .post('/webhooks/nobody')
        .set('content-type', 'application/json')
        .send('{"secret-ish":"payload-text"}');
      expect(res.status).toBe(404);
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(problem(res.text)).toEqual({
        type: 'urn:nestjs-webhooks:problem:unknown_source',
        title: 'Unknown webhook source',
        status: 404,
        code: 'unknown_source',
        detail: inboundMessages.unknownSource('nobody'),
      });
      const line = String(warn.mock.calls.at(-1)?.[0]);
      expect(line).toContain('unknown_source (404)');
      expect(line).not.toContain('payload-text');
    });

    it('logs a rejected signature as a warning with its reason, and stores nothing', async () => {
      const warn = jest.spyOn(Logger.prototype, 'warn');
      const rows = (await inboxRows(t.app)).length;
      const res = await postWebhook(
        t.app,
        'orders',
        { event: 'order.completed', data: { note: 'body-marker' } },
        { secret: 'wrong' },
      );
      expect(res.status).toBe(401);
      const line = String(warn.mock.calls.at(-1)?.[0]);
      expect(line).toMatch(/^Rejected webhook for source "orders".*: signature_mismatch \(401\)\.$/);
      expect(line).not.toContain('body-marker');
      expect((await inboxRows(t.app)).length).toBe(rows);
    });

    it('answers a body over inbound.bodyLimit with 413', async () => {
      const res = await postWebhook(t.app, 'partner', { type: 'order.completed', data: { pad: 'x'.repeat(4096) } });
      expect(res.status).toBe(413);
      expect(problem(res.text)).toMatchObject({ code: 'payload_too_large', status: 413 });
      const bytes = Buffer.byteLength(JSON.stringify({ type: 'order.completed', data: { pad: 'x'.repeat(4096) } }));
      expect(problem(res.text).detail).toBe(inboundMessages.payloadTooLarge(bytes, 2048));
    });

    it('answers a verified body that is not JSON with 400 invalid_json, and keeps it as failed', async () => {
      const form = new URLSearchParams({ payload: '{not json', nonce: String(Math.random()) });
      const before = t.handlers.calls.length;
      const res = await postWebhook(t.app, 'github', form, { type: 'push' });
      expect(res.status).toBe(400);
      expect(problem(res.text)).toMatchObject({
        code: 'invalid_json',
        status: 400,
        detail: inboundMessages.invalidJson(),
      });
      const row = (await inboxRows(t.app)).find((r) => r.source === 'github' && r.rawBody === form.toString())!;
      expect(row).toMatchObject({
        type: '',
        status: 'failed',
        attempts: 0,
        lastError: `invalid_json: ${inboundMessages.invalidJson()}`,
      });
      expect(row.eventId).toMatch(/^sha256:[0-9a-f]{64}$/);
      // A resend is answered the same and stores nothing more.
      expect((await postWebhook(t.app, 'github', form, { type: 'push' })).status).toBe(400);
      expect((await inboxRows(t.app)).filter((r) => r.rawBody === form.toString())).toHaveLength(1);
      expect(t.handlers.calls.length).toBe(before);
    });

    it('answers a verified non-JSON body sent as application/json with 400 invalid_json, and keeps it as failed', async () => {
      const body = `{not json ${Math.random()}`;
      const before = t.handlers.calls.length;
      const res = await postWebhook(t.app, 'partner', body, { type: 'order.completed' });
      expect(res.status).toBe(400);
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(problem(res.text)).toMatchObject({
        code: 'invalid_json',
        status: 400,
        detail: inboundMessages.invalidJson(),
      });
      const rows = (await inboxRows(t.app)).filter((r) => r.rawBody === body);
      expect(rows).toEqual([
        expect.objectContaining({
          source: 'partner',
          status: 'failed',
          lastError: `invalid_json: ${inboundMessages.invalidJson()}`,
        }),
      ]);
      expect(t.handlers.calls.length).toBe(before);
    });

    it('answers a verified body that is not UTF-8 with 400 invalid_json, runs no handler, and keeps it as failed', async () => {
      // A sender that wrote latin1: "café" with é as the single byte 0xE9, signed as sent.
      const id = `msg_latin1_${Math.random().toString(36).slice(2)}`;
      const body = Buffer.concat([
        Buffer.from(`{"type":"order.completed","data":{"note":"caf`),
        Buffer.from([0xe9]),
        Buffer.from(`"}}`),
      ]);
      const timestamp = Math.floor(Date.now() / 1000);
      const before = t.handlers.calls.length;
      const res = await request(t.app.getHttpServer())
        .post('/webhooks/partner')
        .set({
          'content-type': 'application/json',
          'webhook-id': id,
          'webhook-timestamp': String(timestamp),
          'webhook-signature': signStandard(SOURCES.partner.secrets[0], id, timestamp, body),
        })
        // As bytes: superagent would otherwise serialise a Buffer sent as JSON.
        .serialize(() => body as unknown as string)
        .send(body);
      expect([res.status, problem(res.text).code, problem(res.text).detail]).toEqual([
        400,
        'invalid_json',
        inboundMessages.notUtf8(),
      ]);
      // Kept as failed, as a body that is not JSON is (its event id read from the verified headers).
      const rows = (await inboxRows(t.app)).filter((r) => r.lastError === `invalid_json: ${inboundMessages.notUtf8()}`);
      expect(rows.map((r) => [r.source, r.status])).toEqual([['partner', 'failed']]);
      expect(t.handlers.calls.length).toBe(before);
    });

    it('answers a verified form whose percent-escapes are not UTF-8 with 400 invalid_json, runs no handler', async () => {
      // ASCII bytes, but `%E9` is latin1's é: decoding it would hand the handler U+FFFD.
      const nonce = Math.random().toString(36).slice(2);
      const body = `payload=${encodeURIComponent(`{"zen":"caf`)}%E9${encodeURIComponent(`","nonce":"${nonce}"}`)}`;
      const valid = `payload=${encodeURIComponent(`{"zen":"café","nonce":"${nonce}"}`)}`;
      const form = { 'content-type': 'application/x-www-form-urlencoded' };
      const before = t.handlers.calls.length;
      const res = await postWebhook(t.app, 'github', body, { type: 'push', headers: form });
      expect([res.status, problem(res.text).code, problem(res.text).detail]).toEqual([
        400,
        'invalid_json',
        inboundMessages.formNotUtf8(),
      ]);
      const rows = (await inboxRows(t.app)).filter((r) => r.rawBody === body);
      expect(rows.map((r) => [r.status, r.lastError])).toEqual([
        ['failed', `invalid_json: ${inboundMessages.formNotUtf8()}`],
      ]);
      expect(t.handlers.calls.length).toBe(before);
      // The same text escaped as UTF-8 (%C3%A9) is read, é intact.
      expect((await postWebhook(t.app, 'github', valid, { type: 'push', headers: form })).status).toBe(200);
      expect(t.handlers.calls.slice(before).map((c) => (c.data as { zen: string }).zen)).toEqual(['café']);
    });

    it('answers an unsigned or wrongly signed non-JSON body sent as application/json with 401, and stores nothing', async () => {
      const body = `{not json ${Math.random()}`;
      const unsigned = await postWebhook(t.app, 'partner', body, {
        type: 'order.completed',
        headers: { 'webhook-signature': null },
      });
      const wrong = await postWebhook(t.app, 'partner', body, { type: 'order.completed', secret: 'whsec_d3Jvbmc=' });
      const unknown = await postWebhook(t.app, 'partner', body, { type: 'order.completed', path: '/webhooks/nobody' });
      expect([unsigned.status, problem(unsigned.text).code]).toEqual([401, 'missing_signature']);
      expect([wrong.status, problem(wrong.text).code]).toEqual([401, 'signature_mismatch']);
      expect([unknown.status, problem(unknown.text).code]).toEqual([404, 'unknown_source']);
      expect((await inboxRows(t.app)).filter((r) => r.rawBody === body)).toHaveLength(0);
    });

    it("leaves invalid JSON on the app's other routes to the adapter's parser", async () => {
      const res = await request(t.app.getHttpServer())
        .post('/api/echo')
        .set('content-type', 'application/json')
        .send('{not json');
      expect(res.status).toBe(400);
      expect(res.headers['content-type']).toMatch(/^application\/json/);
      expect(JSON.parse(res.text)).toMatchObject({ statusCode: 400 });
      expect(t.app.get(EchoController).bodies).toHaveLength(0);
    });

    it('answers a verified body without an event type with 400 invalid_event_type', async () => {
      const res = await postWebhook(t.app, 'partner', { data: { no: 'type' } });
      expect(res.status).toBe(400);
      expect(problem(res.text)).toMatchObject({ code: 'invalid_event_type' });
    });

    it('answers a body no parser kept (text/plain) with 415', async () => {
      const res = await postWebhook(t.app, 'partner', 'plain words', { headers: { 'content-type': 'text/plain' } });
      expect(res.status).toBe(415);
      expect(problem(res.text)).toMatchObject({
        code: 'unsupported_media_type',
        detail: inboundMessages.unsupportedMediaType('partner', 'text/plain'),
      });
    });
  });

  describe.each(ADAPTERS)('an app created without rawBody, over %s', (http) => {
    let t: Awaited<ReturnType<typeof startAppWithoutRawBody>>;
    beforeAll(async () => {
      t = await startAppWithoutRawBody(kind, http);
    });
    afterAll(() => t?.close());

    it('answers a generic 500 and logs how to fix it for the operator only, not a signature mismatch', async () => {
      const error = jest.spyOn(Logger.prototype, 'error');
      const res = await postWebhook(t.app, 'partner', { type: 'order.completed', data: {} });
      expect(res.status).toBe(500);
      expect(problem(res.text)).toMatchObject({
        code: 'raw_body_missing',
        detail: inboundMessages.receiverFault(),
      });
      expect(res.text).not.toContain('rawBody');
      expect(error).toHaveBeenCalledWith(inboundMessages.rawBodyMissing('partner'));
      expect(inboundMessages.rawBodyMissing('partner')).toContain('{ rawBody: true }');
    });
  });
});

describe.each(ADAPTERS)('the webhook route under a global prefix, over %s', (http) => {
  let t: Awaited<ReturnType<typeof startInboundApp>>;
  beforeAll(async () => {
    t = await startInboundApp({ db: 'sqlite', http, globalPrefix: 'api' });
  });
  afterAll(() => t?.close());

  it('verifies a non-JSON body sent as application/json there, and leaves other paths to the adapter', async () => {
    const body = `{not json ${Math.random()}`;
    const signed = await postWebhook(t.app, 'partner', body, {
      type: 'order.completed',
      path: '/api/webhooks/partner',
    });
    const unsigned = await postWebhook(t.app, 'partner', body, {
      path: '/api/webhooks/partner',
      headers: { 'webhook-signature': null },
    });
    expect([signed.status, problem(signed.text).code]).toEqual([400, 'invalid_json']);
    expect([unsigned.status, problem(unsigned.text).code]).toEqual([401, 'missing_signature']);
    // Outside the prefix there is no webhook route: the adapter answers as it always did.
    const outside = await postWebhook(t.app, 'partner', body, { type: 'order.completed' });
    expect([outside.status, outside.headers['content-type']]).toEqual([
      400,
      expect.stringMatching(/^application\/json/),
    ]);
  });
});

describe.each(ADAPTERS)('the webhook route in an app with URI versioning, over %s', (http) => {
  let t: Awaited<ReturnType<typeof startInboundApp>>;
  beforeAll(async () => {
    t = await startInboundApp({ db: 'sqlite', http, versioning: { type: VersioningType.URI, defaultVersion: '1' } });
  });
  afterAll(() => t?.close());

  it('keeps the URL senders were given, and verifies a non-JSON body sent as application/json there', async () => {
    const valid = await postWebhook(t.app, 'partner', {
      type: 'order.completed',
      id: `evt_${Math.random()}`,
      data: {},
    });
    expect([valid.status, JSON.parse(valid.text).status]).toEqual([200, 'processed']);
    expect(
      (await postWebhook(t.app, 'partner', { type: 'order.completed', data: {} }, { path: '/v1/webhooks/partner' }))
        .status,
    ).toBe(404);
    const body = `{not json ${Math.random()}`;
    const signed = await postWebhook(t.app, 'partner', body, { type: 'order.completed' });
    const unsigned = await postWebhook(t.app, 'partner', body, { headers: { 'webhook-signature': null } });
    expect([signed.status, problem(signed.text).code]).toEqual([400, 'invalid_json']);
    expect([unsigned.status, problem(unsigned.text).code]).toEqual([401, 'missing_signature']);
    expect(t.handlers.calls).toHaveLength(1);
  });
});

describe.each(ADAPTERS)('the webhook route in an app with header or media-type versioning, over %s', (http) => {
  const cases = [
    {
      name: 'header',
      versioning: { type: VersioningType.HEADER, header: 'X-API-Version', defaultVersion: '1' },
      asks: { 'x-api-version': '2' },
    },
    {
      name: 'media type',
      versioning: { type: VersioningType.MEDIA_TYPE, key: 'v=', defaultVersion: '1' },
      asks: { accept: 'application/json;v=2' },
    },
  ] as const;

  it.each(cases)(
    '$name versioning: answers a call with or without a version asked for',
    async ({ versioning, asks }) => {
      const t = await startInboundApp({ db: 'sqlite', http, versioning });
      try {
        const plain = await postWebhook(t.app, 'partner', {
          type: 'order.completed',
          id: `evt_${Math.random()}`,
          data: {},
        });
        const versioned = await postWebhook(
          t.app,
          'partner',
          { type: 'order.completed', id: `evt_${Math.random()}`, data: {} },
          { headers: asks },
        );
        expect([plain.status, JSON.parse(plain.text).status]).toEqual([200, 'processed']);
        expect([versioned.status, JSON.parse(versioned.text).status]).toEqual([200, 'processed']);
        expect(t.handlers.calls).toHaveLength(2);
      } finally {
        await t.close();
      }
    },
  );
});

describe('the adapters own body limits', () => {
  it.each(ADAPTERS)(
    '%s refuses a body above its default limit, answered as payload_too_large before the signature',
    async (http) => {
      const t = await startInboundApp({ db: 'sqlite', http });
      try {
        const [size, limit] = http === 'express' ? [150_000, 100 * 1024] : [1_100_000, 1024 * 1024];
        const big = { type: 'order.completed', data: { pad: 'x'.repeat(size) } };
        for (const res of [
          await postWebhook(t.app, 'partner', big),
          await postWebhook(t.app, 'partner', big, { secret: 'whsec_d3Jvbmc=' }),
        ]) {
          expect(res.status).toBe(413);
          expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
          expect(problem(res.text)).toMatchObject({
            code: 'payload_too_large',
            detail: inboundMessages.adapterBodyLimit(limit),
          });
        }
        expect((await postWebhook(t.app, 'partner', big, { path: '/webhooks/nobody' })).status).toBe(404);
        expect(t.handlers.calls).toHaveLength(0);
        expect(await inboxRows(t.app)).toHaveLength(0);
      } finally {
        await t.close();
      }
    },
  );
});

describe.each(ADAPTERS)(
  'an app that raises the adapter limit and adds a text parser, as docs/inbound.md says, over %s',
  (http) => {
    const MiB = 1024 * 1024;
    let t: Awaited<ReturnType<typeof startInboundApp>>;
    beforeAll(async () => {
      t = await startInboundApp({
        db: 'sqlite',
        http,
        inbound: { bodyLimit: 5 * MiB },
        fastifyOptions: { bodyLimit: 5 * MiB },
        beforeInit: (app) => {
          const parsers = app as unknown as { useBodyParser(type: string, options?: object): void };
          if (http === 'express') {
            parsers.useBodyParser('json', { limit: '5mb' });
            parsers.useBodyParser('text');
          } else {
            // Straight on Fastify: on Nest 11, app.useBodyParser() of any type stops Nest from
            // registering its own JSON and form parsers, and JSON calls would lose their raw body.
            const fastify = app.getHttpAdapter().getInstance() as {
              addContentTypeParser(
                type: string,
                opts: object,
                parse: (req: { rawBody?: Buffer }, body: Buffer, done: (err: null, body: string) => void) => void,
              ): void;
            };
            fastify.addContentTypeParser('text/plain', { parseAs: 'buffer', bodyLimit: 5 * MiB }, (req, body, done) => {
              req.rawBody = body;
              done(null, body.toString('utf8'));
            });
          }
        },
      });
    });
    afterAll(() => t?.close());

    it('takes a body above the adapter default, up to the raised limits', async () => {
      const big = { type: 'order.completed', data: { pad: 'x'.repeat(2 * MiB) } };
      const res = await postWebhook(t.app, 'partner', big);
      expect([res.status, res.body.status]).toEqual([200, 'processed']);
      expect((t.handlers.calls.at(-1)!.data as { pad: string }).pad).toHaveLength(2 * MiB);
    });

    it('verifies and dispatches JSON sent as text/plain (senders such as AWS SNS do)', async () => {
      const payload = { type: 'order.completed', data: { via: 'text' } };
      const asText = { 'content-type': 'text/plain; charset=utf-8' };
      const forged = await postWebhook(t.app, 'partner', payload, {
        headers: { ...asText, 'webhook-signature': 'v1,AAAA' },
      });
      expect([forged.status, problem(forged.text).code]).toEqual([401, 'signature_mismatch']);
      const res = await postWebhook(t.app, 'partner', payload, { headers: asText });
      expect([res.status, res.body.status]).toEqual([200, 'processed']);
      expect(t.handlers.calls.at(-1)!.data).toEqual({ via: 'text' });
    });
  },
);

describe('an Express app whose own middleware sets req.body = {} on every request (as body-parser 1.x does)', () => {
  let t: Awaited<ReturnType<typeof startInboundApp>>;
  beforeAll(async () => {
    t = await startInboundApp({
      db: 'sqlite',
      http: 'express',
      beforeInit: (app) =>
        app.use((req: { body?: unknown }, _res: unknown, next: () => void) => ((req.body ??= {}), next())),
    });
  });
  afterAll(() => t?.close());

  it('still answers a type no parser read with 415, not raw_body_missing; JSON still passes', async () => {
    const res = await postWebhook(t.app, 'partner', 'plain words', { headers: { 'content-type': 'text/plain' } });
    expect([res.status, problem(res.text).code]).toEqual([415, 'unsupported_media_type']);
    const json = await postWebhook(t.app, 'partner', { type: 'order.completed', data: {} });
    expect([json.status, json.body.status]).toEqual([200, 'processed']);
  });
});
