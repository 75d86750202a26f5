import type { Logger } from '@nestjs/common';
import { setTimeout as sleep } from 'node:timers/promises';
import { settleWithin } from './settle.js';

/** Backoff of a write that failed: first delay, cap, and how often to warn again. */
const RETRY_FIRST_MS = 100;
const RETRY_MAX_MS = 5_000;
const RETRY_LOG_EVERY = 20;

/** A write for {@link WriteRetrier.write}, and how its log lines name it. */
export interface RetriedWrite<T> {
  run: () => Promise<T>;
  /** What the write records, for the log: `attempt 2 of delivery dl_…`. */
  what: string;
  /** What a retry does not do again, for the log: `the request`. */
  notRepeated: string;
  /** Failures worth another try (the database away or locked); any other rejects at once. */
  retryable: (err: unknown) => boolean;
}

/**
 * Writes that record work already done (a POST sent, handlers run). Were such a write to fail
 * back to the job, the job would do the work again; so it is retried instead, with a capped
 * backoff, until it succeeds or {@link stop} gives up on it.
 */
export class WriteRetrier {
  private readonly stopped = new AbortController();
  private readonly pending = new Set<Promise<unknown>>();

  constructor(private readonly logger: Logger) {}

  /** `write.run()`'s result, once a try succeeds; its last error once stopped or not retryable. */
  write<T>(write: RetriedWrite<T>): Promise<T> {
    const done = this.retry(write);
    this.pending.add(done);
    const forget = () => this.pending.delete(done);
    done.then(forget, forget);
    return done;
  }

  /** Lets the writes still retrying go on for up to `graceMs`, then makes them give up. */
  async stop(graceMs = 0): Promise<void> {
    if (graceMs > 0 && this.pending.size > 0) await settleWithin(Promise.allSettled(this.pending), graceMs);
    this.stopped.abort();
  }

  private async retry<T>({ run, what, notRepeated, retryable }: RetriedWrite<T>): Promise<T> {
    const { signal } = this.stopped;
    for (let tries = 1; ; tries++) {
      try {
        const result = await run();
        if (tries > 1) this.logger.log(`Recorded ${what} after ${tries} tries.`);
        return result;
      } catch (err) {
        if (!retryable(err) || signal.aborted) throw err;
        if (tries === 1 || tries % RETRY_LOG_EVERY === 0) {
          const message = err instanceof Error ? err.message : String(err);
          this.logger.warn(`Recording ${what} failed (${message}); retrying the write, not ${notRepeated}.`);
        }
        const delay = Math.min(RETRY_MAX_MS, RETRY_FIRST_MS * 2 ** (tries - 1));
        await sleep(delay, undefined, { signal }).catch(() => undefined);
        if (signal.aborted) throw err;
      }
    }
  }
}
