/**
 * Payload types by event type, filled in by the app through declaration merging:
 * ```ts
 * declare module 'nestjs-webhooks' {
 *   interface WebhookEventTypes {
 *     'order.completed': { id: string; total: number };
 *   }
 * }
 * ```
 * Then `send('order.completed', data)` checks `data`, and an `@OnWebhook('order.completed')`
 * method must accept that type as its first argument. Types not declared here stay untyped.
 * @publicApi
 */
// eslint-disable-next-line @typescript-eslint/no-empty-object-type
export interface WebhookEventTypes {}

/**
 * Type-level settings, also filled in by declaration merging: `{ strict: true }` makes an event
 * type missing from {@link WebhookEventTypes} a compile error in `send` and `@OnWebhook`
 * (the runtime counterpart is the `strictEventTypes` option).
 * @publicApi
 */
// eslint-disable-next-line @typescript-eslint/no-empty-object-type
export interface WebhookEventTypesConfig {}

type Declared = keyof WebhookEventTypes & string;

/**
 * An event type `send` accepts: a declared one, or (unless `strict`) any string.
 * @publicApi
 */
export type WebhookEventName = WebhookEventTypesConfig extends { strict: true } ? Declared : Declared | (string & {});

/**
 * The payload type of event type `K`: its declared type, or `any` for an undeclared one (and for
 * wildcards such as `order.*`), which `send` accepts and a handler may type as it likes.
 * @publicApi
 */
export type WebhookPayload<K extends string> = K extends Declared ? WebhookEventTypes[K] : any;
