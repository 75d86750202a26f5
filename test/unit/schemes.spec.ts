import { describe, expect, it } from '@jest/globals';
import { createHmac } from 'node:crypto';
import { hashId, InboundSource } from '../../src/inbound/inbound.sources.js';
import { builtInVerifier } from '../../src/inbound/verifiers/index.js';
import type { BuiltInScheme } from '../../src/interfaces/inbound-source.interface.js';
import type { VerifyInput } from '../../src/interfaces/webhook-verifier.interface.js';
import { resolveWebhooksOptions } from '../../src/webhooks.options.js';

import { loadVectors } from '../support/vectors.js';

const vectors = loadVectors();
const lower = (h: Record<string, string>) =>
  Object.fromEntries(Object.entries(h).map(([k, v]) => [k.toLowerCase(), v]));

function input(over: Partial<VerifyInput> & { headers: Record<string, string | undefined> }): VerifyInput {
  return { rawBody: Buffer.alloc(0), secrets: [], tolerance: 300, now: Math.floor(Date.now() / 1000), ...over };
}

describe('published vectors', () => {
  it.each(vectors['standard-webhooks'] as any[])('standard: $source', (v) => {
    const verifier = builtInVerifier('standard');
    const headers = { 'webhook-id': v.id, 'webhook-timestamp': String(v.timestamp), 'webhook-signature': v.signature };
    const rawBody = Buffer.from(v.payload);
    expect(verifier.verify(input({ rawBody, headers, secrets: [v.secret], now: v.timestamp }))).toEqual({ ok: true });
    expect(
      verifier.sign({ secret: v.secret, body: rawBody, id: v.id, timestamp: v.timestamp, type: 'x' })[
        'webhook-signature'
      ],
    ).toBe(v.signature);
    // svix-* names carry the same signature.
    const svix = { 'svix-id': v.id, 'svix-timestamp': String(v.timestamp), 'svix-signature': v.signature };
    expect(verifier.verify(input({ rawBody, headers: svix, secrets: [v.secret], now: v.timestamp }))).toEqual({
      ok: true,
    });
  });

  const neg = vectors['standard-webhooks-negative'];
  const first = vectors['standard-webhooks'][0];
  const standardWith = (signature: string) =>
    builtInVerifier('standard').verify(
      input({
        rawBody: Buffer.from(first.payload),
        headers: {
          'webhook-id': first.id,
          'webhook-timestamp': String(first.timestamp),
          'webhook-signature': signature,
        },
        secrets: [first.secret],
        now: first.timestamp,
      }),
    );
  it.each(neg.must_fail as string[])('standard rejects %s', (sig) => expect(standardWith(sig).ok).toBe(false));
  it.each(neg.must_pass as string[])('standard accepts a multi-signature header', (sig) =>
    expect(standardWith(sig).ok).toBe(true),
  );
  it.each(neg.empty_secrets_rejected as string[])('a standard source refuses the secret %j at boot', (secret) => {
    expect(() =>
      resolveWebhooksOptions({ inbound: { sources: { s: { scheme: 'standard', secrets: [secret] } } } }),
    ).toThrow(/inbound\.sources\.s\.secrets/);
  });

  const headerVectors: [BuiltInScheme, string][] = [
    ['github', 'github'],
    ['shopify', 'shopify'],
    ['slack', 'slack'],
  ];
  for (const [scheme, key] of headerVectors) {
    it.each(vectors[key] as any[])(`${scheme}: $source`, (v) => {
      const headers = lower({
        ...(v.headers ?? {}),
        [v.header ?? 'X-Slack-Signature']: v.signature,
        'X-GitHub-Event': 'push',
        'X-GitHub-Delivery': 'd-1',
        'X-Shopify-Topic': 'orders/create',
      });
      const verifier = builtInVerifier(scheme);
      const now = v.timestamp ?? Math.floor(Date.now() / 1000);
      expect(verifier.verify(input({ rawBody: Buffer.from(v.payload), headers, secrets: [v.secret], now }))).toEqual({
        ok: true,
      });
      const signed = verifier.sign({
        secret: v.secret,
        body: Buffer.from(v.payload),
        id: 'd-1',
        timestamp: now,
        type: 'push',
      });
      expect(signed[(v.header ?? 'X-Slack-Signature').toLowerCase()]).toBe(v.signature);
    });
  }
});

/** Every built-in scheme through the same cases, signed by an independent reference signer. */
const NOW = 1_700_000_000;
const SECRET: Record<BuiltInScheme, string> = {
  standard: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
  'hmac-sha256': 'test_secret',
  stripe: 'whsec_stripe_test_secret',
  github: "It's a Secret to Everybody",
  shopify: 'shopify_secret',
  slack: '8f742231b10e8888abcd99yyyzzz85a5',
};
const OTHER = 'whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD';
const mac = (key: string | Buffer, data: string, enc: 'hex' | 'base64') =>
  createHmac('sha256', key).update(data).digest(enc);

