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
 * `save` / `remove` / `softRemove`, inside the same transaction. May stand several times.
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

/** The declarations on an entity class (its own and inherited) for one kind of change. */
export function declaredWebhooks(target: Function, change: EntityChange): EmitsWebhookOptions[] {
  const all: EmitsWebhookOptions[] = Reflect.getMetadata(EMITS_WEBHOOK_METADATA, target) ?? [];
  return all.filter((d) => (d.on as EntityChange[]).includes(change));
}
