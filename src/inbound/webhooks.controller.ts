import {
  Controller,
  HttpStatus,
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
import { WebhookTelemetry } from '../observability/webhook-telemetry.js';
import { InboundPipeline } from './inbound.pipeline.js';
import { UNSIGNED_REPLY, VERIFIED_WEBHOOK, WebhookGuard, type VerifiedWebhook } from './webhook.guard.js';
import { isWebhookReply, type WebhookReply } from './webhook-reply.js';
import { WebhookProblemFilter } from './webhook-problem.filter.js';
import { WEBHOOK_ROUTE } from './webhook-route.js';

export type { WebhookReceipt } from './inbound.pipeline.js';

/**
 * The route `POST /<path>/:source`, as a fresh controller class for the configured path, the
 * same under any versioning the app enables. The guard has verified the call; the
 * {@link InboundPipeline} receives it, and the controller writes its answer through the adapter.
 */
export function createWebhooksController(path: string): Type<unknown> {
  // Version-neutral: the URL given to senders stays `/<path>/:source` when the app turns on
  // versioning (a version in the URL, if wanted, goes into `inbound.path`).
  @Controller({ path, version: VERSION_NEUTRAL })
  @SetMetadata(WEBHOOK_ROUTE, true)
  @UseGuards(WebhookGuard)
  @UseFilters(WebhookProblemFilter)
  class WebhooksController {
    constructor(
      private readonly pipeline: InboundPipeline,
      private readonly adapterHost: HttpAdapterHost,
      private readonly telemetry: WebhookTelemetry,
    ) {}

    @Post(':source')
    async receive(
      @Req() req: { [VERIFIED_WEBHOOK]: VerifiedWebhook; [UNSIGNED_REPLY]?: WebhookReply },
      @Res() res: unknown,
    ): Promise<void> {
      const verified = req[VERIFIED_WEBHOOK];
      const answer =
        req[UNSIGNED_REPLY] ?? (await this.telemetry.within(verified.trace, () => this.pipeline.receive(verified)));
      const adapter = this.adapterHost.httpAdapter;
      if (isWebhookReply(answer)) {
        adapter.setHeader(res, 'Content-Type', answer.contentType);
        return adapter.reply(res, answer.body, answer.status);
      }
      adapter.reply(res, answer, answer.status === 'queued' ? HttpStatus.ACCEPTED : HttpStatus.OK);
    }
  }
  return WebhooksController;
}
