import { WebhookAttempt } from './webhook-attempt.entity.js';
import { WebhookDelivery } from './webhook-delivery.entity.js';
import { WebhookEndpoint } from './webhook-endpoint.entity.js';
import { WebhookInboxEntry } from './webhook-inbox.entity.js';
import { WebhookMessage } from './webhook-message.entity.js';
import { WebhookPortalSession } from './webhook-portal-session.entity.js';

export { WebhookAttempt, WebhookDelivery, WebhookEndpoint, WebhookInboxEntry, WebhookMessage, WebhookPortalSession };

/**
 * Every entity of the module, for `TypeOrmModule.forFeature` or a DataSource's `entities`.
 * @publicApi
 */
export const WEBHOOK_ENTITIES = [
  WebhookEndpoint,
  WebhookMessage,
  WebhookDelivery,
  WebhookAttempt,
  WebhookInboxEntry,
  WebhookPortalSession,
];
