import {
  Controller,
  HttpStatus,
  Inject,
  Logger,
  Post,
  Req,
  Res,
  SetMetadata,
  UseFilters,
  UseGuards,
  VERSION_NEUTRAL,
  type Type,
} from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import type { ResolvedWebhooksOptions } from '../interfaces/webhooks-options.interface.js';
import { WEBHOOKS_OPTIONS } from '../webhooks.constants.js';
import { InboxStore, type ClaimedRow } from './inbox.store.js';
import { InboundProcessor } from './inbound.processor.js';
import { hashId, type InboundSource, type ReadEvent } from './inbound.sources.js';
import type { WebhookHeaders } from './verifiers/verifier.utils.js';
import { inboundMessages } from './inbound.messages.js';
import type { WebhookContext } from '../interfaces/webhook-context.interface.js';
import { WebhookDispatcher } from './webhook.dispatcher.js';
import { UNSIGNED_REPLY, VERIFIED_WEBHOOK, WebhookGuard, type VerifiedWebhook } from './webhook.guard.js';
import { isWebhookReply, type WebhookReply } from './webhook-reply.js';
import { WebhookProblemFilter } from './webhook-problem.filter.js';
import { WebhookProblem } from './webhook.problem.js';
import { WEBHOOK_ROUTE } from './webhook-route.js';
import { InboxUnavailableError } from '../errors/inbox-unavailable.error.js';
import { InboxDataError } from '../errors/inbox-data.error.js';

/** Body of a 2xx answer. */
export interface WebhookReceipt {
  received: true;
  id: string;
  status: 'processed' | 'ignored' | 'duplicate' | 'queued';
}

const RETRY_AFTER_SECONDS = '5';

/**
 * The route `POST /<path>/:source`, as a fresh controller class for the configured path, the
 * same under any versioning the app enables. The guard has verified the call; the controller
 * reads it, claims its id in the inbox, then runs the handlers (sync mode) or queues them
 * (queue mode), and answers.
 */
export function createWebhooksController(path: string): Type<unknown> {
  // Version-neutral: the URL given to senders stays `/<path>/:source` when the app turns on
  // versioning (a version in the URL, if wanted, goes into `inbound.path`).
  @Controller({ path, version: VERSION_NEUTRAL })
  @SetMetadata(WEBHOOK_ROUTE, true)
  @UseGuards(WebhookGuard)
  @UseFilters(WebhookProblemFilter)
  class WebhooksController {
    private readonly logger = new Logger('WebhooksController');

    constructor(
      @Inject(WEBHOOKS_OPTIONS) private readonly options: ResolvedWebhooksOptions,
      private readonly inbox: InboxStore,
      private readonly dispatcher: WebhookDispatcher,
      private readonly processor: InboundProcessor,
      private readonly adapterHost: HttpAdapterHost,
    ) {}

    @Post(':source')
    async receive(
      @Req() req: { [VERIFIED_WEBHOOK]: VerifiedWebhook; [UNSIGNED_REPLY]?: WebhookReply },
      @Res() res: unknown,
    ): Promise<void> {
      const answer = req[UNSIGNED_REPLY] ?? (await this.handle(req[VERIFIED_WEBHOOK]));
      const adapter = this.adapterHost.httpAdapter;
      if (isWebhookReply(answer)) {
        adapter.setHeader(res, 'Content-Type', answer.contentType);
        return adapter.reply(res, answer.body, answer.status);
      }
      adapter.reply(res, answer, answer.status === 'queued' ? HttpStatus.ACCEPTED : HttpStatus.OK);
    }

    /** The receipt, or the reply of the scheme's handshake or of a handler. */
    private async handle(verified: VerifiedWebhook): Promise<WebhookReceipt | WebhookReply> {
      const { source, rawBody, headers, receivedAt } = verified;
      let event: ReadEvent;
      try {
        event = source.read(rawBody, headers);
      } catch (err) {
        return this.unreadable(source, rawBody, headers, err);
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
      const claim = await this.claim({
        source: source.name,
        eventId: id,
        type,
        rawBody: text ?? rawBody.toString('utf8'),
        headers: kept,
        status: ignored ? 'ignored' : 'received',
      });
      if (!claim) return { received: true, id, status: 'duplicate' };
      if (ignored) {
        this.logger.log(inboundMessages.ignored(source.name, type, id));
        return { received: true, id, status: 'ignored' };
      }
      if (queued) {
        await this.enqueue(claim);
        return { received: true, id, status: 'queued' };
      }
      const ctx: WebhookContext = { id, type, source: source.name, headers: kept, receivedAt, payload };
      const attempt = claim.attempts + 1;
      let reply: WebhookReply | undefined;
      try {
        reply = await this.dispatcher.dispatch(ctx, handlers);
      } catch (err) {
        await this.inbox.markFailed(claim.id, attempt, err).catch(() => undefined);
        throw new WebhookProblem('handler_failed', inboundMessages.handlerFailed());
      }
      // The handlers ran: a lost status write must not make the sender run them again.
      await this.inbox.markProcessed(claim.id, attempt).catch(() => undefined);
      return reply ?? { received: true, id, status: 'processed' };
    }

    /** An unreadable verified body is still kept (as `failed`) before its 400. */
    private async unreadable(
      source: InboundSource,
      rawBody: Buffer,
      headers: WebhookHeaders,
      err: unknown,
    ): Promise<never> {
      if (!(err instanceof WebhookProblem)) throw err;
      const entry = {
        source: source.name,
        eventId: hashId(rawBody),
        rawBody: rawBody.toString('utf8'),
        headers: source.keptHeaders(headers),
      };
      await this.inbox.recordUnreadable(entry, `${err.code}: ${err.body.detail}`).catch(() => undefined);
      throw err;
    }

    private async claim(entry: Parameters<InboxStore['claim']>[0]): Promise<ClaimedRow | null> {
      try {
        return await this.inbox.claim(entry);
      } catch (err) {
        // The database refused the values themselves: retrying the same call cannot help, so no 503.
        if (err instanceof InboxDataError) throw new WebhookProblem('unstorable_event', inboundMessages.unstorable());
        if (!(err instanceof InboxUnavailableError)) throw err;
        throw new WebhookProblem('inbox_unavailable', inboundMessages.inboxUnavailable(), {
          'Retry-After': RETRY_AFTER_SECONDS,
        });
      }
    }

    private async enqueue(claim: ClaimedRow): Promise<void> {
      try {
        await this.processor.enqueue(claim.id);
      } catch (err) {
        this.logger.error(`${inboundMessages.queueUnavailable()} ${err instanceof Error ? err.message : String(err)}`);
        await this.inbox.markFailed(claim.id, claim.attempts, err).catch(() => undefined);
        throw new WebhookProblem('inbox_unavailable', inboundMessages.queueUnavailable(), {
          'Retry-After': RETRY_AFTER_SECONDS,
        });
      }
    }
  }
  return WebhooksController;
}
