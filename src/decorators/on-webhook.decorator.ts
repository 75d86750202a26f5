import { didYouMean, unknownKey } from '../utils/known-keys.js';
import { shown } from '../utils/shown.js';
import { ON_WEBHOOK_METADATA } from '../webhooks.constants.js';
import type { WebhookEventName, WebhookPayload } from '../interfaces/event-types.interface.js';
import type { WebhookHandlerFn } from '../interfaces/webhook-context.interface.js';

/**
 * Options of {@link OnWebhook}.
 * @publicApi
 */
export interface OnWebhookOptions {
  /** Only calls from this source (a key of `inbound.sources`). @default every source */
  source?: string;
}

/** What one `@OnWebhook` stores; a method carries an array of them. */
export interface OnWebhookMetadata {
  types: string[];
  source?: string;
}

/**
 * Runs the decorated method for verified webhooks of these types: exact names, `prefix.*` or
 * `*`. It receives `(data, ctx)`: the payload's `data` (or the whole payload when it has none)
 * and a {@link WebhookContext}. May stand several times on one method; the method still runs
 * once per event. With types declared in {@link WebhookEventTypes}, the method's first parameter
 * must accept their payload type.
 * @example
 * ```ts
 * @OnWebhook('invoice.paid', { source: 'stripe' })
 * paid(data: Stripe.Invoice, ctx: WebhookContext) { ... }
 * ```
 * @publicApi
 */
export function OnWebhook<K extends WebhookEventName>(
  type: K | K[],
  options: OnWebhookOptions = {},
): <T extends WebhookHandlerFn<WebhookPayload<K>>>(
  target: object,
  key: string | symbol,
  descriptor: TypedPropertyDescriptor<T>,
) => TypedPropertyDescriptor<T> {
  // A misspelt `source` would make the handler run for every source: refused where it is written.
  const at = `@OnWebhook(${shown(type)})`;
  if (options === null || typeof options !== 'object') {
    throw new Error(
      `${at}: the second argument is an options object such as { source: "stripe" } (got ${shown(options)}).`,
    );
  }
  const unknown = unknownKey(options, ['source']);
  if (unknown)
    throw new Error(`${at}: unknown option "${unknown.key}"${didYouMean(unknown.suggestion)}; it takes { source? }.`);
  if (options.source !== undefined && (typeof options.source !== 'string' || options.source === '')) {
    throw new Error(`${at}: "source" must be the name of an inbound source (got ${shown(options.source)}).`);
  }
  return (_target, _key, descriptor) => {
    const method = descriptor.value as object;
    const previous: OnWebhookMetadata[] = Reflect.getMetadata(ON_WEBHOOK_METADATA, method) ?? [];
    const entry: OnWebhookMetadata = { types: Array.isArray(type) ? [...type] : [type], source: options.source };
    Reflect.defineMetadata(ON_WEBHOOK_METADATA, [...previous, entry], method);
    return descriptor;
  };
}