/** Reference signatures written out from each provider's documentation, not from src/. */
function referenceHeaders(scheme: BuiltInScheme, secret: string, body: string, ts = NOW): Record<string, string> {
  switch (scheme) {
    case 'standard': {
      const key = Buffer.from(secret.replace(/^whsec_/, ''), 'base64');
      return {
        'webhook-id': 'msg_1',
        'webhook-timestamp': String(ts),
        'webhook-signature': `v1,${mac(key, `msg_1.${ts}.${body}`, 'base64')}`,
      };
    }
    case 'hmac-sha256':
      return { 'x-webhook-signature': mac(secret, body, 'hex') };
    case 'stripe':
      return { 'stripe-signature': `t=${ts},v1=${mac(secret, `${ts}.${body}`, 'hex')}` };
    case 'github':
      return {
        'x-hub-signature-256': `sha256=${mac(secret, body, 'hex')}`,
        'x-github-event': 'issues',
        'x-github-delivery': 'gh-1',
      };
    case 'shopify':
      return {
        'x-shopify-hmac-sha256': mac(secret, body, 'base64'),
        'x-shopify-topic': 'orders/create',
        'x-shopify-webhook-id': 'sh-1',
      };
    case 'slack':
      return {
        'x-slack-request-timestamp': String(ts),
        'x-slack-signature': `v0=${mac(secret, `v0:${ts}:${body}`, 'hex')}`,
      };
  }
}
const SIGNATURE_HEADER: Record<BuiltInScheme, string> = {
  standard: 'webhook-signature',
  'hmac-sha256': 'x-webhook-signature',
  stripe: 'stripe-signature',
  github: 'x-hub-signature-256',
  shopify: 'x-shopify-hmac-sha256',
  slack: 'x-slack-signature',
};
/** Headers other than the signature that a scheme requires, and what dropping one gives. */
const REQUIRED: Partial<Record<BuiltInScheme, string[]>> = {
  standard: ['webhook-id', 'webhook-timestamp'],
  github: ['x-github-event', 'x-github-delivery'],
  shopify: ['x-shopify-topic'],
  slack: ['x-slack-request-timestamp'],
};
const TIMESTAMPED: BuiltInScheme[] = ['standard', 'stripe', 'slack'];
const SCHEMES = Object.keys(SECRET) as BuiltInScheme[];
const BODY = '{"id":"evt_1","type":"invoice.paid","event":"order.completed","action":"opened","data":{"n":1}}';

describe.each(SCHEMES)('%s scheme', (scheme) => {
  const verifier = builtInVerifier(scheme);
  const check = (headers: Record<string, string | undefined>, secrets = [SECRET[scheme]], body = BODY, now = NOW) =>
    verifier.verify({ rawBody: Buffer.from(body), headers, secrets, tolerance: 300, now });

  it('accepts a valid signature', () =>
    expect(check(referenceHeaders(scheme, SECRET[scheme], BODY))).toEqual({ ok: true }));

  it('rejects a tampered body', () => {
    expect(check(referenceHeaders(scheme, SECRET[scheme], BODY), undefined, BODY.replace('1', '2'))).toEqual({
      ok: false,
      reason: 'signature_mismatch',
    });
  });

  it('rejects a wrong secret', () => {
    expect(check(referenceHeaders(scheme, OTHER, BODY))).toEqual({ ok: false, reason: 'signature_mismatch' });
  });

  it('accepts any of several secrets (rotation)', () => {
    expect(check(referenceHeaders(scheme, SECRET[scheme], BODY), [OTHER, SECRET[scheme]])).toEqual({ ok: true });
    expect(check(referenceHeaders(scheme, OTHER, BODY), [SECRET[scheme], OTHER])).toEqual({ ok: true });
  });

  it('reports a missing signature', () => {
    const headers = referenceHeaders(scheme, SECRET[scheme], BODY);
    delete headers[SIGNATURE_HEADER[scheme]];
    expect(check(headers)).toEqual({ ok: false, reason: 'missing_signature' });
  });

  it('reports a malformed signature', () => {
    const headers = { ...referenceHeaders(scheme, SECRET[scheme], BODY), [SIGNATURE_HEADER[scheme]]: 'garbage' };
    expect(check(headers)).toEqual({ ok: false, reason: 'malformed_signature' });
  });

  for (const name of REQUIRED[scheme] ?? []) {
    it(`reports the missing header ${name}`, () => {
      const headers = referenceHeaders(scheme, SECRET[scheme], BODY);
      delete headers[name];
      expect(check(headers)).toEqual({ ok: false, reason: 'missing_headers' });
    });
  }

  if (TIMESTAMPED.includes(scheme)) {
    it.each([
      ['stale', -301],
      ['future', 301],
    ])('rejects a %s timestamp, accepts one at the edge', (_label, offset) => {
      const ts = NOW + offset;
      expect(check(referenceHeaders(scheme, SECRET[scheme], BODY, ts))).toEqual({
        ok: false,
        reason: 'timestamp_out_of_tolerance',
      });
      const edge = NOW + Math.sign(offset) * 300;
      expect(check(referenceHeaders(scheme, SECRET[scheme], BODY, edge))).toEqual({ ok: true });
    });
  }

  it('signs what it verifies', () => {
    const body = Buffer.from(BODY);
    const headers = verifier.sign({ secret: SECRET[scheme], body, id: 'id-1', timestamp: NOW, type: 'orders.create' });
    expect(check(headers)).toEqual({ ok: true });
  });
});

