import { type BeforeApplicationShutdown, Inject, Injectable, Logger } from '@nestjs/common';
import type { WebhookInboxEntry } from '../database/entities/webhook-inbox.entity.js';
import { InboxDataError } from '../errors/inbox-data.error.js';
import { InboxUnavailableError } from '../errors/inbox-unavailable.error.js';
import type { WebhookContext } from '../interfaces/webhook-context.interface.js';
import type { ResolvedWebhooksOptions } from '../interfaces/webhooks-options.interface.js';
import { SHUTDOWN_MARGIN_MS } from '../utils/settle.js';
import { WriteRetrier } from '../utils/write-retry.js';
import { WEBHOOKS_OPTIONS } from '../webhooks.constants.js';
import { InboxStore, type ClaimedRow } from './inbox.store.js';
import { inboundMessages } from './inbound.messages.js';
import { InboundProcessor } from './inbound.processor.js';
import { hashId, InboundSources, type InboundSource, type ReadEvent } from './inbound.sources.js';
import type { WebhookHeaders } from './verifiers/verifier.utils.js';
import { WebhookDispatcher, type WebhookHandler } from './webhook.dispatcher.js';
import type { VerifiedWebhook } from './webhook.guard.js';
import type { WebhookReply } from './webhook-reply.js';
import { WebhookProblem } from './webhook.problem.js';

/** Body of a 2xx answer. */
export interface WebhookReceipt {
  received: true;
  id: string;
  status: 'processed' | 'ignored' | 'duplicate' | 'queued';
}

/** What one run of a claimed row's handlers came to (`reply`: the first a handler returned). */
export type RowRun =
  | { status: 'processed' | 'ignored'; attempts: number; reply?: WebhookReply }
  | { status: 'failed' | 'received'; attempts: number; error: unknown; retryable: boolean };

/** How {@link InboundPipeline.run} records a run. */
export interface RunOptions {
  /** Status of a row whose handler threw: `received` leaves it to a queue that retries by itself. */
  failedStatus?: 'failed' | 'received';
  /**
   * A call whose sender waits: the handlers ran, so a lost status write must not turn the answer
   * into an error that makes the sender run them again.
   */
  answering?: boolean;
}

const RETRY_AFTER_SECONDS = '5';
/** Outcome writes worth another try: all but those the database refuses for their data. */
const retryable = (err: unknown) => !(err instanceof InboxDataError);

/**
 * The receive path as one story, told the same way for an HTTP call, a queued job and a replay:
 * read the verified call, answer a handshake, claim its id in the inbox, then run its handlers
 * (recording the outcome) or queue them, and answer.
 */
@Injectable()
export class InboundPipeline implements BeforeApplicationShutdown {
  // Log lines name the part an operator knows: the route for a call, the worker for a stored row.
  private readonly logger = new Logger('WebhooksController');
  private readonly workerLogger = new Logger(InboundProcessor.name);
  private readonly outcomes = new WriteRetrier(this.logger);

  constructor(
    @Inject(WEBHOOKS_OPTIONS) private readonly options: ResolvedWebhooksOptions,
    private readonly inbox: InboxStore,
    private readonly sources: InboundSources,
    private readonly dispatcher: WebhookDispatcher,
    private readonly processor: InboundProcessor,
  ) {
    // The worker runs its jobs through this pipeline; handed over here, the worker needs no import of it.
    processor.runRowsWith((row, failedStatus) => this.runStored(row, failedStatus));
  }

  /** A verified HTTP call: the receipt, or the reply of the scheme's handshake or of a handler. */
  async receive(verified: VerifiedWebhook): Promise<WebhookReceipt | WebhookReply> {
    const { source, rawBody, headers, receivedAt } = verified;
    let event: ReadEvent;
    try {
      event = source.read(rawBody, headers);
    } catch (err) {
      throw await this.unreadable(err, source, rawBody, headers);
    }
    const { id, type, payload, text } = event;
    const handshake = source.handshake?.(payload, headers);
    if (handshake) {
      this.logger.log(inboundMessages.handshake(source.name, type));
      return handshake;
    }
    const queued = this.options.inbound.mode === 'queue';
    // In queue mode the worker decides; this process may not even hold the handlers.
    const handlers = queued ? [] : this.dispatcher.handlersFor(source.name, type);
    const ignored = !queued && handlers.length === 0;
    const kept = source.keptHeaders(headers);
    const rawText = text ?? rawBody.toString('utf8');
    const status = ignored ? 'ignored' : 'received';
    let claim: ClaimedRow | null;
    try {
      claim = await this.inbox.claim({
        source: source.name,
        eventId: id,
        type,
        rawBody: rawText,
        headers: kept,
        status,
      });
    } catch (err) {
      throw claimProblem(err);
    }
    if (!claim) return { received: true, id, status: 'duplicate' };
    if (ignored) {
      this.logger.log(inboundMessages.ignored(source.name, type, id));
      return { received: true, id, status: 'ignored' };
    }
    if (queued) return this.queueAnswered(claim, id);
    const ctx: WebhookContext = { id, type, source: source.name, headers: kept, receivedAt, payload };
    const run = await this.run(claim, ctx, handlers, { answering: true });
    if ('error' in run) throw new WebhookProblem('handler_failed', inboundMessages.handlerFailed());
    return run.reply ?? { received: true, id, status: 'processed' };
  }

