import type { Provider } from '@nestjs/common';
import { InboxStore } from './inbox.store.js';
import { InboundPipeline } from './inbound.pipeline.js';
import { InboundProcessor } from './inbound.processor.js';
import { InboundSources } from './inbound.sources.js';
import { ParseFailurePassthrough } from './parse-failure.passthrough.js';
import { WebhookDispatcher } from './webhook.dispatcher.js';
import { WebhookExplorer } from './webhook.explorer.js';
import { WebhookInbox } from './webhook-inbox.service.js';
import { WebhookGuard } from './webhook.guard.js';
import { WebhookMetadataAccessor } from './webhook-metadata.accessor.js';
import { WebhookProblemFilter } from './webhook-problem.filter.js';

export { createWebhooksController } from './webhooks.controller.js';
export { ParseFailurePassthrough } from './parse-failure.passthrough.js';

/** The receiving side's providers, for the module's `providers`. */
export const INBOUND_PROVIDERS: Provider[] = [
  InboundSources,
  InboxStore,
  WebhookDispatcher,
  WebhookMetadataAccessor,
  WebhookExplorer,
  WebhookGuard,
  WebhookProblemFilter,
  InboundProcessor,
  InboundPipeline,
  ParseFailurePassthrough,
  WebhookInbox,
];
