import { Inject, Injectable, Logger } from '@nestjs/common';
import { matchesEventFilter } from '../utils/event-types.js';
import type { ResolvedWebhooksOptions } from '../interfaces/webhooks-options.interface.js';
import { WEBHOOKS_OPTIONS } from '../webhooks.constants.js';
import type { OnWebhookMetadata } from '../decorators/on-webhook.decorator.js';
import { inboundMessages } from './inbound.messages.js';
import type { WebhookContext, WebhookHandlerFn } from '../interfaces/webhook-context.interface.js';
import { isWebhookReply, type WebhookReply } from './webhook-reply.js';
import { WebhookHandlerError } from '../errors/webhook-handler.error.js';
import { WebhookTelemetry } from '../observability/webhook-telemetry.js';

/** One `@OnWebhook` method, with every rule its decorators gave it. */
export interface WebhookHandler {
  /** `ClassName.method`, for logs. */
  name: string;
  rules: OnWebhookMetadata[];
  invoke: WebhookHandlerFn;
}

const CACHE_LIMIT = 1000;

/** Holds the discovered handlers and runs the ones matching a verified event. */
@Injectable()
export class WebhookDispatcher {
  private readonly logger = new Logger(WebhookDispatcher.name);
  private readonly handlers: WebhookHandler[] = [];
  private readonly cache = new Map<string, WebhookHandler[]>();
  /** Handlers already warned that their replies are not sent in queue mode (once each). */
  private readonly unsentReplies = new Set<string>();

  constructor(
    @Inject(WEBHOOKS_OPTIONS) private readonly options: ResolvedWebhooksOptions,
    private readonly telemetry: WebhookTelemetry,
  ) {}

  /** Adds a handler (the explorer does, at boot). */
  register(handler: WebhookHandler): void {
    this.handlers.push(handler);
    this.cache.clear();
  }

  /** Every registered handler, in discovery order. */
  all(): readonly WebhookHandler[] {
    return this.handlers;
  }

  /** The handlers for one source and type: any rule of theirs matches both. */
  handlersFor(source: string, type: string): WebhookHandler[] {
    const key = `${source}\u0000${type}`;
    let found = this.cache.get(key);
    if (!found) {
      found = this.handlers.filter((h) =>
        h.rules.some(
          (r) => (r.source === undefined || r.source === source) && r.types.some((f) => matchesEventFilter(f, type)),
        ),
      );
      // Types come from verified senders, yet their number is theirs to choose: keep the cache bounded.
      if (this.cache.size >= CACHE_LIMIT) this.cache.clear();
      this.cache.set(key, found);
    }
    return found;
  }

  /**
   * Runs every matching handler, one after another, each even when an earlier one failed.
   * Throws a {@link WebhookHandlerError} if any failed, so the caller releases the claim.
   * Resolves to the first {@link WebhookReply} a handler returned, for the route to send.
   */
  async dispatch(
    ctx: WebhookContext,
    handlers = this.handlersFor(ctx.source, ctx.type),
  ): Promise<WebhookReply | undefined> {
    const data = dataOf(ctx.payload);
    const failures: { handler: string; error: unknown }[] = [];
    let reply: WebhookReply | undefined;
    for (const handler of handlers) {
      try {
        // A handler that throws before returning a promise is caught here all the same.
        const result = await this.telemetry.handler(ctx.source, ctx.type, handler.name, () =>
          handler.invoke(data, ctx),
        );
        if (isWebhookReply(result)) reply = this.firstReply(reply, result, handler.name);
      } catch (error) {
        this.logger.error(
          inboundMessages.handlerThrew(handler.name, ctx.source, ctx.type, ctx.id),
          error instanceof Error ? error.stack : String(error),
        );
        failures.push({ handler: handler.name, error });
      }
    }
    if (failures.length > 0) throw new WebhookHandlerError(failures);
    return reply;
  }

  /** One call has one answer: a second reply is dropped, and a queued call's sender has had its answer. */
  private firstReply(first: WebhookReply | undefined, reply: WebhookReply, handler: string): WebhookReply | undefined {
    if (this.options.inbound.mode === 'queue') {
      if (!this.unsentReplies.has(handler)) {
        this.logger.warn(
          inboundMessages.replyNotSent(handler, 'in queue mode the call was answered 202 before it ran'),
        );
      }
      this.unsentReplies.add(handler);
      return undefined;
    }
    if (first)
      this.logger.warn(inboundMessages.replyNotSent(handler, 'an earlier handler of the call replied already'));
    return first ?? reply;
  }
}

/** A handler's first argument: the payload's `data` when it has one (Standard Webhooks, Stripe, the seed), else the payload. */
function dataOf(payload: unknown): unknown {
  return payload !== null && typeof payload === 'object' && 'data' in payload
    ? (payload as { data: unknown }).data
    : payload;
}
