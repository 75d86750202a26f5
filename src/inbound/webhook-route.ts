import type { ExecutionContext } from '@nestjs/common';

/**
 * Metadata key set on the webhooks controller. An app's global guard (auth, throttling) can
 * read it to let webhook calls through: they carry a signature, not a session or token.
 */
export const WEBHOOK_ROUTE = 'webhooks:route';

/**
 * True when `context` is a call to the webhooks controller. In a global guard:
 * `if (isWebhookRoute(context)) return true;` before the app's own checks.
 * @publicApi
 */
export function isWebhookRoute(context: ExecutionContext): boolean {
  return Reflect.getMetadata(WEBHOOK_ROUTE, context.getClass()) === true;
}