  /**
   * A stored row whose claim is taken (a queued job, a replay): runs its handlers from the raw body
   * and records the outcome, as {@link run} does.
   */
  async runStored(row: WebhookInboxEntry, failedStatus: 'failed' | 'received' = 'failed'): Promise<RowRun> {
    const source = this.sources.get(row.source);
    if (!source) {
      const attempts = row.attempts + 1;
      const error = new Error(`source "${row.source}" is no longer configured`);
      await this.inbox.markFailed(row.id, attempts, error);
      return { status: 'failed', attempts, error, retryable: false };
    }
    const headers = row.headers ?? {};
    const { eventId: id, type } = row;
    const payload = source.parse(Buffer.from(row.rawBody, 'utf8'), headers);
    const handlers = this.dispatcher.handlersFor(source.name, type);
    const ctx: WebhookContext = { id, type, source: source.name, headers, receivedAt: row.receivedAt, payload };
    return this.run(row, ctx, handlers, { failedStatus });
  }

  /**
   * Runs the handlers of a claimed row and records the outcome in it: `processed` (or `ignored`
   * when none matches), or, when a handler threw, `failedStatus` with the error.
   */
  async run(
    row: ClaimedRow,
    ctx: WebhookContext,
    handlers: WebhookHandler[],
    { failedStatus = 'failed', answering = false }: RunOptions = {},
  ): Promise<RowRun> {
    const attempts = row.attempts + 1;
    let reply: WebhookReply | undefined;
    try {
      reply = await this.dispatcher.dispatch(ctx, handlers);
    } catch (error) {
      await this.record(row.id, () => this.inbox.markFailed(row.id, attempts, error, failedStatus), answering);
      return { status: failedStatus, attempts, error, retryable: true };
    }
    if (handlers.length === 0) this.workerLogger.log(inboundMessages.ignored(ctx.source, ctx.type, ctx.id));
    const status = handlers.length === 0 ? 'ignored' : 'processed';
    await this.record(row.id, () => this.inbox.markProcessed(row.id, attempts, status), answering);
    return { status, attempts, reply };
  }

  /** Gives outcome writes still retrying the shutdown margin, then leaves their rows `received`. */
  async beforeApplicationShutdown(): Promise<void> {
    await this.outcomes.stop(SHUTDOWN_MARGIN_MS);
  }

  /**
   * Records a run's outcome. The handlers have run: a write that failed back to Bull would run
   * them again, so a failed write is retried until it goes through or the app stops. A sender
   * waiting for its answer gets it after the first try; the retries go on without it.
   */
  private record(id: string, write: () => Promise<unknown>, answering: boolean): Promise<unknown> {
    if (!answering) return this.retried(id, write);
    return write().catch((err: unknown) => {
      if (!retryable(err)) return;
      this.retried(id, write).catch((e: Error) => this.logger.error(inboundMessages.outcomeNotRecorded(id, e.message)));
    });
  }

  /** `write` through the retrier (built only when needed: the answering path rarely needs it). */
  private retried(id: string, write: () => Promise<unknown>): Promise<unknown> {
    const what = `the outcome of inbox row ${id}`;
    return this.outcomes.write({ run: write, what, notRepeated: 'the handlers', retryable });
  }

  /** Queues a claimed row; when Redis does not take it, releases the row as `failed` and rejects. */
  async queueOrFail(claim: ClaimedRow): Promise<void> {
    try {
      await this.processor.enqueue(claim.id);
    } catch (err) {
      await this.inbox.markFailed(claim.id, claim.attempts, err).catch(() => undefined);
      throw err;
    }
  }

  /** Queue mode over HTTP: 202 once Redis holds the job, else a 503 the sender retries. */
  private async queueAnswered(claim: ClaimedRow, id: string): Promise<WebhookReceipt> {
    try {
      await this.queueOrFail(claim);
    } catch (err) {
      this.logger.error(`${inboundMessages.queueUnavailable()} ${err instanceof Error ? err.message : String(err)}`);
      throw new WebhookProblem('inbox_unavailable', inboundMessages.queueUnavailable(), {
        'Retry-After': RETRY_AFTER_SECONDS,
      });
    }
    return { received: true, id, status: 'queued' };
  }

  /** A body the scheme could not read is still kept (as `failed`) before its 400; resolves to the error to throw. */
  private async unreadable(
    err: unknown,
    source: InboundSource,
    rawBody: Buffer,
    headers: WebhookHeaders,
  ): Promise<unknown> {
    // A failed verifier is the app's fault, not the call's: nothing kept, the sender's retry is read anew.
    if (!(err instanceof WebhookProblem) || err.code === 'verifier_failed') return err;
    const entry = {
      source: source.name,
      eventId: hashId(rawBody),
      rawBody: rawBody.toString('utf8'),
      headers: source.keptHeaders(headers),
    };
    await this.inbox.recordUnreadable(entry, `${err.code}: ${err.body.detail}`).catch(() => undefined);
    return err;
  }
}

/** The answer to a claim the inbox could not make. */
function claimProblem(err: unknown): unknown {
  // The database refused the values themselves: retrying the same call cannot help, so no 503.
  if (err instanceof InboxDataError) return new WebhookProblem('unstorable_event', inboundMessages.unstorable());
  if (!(err instanceof InboxUnavailableError)) return err;
  return new WebhookProblem('inbox_unavailable', inboundMessages.inboxUnavailable(), {
    'Retry-After': RETRY_AFTER_SECONDS,
  });
}
