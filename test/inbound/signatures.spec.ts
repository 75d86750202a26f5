import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import type { Response } from 'supertest';
import { postWebhook, signWebhook } from '../../src/testing/index.js';
import type { BuiltInScheme } from '../../src/interfaces/inbound-source.interface.js';
import { testDatabases } from '../support/databases.js';
import { ADAPTERS, inboxRows, SOURCES, startInboundApp } from './support.js';

const rnd = () => randomBytes(6).toString('hex');
const wrongSecret = (scheme: BuiltInScheme) =>
  scheme === 'standard' ? `whsec_${randomBytes(24).toString('base64')}` : 'not-the-secret';

/** A fresh, handled event per source: [payload, expected type, post options]. */
const EVENTS: Record<string, () => { payload: unknown; type: string; options?: { type?: string } }> = {
  partner: () => ({ payload: { type: 'order.completed', data: { order: rnd() } }, type: 'order.completed' }),
  orders: () => ({ payload: { event: 'order.completed', data: { order: rnd() } }, type: 'order.completed' }),
  stripe: () => ({
    payload: { id: `evt_${rnd()}`, type: 'invoice.paid', data: { object: { id: 'in_1' } } },
    type: 'invoice.paid',
  }),
  github: () => ({
    payload: { action: 'opened', number: 1 },
    type: 'pull_request.opened',
    options: { type: 'pull_request' },
  }),
  shopify: () => ({ payload: { id: rnd() }, type: 'orders.create', options: { type: 'orders.create' } }),
  slack: () => ({
    payload: { type: 'event_callback', event_id: `Ev${rnd()}`, event: { type: 'app_mention' } },
    type: 'app_mention',
  }),
};
const SIGNATURE: Record<string, string> = {
  partner: 'webhook-signature',
  orders: 'x-webhook-signature',
  stripe: 'stripe-signature',
  github: 'x-hub-signature-256',
  shopify: 'x-shopify-hmac-sha256',
  slack: 'x-slack-signature',
};
const REQUIRED: Record<string, string[]> = {
  partner: ['webhook-id', 'webhook-timestamp'],
  github: ['x-github-event', 'x-github-delivery'],
  shopify: ['x-shopify-topic'],
  slack: ['x-slack-request-timestamp'],
};
const TIMESTAMP: Record<string, string> = { partner: 'webhook-timestamp', slack: 'x-slack-request-timestamp' };
const TIMESTAMPED = ['partner', 'stripe', 'slack'];
const ALL_SECRETS = Object.values(SOURCES).flatMap((s) => s.secrets);

function expectProblem(res: Response, status: number, code: string) {
  expect({ status: res.status, code: res.body?.code ?? JSON.parse(res.text).code }).toEqual({ status, code });
  expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
  const body = JSON.parse(res.text);
  expect(Object.keys(body).sort()).toEqual(['code', 'detail', 'status', 'title', 'type']);
  for (const secret of ALL_SECRETS) expect(res.text).not.toContain(secret);
}

