/**
 * What a handler gets beside the data: who sent what, when, and the whole payload.
 * @publicApi
 */
export interface WebhookContext<P = any> {
  /** The event id the inbox deduplicates on (per source). */
  id: string;
  /** The event type, such as `invoice.paid` or `pull_request.opened`. */
  type: string;
  /** The source name, a key of `inbound.sources`. */
  source: string;
  /** The kept request headers (the scheme's own, `content-type`, `user-agent`), lower-cased. */
  headers: Record<string, string>;
  /** When the call was received (the first time, for a retried or queued one). */
  receivedAt: Date;
  /** The full parsed payload; the handler's first argument is its `data` part. */
  payload: P;
}

/**
 * Signature of an `@OnWebhook` method.
 * @publicApi
 */
export type WebhookHandlerFn<T = any, P = any> = (data: T, ctx: WebhookContext<P>) => unknown;
