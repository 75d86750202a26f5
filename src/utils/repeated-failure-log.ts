import type { LoggerService } from '@nestjs/common';

const FIRST_WAIT_MS = 1_000;
const MAX_WAIT_MS = 60_000;

/** The lines of a {@link RepeatedFailureLog}. */
export interface RepeatedFailureTexts {
  /** A failure; `repeats` counts the failures since the last line, 0 on the first one. */
  failed: (error: string, repeats: number) => string;
  /** The first success after failures. */
  recovered: (failures: number) => string;
}

/**
 * Logs a failure that may repeat on every pass (Redis away, a full disk): the first one at once,
 * then one line (with the count) after waits that double from a second up to a minute, and the
 * recovery once. A pass failing every second would otherwise flood the log.
 */
export class RepeatedFailureLog {
  private failures = 0;
  private unlogged = 0;
  private wait = FIRST_WAIT_MS;
  private nextAt = 0;

  constructor(
    private readonly logger: Pick<LoggerService, 'warn' | 'log'>,
    private readonly texts: RepeatedFailureTexts,
    private readonly now: () => number = () => Date.now(),
  ) {}

  failed(error: string): void {
    const now = this.now();
    this.failures++;
    if (this.failures > 1 && now < this.nextAt) {
      this.unlogged++;
      return;
    }
    this.logger.warn(this.texts.failed(error, this.failures > 1 ? this.unlogged + 1 : 0));
    if (this.failures > 1) this.wait = Math.min(this.wait * 2, MAX_WAIT_MS);
    this.nextAt = now + this.wait;
    this.unlogged = 0;
  }

  recovered(): void {
    if (this.failures === 0) return;
    this.logger.log(this.texts.recovered(this.failures));
    this.failures = 0;
    this.unlogged = 0;
    this.wait = FIRST_WAIT_MS;
  }
}
