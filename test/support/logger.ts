import type { LoggerService } from '@nestjs/common';

/** Every line an app logs, as its own logger (`startTestApp({ logger })`) receives it. */
export class CapturingLogger implements LoggerService {
  readonly lines: { level: string; message: string }[] = [];
  log = (message: unknown) => this.add('log', message);
  warn = (message: unknown) => this.add('warn', message);
  error = (message: unknown) => this.add('error', message);
  debug = (message: unknown) => this.add('debug', message);
  verbose = (message: unknown) => this.add('verbose', message);
  fatal = (message: unknown) => this.add('fatal', message);

  /** The messages logged after `mark` (an earlier `lines.length`), optionally of one level. */
  since(mark: number, level?: string): string[] {
    return this.lines
      .slice(mark)
      .filter((l) => level === undefined || l.level === level)
      .map((l) => l.message);
  }

  private add(level: string, message: unknown) {
    this.lines.push({ level, message: String(message) });
  }
}
