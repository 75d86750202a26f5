import { describe, expect, it } from '@jest/globals';
import type { HttpAttemptResult } from '../../src/outbound/http.client.js';
import { decideOutcome, deliveryBackoff, parseRetryAfter, withJitter } from '../../src/outbound/retry.policy.js';
import { DEFAULT_SCHEDULE } from '../../src/webhooks.options.js';
import { RetryLaterError } from '../../src/errors/retry-later.error.js';

const policy = { schedule: DEFAULT_SCHEDULE, jitter: 0.2, retryAfterMaxFactor: 2 };
const result = (statusCode: number | null, extra: Partial<HttpAttemptResult> = {}): HttpAttemptResult => ({
  statusCode,
  headers: {},
  body: '',
  durationMs: 1,
  errorClass:
    statusCode !== null && statusCode < 300 && statusCode >= 200 ? null : statusCode === null ? 'refused' : 'http',
  errorMessage: null,
  ...extra,
});

describe('retry policy', () => {
  it('has the default schedule of the leading senders', () => {
    expect(DEFAULT_SCHEDULE.map((ms) => ms / 1000)).toEqual([0, 5, 300, 1800, 7200, 18000, 36000, 36000]);
  });

  it('treats 2xx as success and nothing else', () => {
    for (const s of [200, 201, 204, 299]) expect(decideOutcome(result(s), 0, policy).kind).toBe('succeeded');
    for (const s of [100, 301, 302, 304, 400, 404, 500]) expect(decideOutcome(result(s), 0, policy).kind).toBe('retry');
  });

  it('schedules the next delay with ±20 % jitter', () => {
    const lo = decideOutcome(result(500), 1, policy, () => 0);
    const hi = decideOutcome(result(500), 1, policy, () => 0.999999);
    const mid = decideOutcome(result(500), 1, policy, () => 0.5);
    expect(lo).toEqual({ kind: 'retry', delayMs: 240_000 });
    expect(hi).toEqual({ kind: 'retry', delayMs: 360_000 });
    expect(mid).toEqual({ kind: 'retry', delayMs: 300_000 });
  });

  it('keeps jittered delays inside the band over many draws', () => {
    for (let i = 0; i < 1000; i++) {
      const d = withJitter(5000, 0.2);
      expect(d).toBeGreaterThanOrEqual(4000);
      expect(d).toBeLessThanOrEqual(6000);
    }
  });

  it('fails after the last scheduled attempt', () => {
    expect(decideOutcome(result(500), DEFAULT_SCHEDULE.length - 1, policy).kind).toBe('failed');
    expect(decideOutcome(result(null), DEFAULT_SCHEDULE.length - 2, policy).kind).toBe('retry');
  });

  it('ends on 410 and on a network-policy refusal', () => {
    expect(decideOutcome(result(410), 0, policy).kind).toBe('gone');
    expect(decideOutcome(result(null, { errorClass: 'blocked' }), 0, policy).kind).toBe('failed');
  });

  it('honours Retry-After on 429 and 503, clamped to twice the scheduled delay', () => {
    const r = (s: number, ra: string) =>
      decideOutcome(result(s, { headers: { 'retry-after': ra } }), 1, policy, () => 0.5);
    expect(r(429, '10')).toEqual({ kind: 'retry', delayMs: 10_000 });
    expect(r(503, '100000')).toEqual({ kind: 'retry', delayMs: 600_000 });
    expect(r(500, '10')).toEqual({ kind: 'retry', delayMs: 300_000 });
    expect(r(429, 'soon')).toEqual({ kind: 'retry', delayMs: 300_000 });
  });

  it('parses Retry-After as seconds or an HTTP date', () => {
    const now = Date.parse('2026-01-01T00:00:00Z');
    expect(parseRetryAfter('7', now)).toBe(7000);
    expect(parseRetryAfter('Thu, 01 Jan 2026 00:00:30 GMT', now)).toBe(30_000);
    expect(parseRetryAfter(undefined, now)).toBeNull();
  });

  it('hands the chosen delay to Bull through the backoff strategy', () => {
    expect(deliveryBackoff(1, new RetryLaterError(1234, 'x'))).toBe(1234);
    expect(deliveryBackoff(1, new Error('db down'))).toBe(5000);
  });
});
