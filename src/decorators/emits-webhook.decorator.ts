import { isValidEventType } from '../utils/event-types.js';
import { didYouMean, unknownKey } from '../utils/known-keys.js';
import { shown } from '../utils/shown.js';
import { EMITS_WEBHOOK_METADATA } from '../webhooks.constants.js';
import { messages } from '../webhooks.messages.js';

/**
 * Entity changes that can emit a webhook.
 * @publicApi
 */
export type EntityChange = 'insert' | 'update' | 'remove' | 'softRemove';

/**
 * One declarative webhook of an entity class.
 * @publicApi
 */
export interface EmitsWebhookOptions<E = any> {
  /** The change(s) that emit. */
  on: EntityChange | EntityChange[];
  /** Event type, such as `order.completed`. */
  type: string;
  /**
   * Emit only when this returns true. `previous` is the row as it was before an update or
   * removal (undefined on insert), so a condition can fire on a transition only.
   * @default always
   */
  when?: (entity: E, previous: E | undefined) => boolean;
  /** The webhook's `data`. @default the entity's own columns */
  data?: (entity: E, previous: E | undefined) => unknown;
  /** Tenant of the message. @default none */
  customerId?: (entity: E) => string | null | undefined;
}

const OPTION_KEYS = [
  'on',
  'type',
  'when',
  'data',
  'customerId',
] as const satisfies readonly (keyof EmitsWebhookOptions)[];
const FUNCTION_KEYS = ['when', 'data', 'customerId'] as const;

/**
 * Declares a webhook emitted when an entity is inserted, updated or removed through
 * `save` / `remove` / `softRemove`, inside the same transaction. May stand several times, and
 * on a base class (abstract or an entity): a subclass emits its bases' declarations and its own.
 * @example
 * ```ts
 * @EmitsWebhook<Order>({ on: 'update', type: 'order.completed',
 *   when: (o, prev) => o.status === 'completed' && prev?.status !== 'completed' })
 * ```
 * @publicApi
 */
export function EmitsWebhook<E = any>(options: EmitsWebhookOptions<E>): ClassDecorator {
  // Checked where it is written, so a typo fails at import, long before an event is lost.
  if (options === null || typeof options !== 'object')
    throw new Error('@EmitsWebhook takes an options object: { on, type, when?, data?, customerId? }.');
  if (!isValidEventType(options.type)) throw new Error(`@EmitsWebhook: ${messages.invalidEventType(options.type)}`);
  const unknown = unknownKey(options, OPTION_KEYS);
  if (unknown) {
    throw new Error(
      `@EmitsWebhook(${options.type}): unknown option "${unknown.key}"${didYouMean(unknown.suggestion)}; it takes ${OPTION_KEYS.join(', ')}.`,
    );
  }
  for (const key of FUNCTION_KEYS) {
    if (options[key] !== undefined && typeof options[key] !== 'function') {
      throw new Error(
        `@EmitsWebhook(${options.type}): "${key}" must be a function of the entity (got ${typeof options[key]}).`,
      );
    }
  }
  const on = Array.isArray(options.on) ? options.on : [options.on];
  for (const change of on) {
    if (!['insert', 'update', 'remove', 'softRemove'].includes(change)) {
      throw new Error(
        `@EmitsWebhook(${options.type}): "on" must be insert, update, remove or softRemove (got ${shown(change)}).`,
      );
    }
  }
  return (target) => {
    const own: EmitsWebhookOptions[] = Reflect.getOwnMetadata(EMITS_WEBHOOK_METADATA, target) ?? [];
    Reflect.defineMetadata(EMITS_WEBHOOK_METADATA, [...own, { ...options, on }], target);
  };
}

/**
 * The declarations on an entity class for one kind of change: those of each class up its
 * prototype chain, the furthest ancestor's first. Each class's own list is read with
 * getOwnMetadata: getMetadata stops at the first class that has any, so a subclass declaring
 * its own webhooks would lose those of its base. The same declaration on a base and on a
 * subclass is two declarations: both emit.
 */
export function declaredWebhooks(target: Function, change: EntityChange): EmitsWebhookOptions[] {
  const chain: EmitsWebhookOptions[][] = [];
  for (let c: unknown = target; typeof c === 'function' && c !== Function.prototype; c = Object.getPrototypeOf(c)) {
    const own: EmitsWebhookOptions[] | undefined = Reflect.getOwnMetadata(EMITS_WEBHOOK_METADATA, c);
    if (own) chain.unshift(own);
  }
  return chain.flat().filter((d) => (d.on as EntityChange[]).includes(change));
}
