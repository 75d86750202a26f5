import type { HttpAttemptResult } from './http.client.js';
import { RetryLaterError } from '../errors/retry-later.error.js';

/** What happens to a delivery after an attempt. */
export type AttemptOutcome =
  | { kind: 'succeeded' }
  | { kind: 'retry'; delayMs: number }
  /** No attempt left, or a failure that retrying cannot fix (refused by the network policy). */
  | { kind: 'failed' }
  /** 410 Gone: the delivery ends and the endpoint is disabled. */
  | { kind: 'gone' };

/** The parts of the outbound options the policy reads. */
export interface RetryPolicy {
  schedule: number[];
  jitter: number;
  retryAfterMaxFactor: number;
}

/** `delay` spread uniformly by ±`jitter` (a fraction); `random` is injectable for tests. */
export function withJitter(delay: number, jitter: number, random: () => number = Math.random): number {
  return Math.max(0, Math.round(delay * (1 + jitter * (2 * random() - 1))));
}

/** A `Retry-After` value (seconds or an HTTP date) in milliseconds from `now`, or null. */
export function parseRetryAfter(value: string | string[] | undefined, now = Date.now()): number | null {
  const raw = Array.isArray(value) ? value[0] : value;
  if (!raw) return null;
  if (/^\s*\d+\s*$/.test(raw)) return Number(raw) * 1000;
  const at = Date.parse(raw);
  return Number.isNaN(at) ? null : Math.max(0, at - now);
}

/**
 * Decides what follows attempt `attemptIndex` (0-based position in the schedule). Success is
 * 2xx only; a 3xx is a failure like any other. On 429 / 503 a `Retry-After` replaces the
 * scheduled delay, clamped to `retryAfterMaxFactor` times that delay.
 */
export function decideOutcome(
  result: HttpAttemptResult,
  attemptIndex: number,
  policy: RetryPolicy,
  random: () => number = Math.random,
  now = Date.now(),
): AttemptOutcome {
  const status = result.statusCode;
  if (status !== null && status >= 200 && status < 300) return { kind: 'succeeded' };
  if (status === 410) return { kind: 'gone' };
  if (result.errorClass === 'blocked') return { kind: 'failed' };
  const next = attemptIndex + 1;
  if (next >= policy.schedule.length) return { kind: 'failed' };
  const scheduled = policy.schedule[next];
  if (status === 429 || status === 503) {
    const retryAfter = parseRetryAfter(result.headers['retry-after'], now);
    if (retryAfter !== null) {
      return { kind: 'retry', delayMs: Math.min(retryAfter, Math.round(scheduled * policy.retryAfterMaxFactor)) };
    }
  }
  return { kind: 'retry', delayMs: withJitter(scheduled, policy.jitter, random) };
}

/** Delay after an unexpected processor error (database down): the job keeps its place. */
const UNEXPECTED_ERROR_DELAY_MS = 5_000;

/** The Bull backoff strategy of the webhooks queue: the delay the processor chose. */
export function deliveryBackoff(_attemptsMade: number, err: Error): number {
  return err instanceof RetryLaterError ? err.delayMs : UNEXPECTED_ERROR_DELAY_MS;
}
