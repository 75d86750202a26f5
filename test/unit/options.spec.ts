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
    });
    expect(o.inbound).toMatchObject({ path: 'webhooks', mode: 'sync', sources: {}, retentionMs: 30 * 24 * 3600 * 1000 });
    expect(resolveWebhooksOptions({ inbound: { retentionMs: 0 } }).inbound.retentionMs).toBe(0);
  });

  it.each([
    [{ role: 'boss' }, /"role" must be one of all, emitter, worker/],
    [{ sqliteWaitMs: 0 }, /"sqliteWaitMs" must be an integer >= 1/],
    [{ sqliteCheckpoint: 'thread' }, /"sqliteCheckpoint" must be one of background, inline/],
    [{ outbound: { schedule: [] } }, /"outbound.schedule" must be a non-empty array/],
    [{ outbound: { schedule: [0, -5] } }, /"outbound.schedule"/],
    [{ outbound: { jitter: 2 } }, /"outbound.jitter" must be a number from 0 to 1 \(got 2\)/],
    [{ outbound: { timeoutMs: 0 } }, /"outbound.timeoutMs" must be an integer >= 1/],
    [{ outbound: { concurrency: 1.5 } }, /"outbound.concurrency"/],
    [{ outbound: { network: { allow: 'x' } } }, /"outbound.network.allow"/],
    [{ outbound: { network: { httpsOnly: 'yes' } } }, /"outbound.network.httpsOnly" must be true or false/],
    [{ inbound: { mode: 'later' } }, /"inbound.mode" must be one of sync, queue/],
    [{ inbound: { retentionMs: 3_600_000 } }, /"inbound.retentionMs" must be 0 \(keep every row\) or an integer >= 86400000 \(one day/],
    [{ inbound: { retentionMs: -1 } }, /"inbound.retentionMs"/],
    [{ outbound: { retentionMs: 60_000 } }, /"outbound.retentionMs" must be 0 \(keep every row\) or an integer >= 86400000 \(one day: a shorter window forgets idempotency keys/],
    [{ inbound: { retentionMs: '30d' } }, /"inbound.retentionMs"/],
    [{ inbound: { sources: { s: { scheme: 'nope', secrets: ['x'] } } } }, /"inbound.sources.s.scheme" must be one of/],
    [{ inbound: { sources: { s: { scheme: 'github', secrets: [] } } } }, /"inbound.sources.s.secrets" must be a non-empty array/],
    [{ inbound: { sources: { 'a b': { scheme: 'github', secrets: ['x'] } } } }, /inbound.sources.a b/],
  ])('refuses %j', (raw, message) => {
    expect(() => resolveWebhooksOptions(raw as any)).toThrow(WebhooksConfigError);
    expect(() => resolveWebhooksOptions(raw as any)).toThrow(message);
  });
});
