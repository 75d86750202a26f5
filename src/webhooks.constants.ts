/** Injection token of the fully-resolved {@link ResolvedWebhooksOptions}. */
export const WEBHOOKS_OPTIONS = Symbol('WEBHOOKS_OPTIONS');

/**
 * Injection token of the path the webhooks controller is mounted at (`inbound.path`, or
 * `inboundPath` with `forRootAsync`), as given.
 */
export const WEBHOOKS_ROUTE_PATH = Symbol('WEBHOOKS_ROUTE_PATH');

/** Name of the Bull queue that carries outbound deliveries and queued inbound calls. */
export const WEBHOOKS_QUEUE = 'webhooks';

/** Bull job names on {@link WEBHOOKS_QUEUE}. */
export const DELIVERY_JOB = 'deliver';
export const INBOUND_JOB = 'inbound';

/** Name of the custom Bull backoff strategy; the processor computes each delay itself. */
export const WEBHOOKS_BACKOFF = 'webhooks-schedule';

/** Metadata key written by `@OnWebhook`: an array, as the decorator may stand twice on one method. */
export const ON_WEBHOOK_METADATA = 'webhooks:on-webhook';

/** Metadata key written by `@EmitsWebhook` on an entity class: an array of its rules. */
export const EMITS_WEBHOOK_METADATA = Symbol('webhooks:emits-webhook');

/** Metadata key written by `@WebhookSubscriber`. */
export const WEBHOOK_SUBSCRIBER_METADATA = 'webhooks:entity-subscriber';

/** Headers the module sets on every outbound request; endpoints may not override them. */
export const RESERVED_HEADERS = [
  'webhook-id',
  'webhook-timestamp',
  'webhook-signature',
  'content-type',
  'content-length',
  'user-agent',
  'host',
  'connection',
  'transfer-encoding',
] as const;

/** Longest portal session lifetime, `portal.sessionTtlMs` or `expiresIn`: 100 years (a `null` session never expires). */
export const MAX_SESSION_TTL_MS = 100 * 365 * 86_400_000;
