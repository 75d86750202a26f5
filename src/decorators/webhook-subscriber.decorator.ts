import { applyDecorators, Injectable, SetMetadata } from '@nestjs/common';

/** Metadata key of {@link WebhookSubscriber}. */
export const WEBHOOK_SUBSCRIBER_METADATA = 'webhooks:entity-subscriber';

/**
 * Makes a TypeORM `EntitySubscriberInterface` a Nest provider that the module registers on the
 * DataSource once, after injection, and removes again at shutdown. Inject `WebhookService` and
 * call `send(…, { manager: event.manager })` from `afterInsert` / `afterUpdate`: the webhook
 * then commits or rolls back with the change.
 * @publicApi
 */
export function WebhookSubscriber(): ClassDecorator {
  return applyDecorators(Injectable(), SetMetadata(WEBHOOK_SUBSCRIBER_METADATA, true));
}
