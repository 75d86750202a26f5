/**
 * Why a replay was refused.
 * @publicApi
 */
export type WebhookInboxErrorCode = 'not_found' | 'not_replayable';

/**
 * A replay the inbox refused: no such row, or a row that must not run again now.
 * @publicApi
 */
export class WebhookInboxError extends Error {
  override readonly name = 'WebhookInboxError';
  constructor(
    readonly code: WebhookInboxErrorCode,
    message: string,
  ) {
    super(message);
  }
}