describe('malformed id and timestamp headers', () => {
  const standard = builtInVerifier('standard');
  it.each(['abc', '1.5', '-1', ''])('standard timestamp %j', (ts) => {
    const headers = { ...referenceHeaders('standard', SECRET.standard, BODY), 'webhook-timestamp': ts };
    expect(
      standard.verify(input({ rawBody: Buffer.from(BODY), headers, secrets: [SECRET.standard], now: NOW })).ok,
    ).toBe(false);
    if (ts !== '') {
      expect(
        standard.verify(input({ rawBody: Buffer.from(BODY), headers, secrets: [SECRET.standard], now: NOW })),
      ).toEqual({
        ok: false,
        reason: 'malformed_headers',
      });
    }
  });
  it('slack timestamp that is not a number', () => {
    const headers = { ...referenceHeaders('slack', SECRET.slack, BODY), 'x-slack-request-timestamp': 'soon' };
    expect(
      builtInVerifier('slack').verify(
        input({ rawBody: Buffer.from(BODY), headers, secrets: [SECRET.slack], now: NOW }),
      ),
    ).toEqual({
      ok: false,
      reason: 'malformed_headers',
    });
  });
  it('stripe header without t or v1', () => {
    const v = builtInVerifier('stripe');
    for (const header of ['v1=' + 'a'.repeat(64), `t=${NOW}`, `t=${NOW},v0=${'a'.repeat(64)}`]) {
      expect(v.verify(input({ headers: { 'stripe-signature': header }, secrets: ['s'], now: NOW }))).toEqual({
        ok: false,
        reason: 'malformed_signature',
      });
    }
  });
});

describe('hmac-sha256 settings', () => {
  it('reads a prefixed base64 digest from a custom header', () => {
    const v = builtInVerifier('hmac-sha256', { header: 'X-Signature', prefix: 'sha256=', encoding: 'base64' });
    const headers = { 'x-signature': `sha256=${mac('k', BODY, 'base64')}` };
    expect(v.verify(input({ rawBody: Buffer.from(BODY), headers, secrets: ['k'] }))).toEqual({ ok: true });
    expect(
      v.verify(
        input({ rawBody: Buffer.from(BODY), headers: { 'x-signature': mac('k', BODY, 'base64') }, secrets: ['k'] }),
      ),
    ).toEqual({
      ok: false,
      reason: 'malformed_signature',
    });
  });
  it('accepts an upper-case hex digest', () => {
    const v = builtInVerifier('hmac-sha256');
    const headers = { 'x-webhook-signature': mac('k', BODY, 'hex').toUpperCase() };
    expect(v.verify(input({ rawBody: Buffer.from(BODY), headers, secrets: ['k'] }))).toEqual({ ok: true });
  });
  it('refuses bad settings at boot', () => {
    const boot = (extra: object) => () =>
      resolveWebhooksOptions({
        inbound: { sources: { s: { scheme: 'hmac-sha256', secrets: ['k'], ...extra } as any } },
      });
    expect(boot({ encoding: 'hex' })).not.toThrow();
    expect(boot({ encoding: 'base32' })).toThrow(/inbound\.sources\.s\.encoding/);
    expect(boot({ header: 'bad header' })).toThrow(/inbound\.sources\.s\.header/);
  });
});

