/**
 * Thrown by `WebhookService` for bad input (type, payload, URL, headers); nothing was written.
 * @publicApi
 */
export class WebhookValidationError extends Error {
  override readonly name = 'WebhookValidationError';
  constructor(
    /** The argument or field at fault, such as `type` or `url`. */
    readonly field: string,
    message: string,
  ) {
    super(message);
  }
}
