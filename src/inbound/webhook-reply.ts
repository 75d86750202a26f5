import { shown } from '../utils/shown.js';

/** Brands a reply, so that only what {@link webhookReply} made becomes an HTTP answer. */
const REPLY = Symbol.for('nestjs-webhooks.reply');

const NOT_SERIALISABLE = 'webhookReply: the body must be a string or JSON-serialisable';

/**
 * Options of {@link webhookReply}.
 * @publicApi
 */
export interface WebhookReplyOptions {
  /** A 2xx status. @default 200 */
  status?: number;
  /** @default `text/plain; charset=utf-8` for a string body, `application/json; charset=utf-8` otherwise */
  contentType?: string;
}

/**
 * The HTTP answer a handler (or a scheme's handshake) gives a verified call, ready to send.
 * @publicApi
 */
export interface WebhookReply {
  readonly [REPLY]: true;
  readonly status: number;
  readonly contentType: string;
  /** The serialised body. */
  readonly body: string;
}

/**
 * The answer to send for this call, for providers that read the response body (Slack slash
 * commands and interactions, Twitch's and Zoom's endpoint challenges). Return it from an
 * `@OnWebhook` handler: in sync mode the first handler's reply is the answer instead of the
 * receipt. A string body is sent as text, anything else as JSON. Only 2xx statuses: an error
 * answer would make the sender retry a call whose handlers ran.
 * @example
 * ```ts
 * @OnWebhook('slash_command', { source: 'slack' })
 * deploy(data: { text: string }) {
 *   return webhookReply({ response_type: 'ephemeral', text: `Deploying ${data.text}` });
 * }
 * ```
 * @publicApi
 */
export function webhookReply(body: unknown, options: WebhookReplyOptions = {}): WebhookReply {
  if (options === null || typeof options !== 'object')
    throw new Error(`webhookReply: options must be an object such as { status: 202 } (got ${shown(options)}).`);
  const { status = 200, contentType } = options;
  if (!Number.isInteger(status) || status < 200 || status > 299) {
    throw new Error(
      `webhookReply: status must be a 2xx status (got ${shown(status)}); a handler that failed should throw.`,
    );
  }
  // A header value: no line breaks, which would let the body forge headers.
  if (contentType !== undefined && (typeof contentType !== 'string' || !/^[\x20-\x7e]+$/.test(contentType))) {
    throw new Error(`webhookReply: contentType must be a printable header value (got ${shown(contentType)}).`);
  }
  if (typeof body === 'string') {
    return { [REPLY]: true, status, contentType: contentType ?? 'text/plain; charset=utf-8', body };
  }
  let json: string | undefined;
  try {
    json = JSON.stringify(body);
  } catch (err) {
    throw new Error(`${NOT_SERIALISABLE} (${err instanceof Error ? err.message : String(err)}).`, { cause: err });
  }
  if (json === undefined) throw new Error(`${NOT_SERIALISABLE} (got undefined or a function).`);
  return { [REPLY]: true, status, contentType: contentType ?? 'application/json; charset=utf-8', body: json };
}

/** True for what {@link webhookReply} returned (by any copy of the package). */
export function isWebhookReply(value: unknown): value is WebhookReply {
  return value !== null && typeof value === 'object' && (value as { [REPLY]?: unknown })[REPLY] === true;
}