describe('event type and id per scheme', () => {
  const body = (o: object) => Buffer.from(JSON.stringify(o));
  it('standard: body type, header id (svix too)', () => {
    const v = builtInVerifier('standard');
    expect(v.eventType({ type: 'a.b' }, {})).toBe('a.b');
    expect(v.eventId({}, { 'webhook-id': 'msg_1' })).toBe('msg_1');
    expect(v.eventId({}, { 'svix-id': 'msg_2' })).toBe('msg_2');
  });
  it('seed style: body event or type; body id or x-webhook-id', () => {
    const v = builtInVerifier('hmac-sha256');
    expect(v.eventType({ event: 'order.completed', type: 'x' }, {})).toBe('order.completed');
    expect(v.eventType({ type: 'x.y' }, {})).toBe('x.y');
    expect(v.eventId({ id: 'e1' }, { 'x-webhook-id': 'h1' })).toBe('e1');
    expect(v.eventId({}, { 'x-webhook-id': 'h1' })).toBe('h1');
  });
  it('stripe: body type and id', () => {
    const v = builtInVerifier('stripe');
    expect([v.eventType({ type: 'invoice.paid', id: 'evt_1' }, {}), v.eventId({ id: 'evt_1' }, {})]).toEqual([
      'invoice.paid',
      'evt_1',
    ]);
  });
  it('github: event header plus action, delivery header; form-encoded payloads', () => {
    const v = builtInVerifier('github');
    const h = { 'x-github-event': 'pull_request', 'x-github-delivery': 'd-9' };
    expect(v.eventType({ action: 'opened' }, h)).toBe('pull_request.opened');
    expect(v.eventType({}, { ...h, 'x-github-event': 'push' })).toBe('push');
    expect(v.eventId({}, h)).toBe('d-9');
    const form = Buffer.from(`payload=${encodeURIComponent('{"action":"closed"}')}`);
    expect(v.parse!(form, { 'content-type': 'application/x-www-form-urlencoded' })).toEqual({ action: 'closed' });
  });
  it('shopify: topic header with dots, webhook id header', () => {
    const v = builtInVerifier('shopify');
    expect(v.eventType({}, { 'x-shopify-topic': 'orders/create' })).toBe('orders.create');
    expect(v.eventId({}, { 'x-shopify-webhook-id': 'w1' })).toBe('w1');
  });
  it('slack: events, slash commands and interactive payloads', () => {
    const v = builtInVerifier('slack');
    const form = { 'content-type': 'application/x-www-form-urlencoded' };
    const command = v.parse!(Buffer.from(vectors.slack[0].payload), form);
    expect([v.eventType(command, {}), v.eventId(command, {})]).toEqual([
      'slash_command',
      '398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c',
    ]);
    const event = v.parse!(body({ type: 'event_callback', event_id: 'Ev1', event: { type: 'app_mention' } }), {});
    expect([v.eventType(event, {}), v.eventId(event, {})]).toEqual(['app_mention', 'Ev1']);
    const interactive = v.parse!(
      Buffer.from(`payload=${encodeURIComponent('{"type":"block_actions","trigger_id":"t1"}')}`),
      form,
    );
    expect([v.eventType(interactive, {}), v.eventId(interactive, {})]).toEqual(['block_actions', 't1']);
  });
});

describe('numeric event ids', () => {
  it('the schemes that read the id from the body take a number as its string form', () => {
    expect(builtInVerifier('hmac-sha256').eventId({ id: 42 }, { 'x-webhook-id': 'h1' })).toBe('42');
    expect(builtInVerifier('stripe').eventId({ id: 7 }, {})).toBe('7');
    expect(builtInVerifier('slack').eventId({ event_id: 9, trigger_id: 't' }, {})).toBe('9');
    expect(builtInVerifier('hmac-sha256').eventId({ id: 0 }, {})).toBe('0');
  });

  it('a number past 2^53 is not trusted (JSON.parse has already rounded it): the header, or the body hash, stands in', () => {
    expect(builtInVerifier('hmac-sha256').eventId({ id: 2 ** 53 + 2 }, { 'x-webhook-id': 'h1' })).toBe('h1');
    expect(builtInVerifier('stripe').eventId({ id: 1.5 }, {})).toBeUndefined();
  });

  it("a source's own eventId that returns a number is used as its string form", () => {
    const eventId = (p: { seq: number }) => p.seq as never;
    const options = { name: 'n', scheme: 'hmac-sha256' as const, secrets: ['s'], tolerance: 300, eventId };
    const source = new InboundSource('n', builtInVerifier('hmac-sha256'), options);
    expect(source.read(Buffer.from('{"event":"a.b","seq":1234}'), {}).id).toBe('1234');
    const rounded = Buffer.from('{"event":"a.b","seq":123456789012345678901}');
    expect(source.read(rounded, {}).id).toBe(hashId(rounded));
  });
});
