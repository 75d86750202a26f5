import type { LoggerService } from '@nestjs/common';
import { RepeatedFailureLog } from './repeated-failure-log.js';
import { settleWithin } from './settle.js';

export interface IntervalLoopOptions {
  /** Names the pass in the warning logged when a pass fails. */
  name: string;
  /** The wait between the end of one pass and the start of the next. */
  intervalMs: number;
  /** The wait before the first pass; `intervalMs` when absent. */
  firstDelayMs?: number;
  /** The warning of a failed pass; `<name> failed: <message>` when absent. */
  failureText?: (message: string) => string;
  /** Lets the process exit while only this timer is left (a rare pass that must not hold it). */
  unref?: boolean;
  /** Whether a pass's result leaves work for another one at once (a full batch), not after `intervalMs`. */
  again?: (result: unknown) => boolean;
}

/**
 * Runs an async pass every `intervalMs` after the previous one ended (or at once when `again`
 * says the pass left work), so passes never overlap;
 * a failed pass is logged (a failure that repeats, at a bounded rate) and the loop goes on. {@link halt} stops the timer and
 * {@link stop} also waits, bounded, for the pass still running.
 */
export class IntervalLoop {
  private timer: NodeJS.Timeout | null = null;
  private current: Promise<void> | null = null;
  private stopped = false;
  private readonly failures: RepeatedFailureLog;

  constructor(
    private readonly pass: () => Promise<unknown>,
    private readonly options: IntervalLoopOptions,
    logger: Pick<LoggerService, 'warn' | 'log'>,
  ) {
    const { name, failureText } = options;
    this.failures = new RepeatedFailureLog(logger, {
      failed: (error, repeats) =>
        (failureText ? failureText(error) : `${name} failed: ${error}`) +
        (repeats ? ` (${repeats} failed passes since the last report)` : ''),
      recovered: (failures) => `${name} works again, after ${failures} failed passes.`,
    });
  }

  /** The pass running now, if any; it never rejects. */
  get running(): Promise<void> | null {
    return this.current;
  }

  start(): void {
    this.schedule(this.options.firstDelayMs ?? this.options.intervalMs);
  }

  /** No further pass starts; the running one goes on. */
  halt(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  /** {@link halt}, then waits at most `boundMs` for the running pass. */
  async stop(boundMs: number): Promise<'done' | 'late'> {
    this.halt();
    return this.current ? settleWithin(this.current, boundMs) : 'done';
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => this.tick(), ms);
    if (this.options.unref) this.timer.unref();
  }

  private tick(): void {
    this.timer = null;
    if (this.stopped) return;
    let again = false;
    this.current = this.pass()
      .then(
        (result) => {
          this.failures.recovered();
          again = this.options.again?.(result) ?? false;
        },
        (err: Error) => this.failures.failed(err.message),
      )
      .finally(() => {
        this.current = null;
        // At once still goes through the timer queue: other work gets its turn between passes.
        this.schedule(again ? 0 : this.options.intervalMs);
      });
  }
}
