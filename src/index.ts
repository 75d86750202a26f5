// What apps import. Each name is marked `@publicApi` where it is defined; anything else is internal
// and may change without notice. The test kit is `nestjs-webhooks/testing`.

// Module and options
export { WebhooksModule } from './webhooks.module.js';
export type { WebhooksModuleExtras } from './webhooks.module-definition.js';
export { DEFAULT_SCHEDULE } from './webhooks.options.js';
export type {
  InboundOptions,
  NetworkPolicyOptions,
  OutboundOptions,
  WebhooksModuleOptions,
  WebhooksRole,
} from './interfaces/webhooks-options.interface.js';
export type { BuiltInScheme, InboundSourceOptions } from './interfaces/inbound-source.interface.js';
export { WebhooksConfigError } from './errors/webhooks-config.error.js';
export type { EventTypeDefinition, PortalOptions, PortalThemeOptions } from './interfaces/portal-options.interface.js';

// Sending
export type {
  WebhookEventName,
  WebhookEventTypes,
  WebhookEventTypesConfig,
  WebhookPayload,
} from './interfaces/event-types.interface.js';
export { WebhookService } from './outbound/webhook.service.js';
export type * from './interfaces/webhook-service.interface.js';
export { WebhookValidationError } from './errors/webhook-validation.error.js';
export { WebhookNotFoundError } from './errors/webhook-not-found.error.js';
export { WebhookEvents, type WebhookEventMap } from './webhook.events.js';
export { WebhookSubscriber } from './decorators/webhook-subscriber.decorator.js';
export { EmitsWebhook, type EmitsWebhookOptions, type EntityChange } from './decorators/emits-webhook.decorator.js';
export { generateSecret, signStandard, verifyStandardSignature } from './signing/standard-webhooks.js';

// Receiving
export { OnWebhook, type OnWebhookOptions } from './decorators/on-webhook.decorator.js';
export type { WebhookContext, WebhookHandlerFn } from './interfaces/webhook-context.interface.js';
export { webhookReply, type WebhookReply, type WebhookReplyOptions } from './inbound/webhook-reply.js';
export { WebhookInbox, type InboxReplay, type ListInboxOptions } from './inbound/webhook-inbox.service.js';
export { WebhookInboxError, type WebhookInboxErrorCode } from './errors/webhook-inbox.error.js';
export { isWebhookRoute } from './inbound/webhook-route.js';
export type { WebhookProblemCode } from './inbound/webhook.problem.js';
export type {
  VerifyFailure,
  VerifyInput,
  VerifyResult,
  WebhookVerifier,
} from './interfaces/webhook-verifier.interface.js';
export { constantTimeEqual } from './signing/constant-time.js';

// Customer portal
export { PortalService } from './portal/portal.service.js';
export type { CreatePortalSessionInput, PortalActor, PortalSessionLink } from './interfaces/portal.interface.js';
export type { PortalProblemCode } from './portal/portal.problem.js';
export type { PortalAction } from './webhook.events.js';

// Tables
export * from './database/entities/index.js';
export type { AttemptErrorClass } from './database/entities/webhook-attempt.entity.js';
export type { DeliveryStatus } from './database/entities/webhook-delivery.entity.js';
export type { InboxStatus } from './database/entities/webhook-inbox.entity.js';
export type { PortalScope } from './database/entities/webhook-portal-session.entity.js';
export { WEBHOOK_MIGRATIONS } from './database/migrations/index.js';
