import { applyDecorators, Injectable, SetMetadata } from '@nestjs/common';
import { WEBHOOK_SUBSCRIBER_METADATA } from '../webhooks.constants.js';

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
