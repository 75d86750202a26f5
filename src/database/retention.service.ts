import {
  Inject,
  Injectable,
  Logger,
  type BeforeApplicationShutdown,
  type OnApplicationBootstrap,
} from '@nestjs/common';
import { WebhookInbox } from '../inbound/webhook-inbox.service.js';
import type { ResolvedWebhooksOptions } from '../interfaces/webhooks-options.interface.js';
import { settleWithin, SHUTDOWN_MARGIN_MS } from '../utils/shutdown.js';
import { WebhookService } from '../outbound/webhook.service.js';
import { WEBHOOKS_OPTIONS } from '../webhooks.constants.js';

/** How often the retention pass runs. */
export const RETENTION_INTERVAL_MS = 24 * 60 * 60_000;
/** The first pass after boot: late enough to stay out of the way of startup. */
export const RETENTION_FIRST_PASS_MS = 60_000;

/** What one retention pass deleted. */
export interface RetentionPass {
  /** Fully delivered messages (with their deliveries and attempts); null when `outbound.retentionMs` is 0. */
  messages: number | null;
  /** `processed` / `ignored` inbox rows; null when `inbound.retentionMs` is 0 or nothing is received. */
  inbox: number | null;
}

/**
 * `outbound.retentionMs` and `inbound.retentionMs`: deletes what is past each window (the log of
 * fully delivered messages; processed and ignored inbox rows), a minute after boot and then
 * daily, in every process (passes of several processes at once only delete the same rows).
 */
@Injectable()
export class RetentionService implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger(RetentionService.name);
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<unknown> | null = null;
  private stopped = false;
  private readonly abort = new AbortController();

  constructor(
    @Inject(WEBHOOKS_OPTIONS) private readonly options: ResolvedWebhooksOptions,
    private readonly webhooks: WebhookService,
    private readonly inbox: WebhookInbox,
  ) {}

  onApplicationBootstrap(): void {
    if (this.outboundWindow() === null && this.inboundWindow() === null) return;
    this.schedule(RETENTION_FIRST_PASS_MS);
  }

  /** One pass now: deletes what is past each window and says how much went. */
  async pass(now = Date.now()): Promise<RetentionPass> {
    const signal = this.abort.signal;
    const outbound = this.outboundWindow();
    const inbound = this.inboundWindow();
    const messages = outbound === null ? null : await this.webhooks.prune(new Date(now - outbound), { signal });
    const inbox = inbound === null ? null : await this.inbox.prune(new Date(now - inbound), { signal });
    if (messages) this.logger.log(`Deleted the log of ${messages} delivered messages older than ${outbound} ms.`);
    if (inbox) this.logger.log(`Deleted ${inbox} processed or ignored inbox rows older than ${inbound} ms.`);
    return { messages, inbox };
  }

  async beforeApplicationShutdown(): Promise<void> {
    this.stopped = true;
    this.abort.abort();
    if (this.timer) clearTimeout(this.timer);
    // A pass is a few short transactions; a database that hangs must not hold shutdown.
    if (this.running) await settleWithin(this.running, SHUTDOWN_MARGIN_MS);
  }

  private outboundWindow(): number | null {
    return this.options.outbound.retentionMs || null;
  }

  private inboundWindow(): number | null {
    const { retentionMs, sources } = this.options.inbound;
    return retentionMs > 0 && Object.keys(sources).length > 0 ? retentionMs : null;
  }

  private schedule(ms: number): void {
    this.timer = setTimeout(() => {
      this.running = this.pass()
        .catch((err: Error) => this.logger.warn(`Retention pass failed: ${err.message}`))
        .finally(() => {
          this.running = null;
          if (!this.stopped) this.schedule(RETENTION_INTERVAL_MS);
        });
    }, ms);
    this.timer.unref();
  }
}
