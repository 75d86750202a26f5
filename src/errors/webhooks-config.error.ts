/**
 * Thrown at boot when the module options are invalid; the message names the option.
 * @publicApi
 */
export class WebhooksConfigError extends Error {
  override readonly name = 'WebhooksConfigError';
}