describe.each(testDatabases())('inbound schemes on %s', (db) => {
  describe.each(ADAPTERS)('over %s', (http) => {
    let t: Awaited<ReturnType<typeof startInboundApp>>;
    beforeAll(async () => {
      t = await startInboundApp({ db, http });
    });
    afterAll(() => t?.close());

    describe.each(Object.keys(SOURCES))('source %s', (source) => {
      const scheme = SOURCES[source].scheme as BuiltInScheme;

      it('accepts a valid call, stores it and runs the handler once', async () => {
        const { payload, type, options } = EVENTS[source]();
        const before = t.handlers.count(type);
        const res = await postWebhook(t.app, source, payload, options);
        expect(res.status).toBe(200);
        expect(res.body).toMatchObject({ received: true, status: 'processed' });
        expect(t.handlers.count(type)).toBe(before + 1);
        const call = t.handlers.calls.at(-1)!;
        expect(call.ctx).toMatchObject({ source, type, id: res.body.id, payload });
        const row = (await inboxRows(t.app)).find((r) => r.eventId === res.body.id && r.source === source)!;
        expect(row).toMatchObject({ type, status: 'processed', attempts: 1, lastError: null });
        expect(row.headers).toHaveProperty(SIGNATURE[source]);
      });

      it('rejects a tampered body (401) without storing or running anything', async () => {
        const { payload, type, options } = EVENTS[source]();
        const rows = (await inboxRows(t.app)).length;
        const before = t.handlers.count(type);
        const signed = signWebhook({ scheme, secret: SOURCES[source].secrets[1], payload, ...options });
        const res = await postWebhook(t.app, source, payload, {
          ...options,
          body: signed.body.replace('}', ',"x":1}'),
        });
        expectProblem(res, 401, 'signature_mismatch');
        expect((await inboxRows(t.app)).length).toBe(rows);
        expect(t.handlers.count(type)).toBe(before);
      });

      it('rejects a wrong secret (401) and never echoes the expected signature', async () => {
        const { payload, options } = EVENTS[source]();
        const id = `msg_${rnd()}`;
        const timestamp = Math.floor(Date.now() / 1000);
        const good = signWebhook({ scheme, secret: SOURCES[source].secrets[1], payload, id, timestamp, ...options });
        const res = await postWebhook(t.app, source, payload, {
          ...options,
          id,
          timestamp,
          secret: wrongSecret(scheme),
        });
        expectProblem(res, 401, 'signature_mismatch');
        expect(res.text).not.toContain(good.headers[SIGNATURE[source]].replace(/^(v1,|sha256=|v0=)/, '').slice(0, 20));
      });

      it('accepts every configured secret (rotation)', async () => {
        for (const secret of SOURCES[source].secrets) {
          const { payload, options } = EVENTS[source]();
          expect((await postWebhook(t.app, source, payload, { ...options, secret })).status).toBe(200);
        }
      });

      it('answers a missing signature with 401 and a malformed one with 401', async () => {
        const { payload, options } = EVENTS[source]();
        expectProblem(
          await postWebhook(t.app, source, payload, { ...options, headers: { [SIGNATURE[source]]: null } }),
          401,
          'missing_signature',
        );
        expectProblem(
          await postWebhook(t.app, source, payload, { ...options, headers: { [SIGNATURE[source]]: 'abc' } }),
          401,
          'malformed_signature',
        );
      });

      it('refuses hostile signature and timestamp headers with a 4xx problem, storing and running nothing', async () => {
        const { payload, type, options } = EVENTS[source]();
        const rows = (await inboxRows(t.app)).length;
        const before = t.handlers.count(type);
        const now = Math.floor(Date.now() / 1000);
        const signed = signWebhook({ scheme, secret: SOURCES[source].secrets[1], payload, timestamp: now, ...options });
        const good = signed.headers[SIGNATURE[source]];
        const flipped = good.slice(0, -2) + (good.at(-2) === '0' ? '1' : '0') + good.at(-1);
        const signatures = [
          flipped,
          good.slice(0, -1),
          `${good}A`,
          'v1,',
          'sha256=',
          'v0=',
          `t=${now},v1=`,
          ' ',
          'A'.repeat(8000),
        ];
        // A timestamp must be plain digits: no exponent, sign, fraction, hex or list.
        const times = [
          '1e3',
          '-1',
          `+${now}`,
          `${now}.0`,
          `0x${now.toString(16)}`,
          `${now},${now}`,
          '9'.repeat(400),
          'NaN',
        ];
        const stamp = TIMESTAMP[source];
        const variants = [
          ...signatures.map((v) => ({ [SIGNATURE[source]]: v })),
          ...(stamp ? times.map((v) => ({ [stamp]: v })) : []),
          // In Stripe's header a comma starts the next element (one without `=` is ignored, as Stripe's libraries do).
          ...(source === 'stripe'
            ? times
                .filter((v) => !v.includes(','))
                .map((v) => ({ [SIGNATURE.stripe]: good.replace(/^t=\d+/, `t=${v}`) }))
            : []),
        ];
        for (const headers of variants) {
          const res = await postWebhook(t.app, source, payload, {
            ...options,
            timestamp: now,
            headers,
            body: signed.body,
          });
          expect([headers, res.status >= 400 && res.status < 500]).toEqual([headers, true]);
          expect([headers, res.headers['content-type']]).toEqual([headers, 'application/problem+json; charset=utf-8']);
        }
        expect((await inboxRows(t.app)).length).toBe(rows);
        expect(t.handlers.count(type)).toBe(before);
      });

      for (const header of REQUIRED[source] ?? []) {
        it(`answers a missing ${header} with 400`, async () => {
          const { payload, options } = EVENTS[source]();
          expectProblem(
            await postWebhook(t.app, source, payload, { ...options, headers: { [header]: null } }),
            400,
            'missing_headers',
          );
        });
      }

      if (TIMESTAMP[source]) {
        it('answers a malformed timestamp header with 400', async () => {
          const { payload, options } = EVENTS[source]();
          const res = await postWebhook(t.app, source, payload, {
            ...options,
            headers: { [TIMESTAMP[source]]: 'yesterday' },
          });
          expectProblem(res, 400, 'malformed_headers');
        });
      }

      if (TIMESTAMPED.includes(source)) {
        it.each([
          // Just past the 300 s tolerance. Future: a few seconds more, since the server's clock
          // reads later than the test's and both round to whole seconds (301 became 300 under load).
          ['stale', -301],
          ['future', 304],
        ])('answers a %s timestamp with 401', async (_label, offset) => {
          const { payload, options } = EVENTS[source]();
          const timestamp = Math.floor(Date.now() / 1000) + offset;
          expectProblem(
            await postWebhook(t.app, source, payload, { ...options, timestamp }),
            401,
            'timestamp_out_of_tolerance',
          );
        });
      }
    });

    it('accepts Svix header names on a standard source', async () => {
      const { payload } = EVENTS.partner();
      const signed = signWebhook({ scheme: 'standard', secret: SOURCES.partner.secrets[0], payload });
      const svix = Object.fromEntries(
        Object.entries(signed.headers).map(([k, v]) => [k.replace(/^webhook-/, 'svix-'), v]),
      );
      const res = await postWebhook(t.app, 'partner', payload, {
        headers: { ...svix, 'webhook-id': null, 'webhook-timestamp': null, 'webhook-signature': null },
        body: signed.body,
      });
      expect(res.status).toBe(200);
      expect(res.body.id).toBe(signed.headers['webhook-id']);
    });

    it('uses a numeric event id in the body as its string form: a resend with that id is a duplicate', async () => {
      const id = Math.floor(Math.random() * 1e12);
      const first = await postWebhook(t.app, 'orders', { event: 'order.completed', id, data: { n: 1 } });
      expect([first.status, first.body]).toEqual([200, { received: true, id: String(id), status: 'processed' }]);
      const again = await postWebhook(t.app, 'orders', { event: 'order.completed', id, data: { n: 2 } });
      expect([again.status, again.body]).toEqual([200, { received: true, id: String(id), status: 'duplicate' }]);
    });

    it("verifies and reads a form with more fields or deeper keys than the adapter's parser takes", async () => {
      // body-parser refuses over 1,000 fields or nested keys past its depth; the bytes are still verified and read.
      const form = new URLSearchParams({ command: '/deploy', trigger_id: `t.${rnd()}`, ['a' + '[b]'.repeat(40)]: '1' });
      for (let i = 0; i < 1500; i++) form.append(`k${i}`, '1');
      const res = await postWebhook(t.app, 'slack', form);
      expect([res.status, res.body.status]).toEqual([200, 'processed']);
      expect(t.handlers.calls.at(-1)!.ctx.payload).toMatchObject({ command: '/deploy', k1499: '1' });
      expectProblem(await postWebhook(t.app, 'slack', form, { secret: 'not-the-secret' }), 401, 'signature_mismatch');
    });

    it('reads Slack slash commands sent as a form', async () => {
      const form = new URLSearchParams({ command: '/deploy', text: 'now', trigger_id: `t.${rnd()}` });
      const res = await postWebhook(t.app, 'slack', form);
      expect(res.status).toBe(200);
      expect(t.handlers.calls.at(-1)!.ctx).toMatchObject({ type: 'slash_command', payload: { command: '/deploy' } });
    });
  });
});
