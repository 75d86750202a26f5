import {
  Inject,
  Injectable,
  Logger,
  type BeforeApplicationShutdown,
  type OnApplicationBootstrap,
} from '@nestjs/common';
import { WebhookInbox } from '../inbound/webhook-inbox.service.js';
import type { ResolvedWebhooksOptions } from '../interfaces/webhooks-options.interface.js';
import { IntervalLoop } from '../utils/interval-loop.js';
import { SHUTDOWN_MARGIN_MS } from '../utils/settle.js';
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
  private readonly loop = new IntervalLoop(
    () => this.pass(),
    // Unref'd: a daily pass must not keep the process alive.
    { name: 'Retention pass', firstDelayMs: RETENTION_FIRST_PASS_MS, intervalMs: RETENTION_INTERVAL_MS, unref: true },
    this.logger,
  );
  private readonly abort = new AbortController();

  constructor(
    @Inject(WEBHOOKS_OPTIONS) private readonly options: ResolvedWebhooksOptions,
    private readonly webhooks: WebhookService,
    private readonly inbox: WebhookInbox,
  ) {}

  onApplicationBootstrap(): void {
    if (this.outboundWindow() === null && this.inboundWindow() === null) return;
    this.loop.start();
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
    this.abort.abort();
    // A pass is a few short transactions; a database that hangs must not hold shutdown.
    await this.loop.stop(SHUTDOWN_MARGIN_MS);
  }

  private outboundWindow(): number | null {
    return this.options.outbound.retentionMs || null;
  }

  private inboundWindow(): number | null {
    const { retentionMs, sources } = this.options.inbound;
    return retentionMs > 0 && Object.keys(sources).length > 0 ? retentionMs : null;
  }
}
