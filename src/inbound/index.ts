/** Public surface of the receiving side (re-exported from the package root). */
export { OnWebhook, type OnWebhookMetadata, type OnWebhookOptions } from './decorators/on-webhook.decorator.js';
export type { WebhookContext, WebhookHandlerFn } from './webhook-context.interface.js';
export { isWebhookRoute, WEBHOOK_ROUTE } from './webhook-route.js';
export { PROBLEMS, WebhookProblem, type ProblemBody, type WebhookProblemCode } from './webhook.problem.js';
export {
  PRUNE_BATCH,
  WebhookInbox,
  WebhookInboxError,
  type InboxReplay,
  type ListInboxOptions,
  type WebhookInboxErrorCode,
} from './webhook-inbox.service.js';
export type { WebhookReceipt } from './webhooks.controller.js';
export { webhookReply, type WebhookReply, type WebhookReplyOptions } from './webhook-reply.js';
export {
  builtInVerifier,
  GitHubVerifier,
  HmacSha256Verifier,
  ShopifyVerifier,
  SlackVerifier,
  StandardWebhooksVerifier,
  StripeVerifier,
  type BuiltInVerifier,
  type HmacSha256Settings,
  type SigningInput,
} from './schemes/index.js';
export type { WebhookHeaders } from './schemes/scheme.utils.js';
export { constantTimeEqual } from '../signing/constant-time.js';
export type { VerifyFailure, VerifyInput, VerifyResult, WebhookVerifier } from '../interfaces/webhook-verifier.interface.js';
export type { BuiltInScheme, InboundSourceOptions } from '../interfaces/inbound-source.interface.js';
