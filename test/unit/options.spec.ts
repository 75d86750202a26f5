import { describe, expect, it } from '@jest/globals';
import { WebhooksConfigError } from '../../src/errors/webhooks-config.error.js';
import { DEFAULT_SCHEDULE, resolveWebhooksOptions } from '../../src/webhooks.options.js';

describe('resolveWebhooksOptions', () => {
  it('fills every default', () => {
    const o = resolveWebhooksOptions({});
    expect(o.role).toBe('all');
    expect(o.sqliteWaitMs).toBe(5_000);
    expect(o.outbound).toMatchObject({
      schedule: DEFAULT_SCHEDULE,
      jitter: 0.2,
      timeoutMs: 15_000,
      maxResponseBodyBytes: 4096,
      maxPayloadBytes: 262_144,
      retryAfterMaxFactor: 2,
      disableAfterMs: 5 * 24 * 3600 * 1000,
      network: { allow: [], httpsOnly: false },
      retentionMs: 30 * 24 * 3600 * 1000,
      publishGatherMs: 16,
      markGatherMs: 250,
    });
    expect(o.inbound).toMatchObject({
      path: 'webhooks',
      mode: 'sync',
      sources: {},
      retentionMs: 30 * 24 * 3600 * 1000,
      reconcileIntervalMs: 30_000,
    });
    expect(resolveWebhooksOptions({ inbound: { retentionMs: 0 } }).inbound.retentionMs).toBe(0);
    expect(o.observability).toEqual({ traceparent: false, eventTypeLabels: 50 });
  });

  it.each([
    [{ role: 'boss' }, /"role" must be one of all, emitter, worker/],
    [{ sqliteWaitMs: 0 }, /"sqliteWaitMs" must be an integer >= 1/],
    [{ sqliteCheckpoint: 'thread' }, /"sqliteCheckpoint" must be one of background, inline/],
    [{ outbound: { schedule: [] } }, /"outbound.schedule" must be a non-empty array/],
    // Before, a first delay was taken and ignored: the first attempt went at the commit.
    [{ outbound: { schedule: [4_000, 100] } }, /"outbound.schedule" must be delays whose first entry is 0/],
    [{ outbound: { schedule: [0, -5] } }, /"outbound.schedule"/],
    [{ outbound: { jitter: 2 } }, /"outbound.jitter" must be a number from 0 to 1 \(got 2\)/],
    [{ outbound: { timeoutMs: 0 } }, /"outbound.timeoutMs" must be an integer from 1 to 2147483647 ms/],
    // Past Node's longest timer a timeout fires after 1 ms: every attempt would time out, every
    // pass of a loop run back to back.
    [
      { outbound: { timeoutMs: 2 ** 31 } },
      /"outbound.timeoutMs" must be an integer from 1 to 2147483647 ms \(about 24.8 days/,
    ],
    [
      { outbound: { relayIntervalMs: 30 * 86_400_000 } },
      /"outbound.relayIntervalMs" must be an integer from 10 to 2147483647/,
    ],
    [{ outbound: { reconcileIntervalMs: Infinity } }, /"outbound.reconcileIntervalMs" must be an integer from 10/],
    [{ inbound: { reconcileIntervalMs: 2 ** 40 } }, /"inbound.reconcileIntervalMs" must be an integer from 10/],
    [{ outbound: { concurrency: 1.5 } }, /"outbound.concurrency"/],
    [{ outbound: { publishGatherMs: -1 } }, /"outbound.publishGatherMs" must be a number from 0 to 1000 \(got -1\)/],
    [{ outbound: { publishGatherMs: NaN } }, /"outbound.publishGatherMs" must be a number from 0 to 1000/],
    [{ outbound: { markGatherMs: 60_000 } }, /"outbound.markGatherMs" must be a number from 0 to 10000/],
    [{ outbound: { network: { allow: 'x' } } }, /"outbound.network.allow"/],
    [{ outbound: { network: { httpsOnly: 'yes' } } }, /"outbound.network.httpsOnly" must be true or false/],
    [{ inbound: { mode: 'later' } }, /"inbound.mode" must be one of sync, queue/],
    [
      { portal: { sessionTtlMs: 10 ** 15 } },
      /"portal.sessionTtlMs" must be an integer from 1000 to 3153600000000 ms \(100 years\)/,
    ],
    [{ observability: { traceparent: 1 } }, /"observability.traceparent" must be true or false/],
    [{ observability: { eventTypeLabels: -1 } }, /"observability.eventTypeLabels" must be an integer >= 0/],
    [{ inbound: { reconcileIntervalMs: 5 } }, /"inbound.reconcileIntervalMs" must be an integer from 10 to/],
    [
      { inbound: { retentionMs: 3_600_000 } },
      /"inbound.retentionMs" must be 0 \(keep every row\) or an integer >= 86400000 \(one day/,
    ],
    [{ inbound: { retentionMs: -1 } }, /"inbound.retentionMs"/],
    [
      { outbound: { retentionMs: 60_000 } },
      /"outbound.retentionMs" must be 0 \(keep every row\) or an integer >= 86400000 \(one day: a shorter window forgets idempotency keys/,
    ],
    [{ inbound: { retentionMs: '30d' } }, /"inbound.retentionMs"/],
    [{ inbound: { sources: { s: { scheme: 'nope', secrets: ['x'] } } } }, /"inbound.sources.s.scheme" must be one of/],
    [
      { inbound: { sources: { s: { scheme: 'github', secrets: [] } } } },
      /"inbound.sources.s.secrets" must be a non-empty array/,
    ],
    [{ inbound: { sources: { 'a b': { scheme: 'github', secrets: ['x'] } } } }, /inbound.sources.a b/],
  ])('refuses %j', (raw, message) => {
    expect(() => resolveWebhooksOptions(raw as any)).toThrow(WebhooksConfigError);
    expect(() => resolveWebhooksOptions(raw as any)).toThrow(message);
  });

  it.each([
    [{ outbound: { timeout: 5000 } }, 'outbound.timeout', 'timeoutMs'],
    [{ outbound: { network: { allowPrivate: true } } }, 'outbound.network.allowPrivate', undefined],
    [{ outbound: { network: { alow: ['10.0.0.0/8'] } } }, 'outbound.network.alow', 'allow'],
    [{ inbound: { bodylimit: 5_000_000 } }, 'inbound.bodylimit', 'bodyLimit'],
    [
      { inbound: { sources: { gh: { scheme: 'github', secrets: ['x'], secret: 'y' } } } },
      'inbound.sources.gh.secret',
      'secrets',
    ],
    [
      {
        inbound: {
          sources: { p: { scheme: 'standard', secrets: ['whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw'], tolerence: 60 } },
        },
      },
      'inbound.sources.p.tolerence',
      'tolerance',
    ],
    [{ roles: 'worker' }, 'roles', 'role'],
    [{ Inbound: {} }, 'Inbound', 'inbound'],
  ])('refuses the unknown option in %j, naming it and the closest known one', (raw, path, suggestion) => {
    let error: unknown;
    try {
      resolveWebhooksOptions(raw as any);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(WebhooksConfigError);
    const message = (error as Error).message;
    expect(message).toContain(`unknown option "${path}"`);
    if (suggestion) expect(message).toContain(`(did you mean "${suggestion}"?)`);
    else expect(message).not.toContain('did you mean');
    expect(message).toMatch(/Options at this level: \w+/);
  });

  it('refuses a section that is not an object', () => {
    expect(() => resolveWebhooksOptions({ outbound: 'fast' } as any)).toThrow(
      /"outbound" must be an object \(got "fast"\)/,
    );
    expect(() => resolveWebhooksOptions({ inbound: [] } as any)).toThrow(/"inbound" must be an object/);
    expect(() => resolveWebhooksOptions({ outbound: { network: null } } as any)).toThrow(
      /"outbound.network" must be an object/,
    );
  });

  it('refuses values of the wrong kind that a text check would pass, with the boot error, never a TypeError', () => {
    const cyclic: Record<string, unknown> = Object.create(null);
    cyclic.self = cyclic;
    const hmac = (header: unknown) => ({
      inbound: { sources: { s: { scheme: 'hmac-sha256', secrets: ['k'], header } } },
    });
    const cases: [string, unknown, RegExp][] = [
      [
        'an array holding a URL as portal.baseUrl',
        { portal: { baseUrl: ['https://app.example.com'] } },
        /"portal.baseUrl"/,
      ],
      ['a symbol as portal.baseUrl', { portal: { baseUrl: Symbol('url') } }, /"portal.baseUrl"/],
      ['an array holding a header name', hmac(['X-Sig']), /"inbound.sources.s.header" must be an HTTP header name/],
      ['a number as a header name', hmac(0), /"inbound.sources.s.header"/],
      [
        'a BigInt example',
        { eventTypes: [{ name: 'a.b', example: { n: 10n } }] },
        /"eventTypes\[0\].example" must be a JSON value/,
      ],
      ['a cyclic example', { eventTypes: [{ name: 'a.b', example: cyclic }] }, /"eventTypes\[0\].example"/],
      ['a cyclic schema', { eventTypes: [{ name: 'a.b', schema: cyclic }] }, /"eventTypes\[0\].schema"/],
      ['an array as schema', { eventTypes: [{ name: 'a.b', schema: [] }] }, /"eventTypes\[0\].schema"/],
      [
        'a cyclic object without a prototype as role',
        { role: cyclic },
        /"role" .*\(got an object that JSON cannot show\)/,
      ],
    ];
    for (const [label, raw, message] of cases) {
      let error: unknown;
      try {
        resolveWebhooksOptions(raw as any);
      } catch (err) {
        error = err;
      }
      expect([label, error instanceof WebhooksConfigError, String((error as Error)?.message)]).toEqual([
        label,
        true,
        expect.stringMatching(message),
      ]);
    }
  });

  it.each([
    [
      'outbound.userAgent',
      { outbound: { userAgent: 'agent\r\nX-Injected: 1' } },
      /must be a header value of printable ASCII/,
    ],
    ['outbound.userAgent', { outbound: { userAgent: 'agent\u0000' } }, /must be a header value/],
    ['inbound.path', { inbound: { path: 'hooks/:tenant' } }, /must be a URL path whose segments hold only/],
    ['inbound.path', { inbound: { path: 'hooks?x=1' } }, /must be a URL path/],
    ['inbound.path', { inbound: { path: 'my hooks' } }, /must be a URL path/],
    ['inbound.path', { inbound: { path: 'api/../hooks' } }, /must be a URL path/],
    ['portal.path', { portal: { path: 'portal/*rest' } }, /must be a URL path/],
  ])('refuses a value of %s that the HTTP client or router would misread (%j)', (option, raw, message) => {
    expect(() => resolveWebhooksOptions(raw as any)).toThrow(
      new RegExp(`"${option.replace('.', '\\.')}" ${message.source}`),
    );
  });

  it('takes route paths of unreserved characters, and trims their slashes', () => {
    const o = resolveWebhooksOptions({ inbound: { path: '/api/v1.0/hooks_in~x-y/' }, portal: { path: 'portal' } });
    expect([o.inbound.path, o.portal?.path]).toEqual(['api/v1.0/hooks_in~x-y', 'portal']);
  });

  it('refuses a source setting its scheme would ignore', () => {
    const refuse = (source: object, message: RegExp) =>
      expect(() =>
        resolveWebhooksOptions({ inbound: { sources: { s: { secrets: ['x'], ...source } } } } as any),
      ).toThrow(message);
    refuse(
      { scheme: 'github', header: 'X-Sig' },
      /"inbound.sources.s.header" is read by the hmac-sha256 scheme only; this source uses github/,
    );
    refuse({ scheme: 'stripe', prefix: 'v1=' }, /"inbound.sources.s.prefix" is read by the hmac-sha256 scheme only/);
    refuse(
      { scheme: 'github', tolerance: 60 },
      /"inbound.sources.s.tolerance" applies to schemes that sign a timestamp/,
    );
    refuse({ scheme: 'hmac-sha256', tolerance: 60 }, /"inbound.sources.s.tolerance"/);
    refuse({ scheme: 'shopify', tolerance: 60 }, /"inbound.sources.s.tolerance"/);
    // Where the scheme reads them, they stay accepted.
    const custom = { verify: () => ({ ok: true }), eventType: () => 'x' };
    for (const source of [
      { scheme: 'hmac-sha256', header: 'X-Sig', prefix: 'sha256=', encoding: 'base64' },
      { scheme: 'stripe', tolerance: 60 },
      { scheme: 'slack', tolerance: 60 },
      { scheme: custom, tolerance: 60 },
    ]) {
      expect(
        resolveWebhooksOptions({ inbound: { sources: { s: { secrets: ['x'], ...source } } } } as any).inbound.sources.s
          .tolerance,
      ).toBe((source as any).tolerance ?? 300);
    }
  });
});

describe('inbound secrets at boot', () => {
  const boot =
    (secrets: unknown[], scheme = 'standard') =>
    () =>
      resolveWebhooksOptions({ inbound: { sources: { partner: { scheme, secrets } } } } as any);

  it('names the entry an unset environment variable left empty', () => {
    expect(boot(['whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', undefined])).toThrow(
      'option "inbound.sources.partner.secrets[1]" must be a non-empty string (is its environment variable set?) (got undefined)',
    );
    expect(boot([''], 'github')).toThrow(/"inbound\.sources\.partner\.secrets\[0\]" .*\(got ""\)/);
  });

  it('refuses a standard secret that is not "whsec_" and base64, as docs/inbound.md says', () => {
    for (const secret of ['shh', 'MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', 'whsec_not base64!'])
      expect(boot([secret])).toThrow(
        'option "inbound.sources.partner.secrets[0]" must be a Standard Webhooks secret: "whsec_" and non-empty base64',
      );
    expect(boot(['whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw'])).not.toThrow();
  });
});

describe('boot errors never print a secret', () => {
  const SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
  it.each([
    [
      'secrets given as a string',
      { s: { scheme: 'standard', secrets: SECRET } },
      /"inbound.sources.s.secrets" must be a non-empty array/,
    ],
    [
      'secrets given as an object',
      { s: { scheme: 'github', secrets: { current: SECRET } } },
      /"inbound.sources.s.secrets"/,
    ],
    ['a source given as its secret', { s: SECRET }, /"inbound.sources.s" must be an object/],
  ])('%s', (_name, sources, message) => {
    let error: unknown;
    try {
      resolveWebhooksOptions({ inbound: { sources } } as any);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(WebhooksConfigError);
    expect((error as Error).message).toMatch(message);
    expect((error as Error).message).not.toContain(SECRET.slice(6, 20));
  });
});
