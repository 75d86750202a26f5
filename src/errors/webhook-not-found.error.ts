/**
 * Thrown when an endpoint, message or delivery id does not exist.
 * @publicApi
 */
export class WebhookNotFoundError extends Error {
  override readonly name = 'WebhookNotFoundError';
}
