import { Inject, Injectable, Logger, type BeforeApplicationShutdown, type OnApplicationBootstrap } from '@nestjs/common';
import type { ResolvedWebhooksOptions } from '../interfaces/webhooks-options.interface.js';
import { settleWithin, SHUTDOWN_MARGIN_MS } from '../outbound/shutdown.js';
import { WEBHOOKS_OPTIONS } from '../webhooks.constants.js';
import { WebhookInbox } from './webhook-inbox.service.js';

/** How often the inbox is pruned. */
export const RETENTION_INTERVAL_MS = 24 * 60 * 60_000;
/** The first pass after boot: late enough to stay out of the way of startup. */
export const RETENTION_FIRST_PASS_MS = 60_000;

/**
 * `inbound.retentionMs`: deletes `processed` and `ignored` inbox rows older than the window, a
 * minute after boot and then daily, in every process that receives (passes of several processes
 * at once only delete the same rows). Off with `retentionMs: 0` or without inbound sources.
 */
@Injectable()
export class InboxRetention implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger(InboxRetention.name);
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<unknown> | null = null;
  private stopped = false;
  private readonly abort = new AbortController();

  constructor(
    @Inject(WEBHOOKS_OPTIONS) private readonly options: ResolvedWebhooksOptions,
    private readonly inbox: WebhookInbox,
  ) {}

  onApplicationBootstrap(): void {
    const { retentionMs, sources } = this.options.inbound;
    if (retentionMs === 0 || Object.keys(sources).length === 0) return;
    this.schedule(RETENTION_FIRST_PASS_MS);
  }

  /** One pass now: deletes what is past the window and resolves to how many rows went. */
  async pass(now = Date.now()): Promise<number> {
    const deleted = await this.inbox.prune(new Date(now - this.options.inbound.retentionMs), { signal: this.abort.signal });
    if (deleted > 0) this.logger.log(`Deleted ${deleted} processed or ignored inbox rows older than ${this.options.inbound.retentionMs} ms.`);
    return deleted;
  }

  async beforeApplicationShutdown(): Promise<void> {
    this.stopped = true;
    this.abort.abort();
    if (this.timer) clearTimeout(this.timer);
    // A pass is a few short transactions; a database that hangs must not hold shutdown.
    if (this.running) await settleWithin(this.running, SHUTDOWN_MARGIN_MS);
  }

  private schedule(ms: number): void {
    this.timer = setTimeout(() => {
      this.running = this.pass()
        .catch((err: Error) => this.logger.warn(`Inbox retention pass failed: ${err.message}`))
        .finally(() => {
          this.running = null;
          if (!this.stopped) this.schedule(RETENTION_INTERVAL_MS);
        });
    }, ms);
    this.timer.unref();
  }
}
