import { Injectable, Logger } from '@nestjs/common';
import type {
  EntityManager,
  EntityMetadata,
  EntitySubscriberInterface,
  InsertEvent,
  RemoveEvent,
  SoftRemoveEvent,
  UpdateEvent,
} from 'typeorm';
import { WebhookValidationError } from '../errors/webhook-validation.error.js';
import { WebhookService } from '../outbound/webhook.service.js';
import { isThenable } from '../utils/thenable.js';
import { declaredWebhooks, type EntityChange } from '../decorators/emits-webhook.decorator.js';
import { WebhookSubscriber } from '../decorators/webhook-subscriber.decorator.js';
import type { WebhookEventName } from '../interfaces/event-types.interface.js';

/**
 * Emits the webhooks declared with `@EmitsWebhook` on entity classes. Runs inside the saving
 * transaction and sends through its manager, so a rolled-back save emits nothing.
 */
@WebhookSubscriber()
@Injectable()
export class EntityWebhooksSubscriber implements EntitySubscriberInterface {
  private readonly logger = new Logger(EntityWebhooksSubscriber.name);
  /** Entities already checked for inserts outside a transaction. */
  private readonly warned = new WeakSet<Function>();

  constructor(private readonly webhooks: WebhookService) {}

  afterInsert(event: InsertEvent<any>): Promise<void> {
    if (!event.queryRunner.isTransactionActive) this.insertedOutsideTransaction(event.metadata);
    return this.emit('insert', event.metadata, event.entity, undefined, event.manager);
  }

  afterUpdate(event: UpdateEvent<any>): Promise<void> {
    // Only save() gives the previous row; update() / QueryBuilder updates give a bare SET list,
    // from which no transition can be judged and no whole payload built.
    if (!event.entity || !event.databaseEntity) return Promise.resolve();
    // save() may be given a partial object: the new state is the old row with the changes on top.
    const current = merge(event.databaseEntity, event.entity);
    return this.emit('update', event.metadata, current, event.databaseEntity, event.manager);
  }

  afterRemove(event: RemoveEvent<any>): Promise<void> {
    return this.emit(
      'remove',
      event.metadata,
      merge(event.databaseEntity, event.entity),
      event.databaseEntity,
      event.manager,
    );
  }

  afterSoftRemove(event: SoftRemoveEvent<any>): Promise<void> {
    return this.emit(
      'softRemove',
      event.metadata,
      merge(event.databaseEntity, event.entity),
      event.databaseEntity,
      event.manager,
    );
  }

  /**
   * `insert()` and QueryBuilder inserts run without a transaction of their own: the row is
   * committed before the webhook is written. Said once per entity that declares an insert webhook.
   */
  private insertedOutsideTransaction(metadata: EntityMetadata): void {
    const target = metadata.target;
    if (typeof target !== 'function' || this.warned.has(target)) return;
    this.warned.add(target);
    if (declaredWebhooks(target, 'insert').length === 0) return;
    this.logger.warn(
      `${target.name} was inserted outside a transaction (insert() or a QueryBuilder insert): the row was ` +
        'committed before its webhook was written, so a failing send or a crash between the two leaves it without ' +
        'one. Use save(), or run the insert in manager.transaction(). (Said once per entity.)',
    );
  }

  private async emit(
    change: EntityChange,
    metadata: EntityMetadata,
    entity: any,
    previous: any,
    manager: EntityManager,
  ): Promise<void> {
    const target = metadata.target;
    if (typeof target !== 'function' || !entity) return;
    for (const decl of declaredWebhooks(target, change)) {
      // Built only for an error: this loop runs on every save.
      const where = () => `@EmitsWebhook({ on: '${change}', type: '${decl.type}' }) of ${target.name}`;
      if (decl.when) {
        const wanted: unknown = decl.when(entity, previous);
        if (isThenable(wanted))
          throw new WebhookValidationError('when', `${where()}: when() returned a Promise; it must return a boolean.`);
        if (!wanted) continue;
      }
      const data = decl.data ? decl.data(entity, previous) : ownColumns(metadata, entity);
      const customerId = decl.customerId?.(entity) ?? undefined;
      let messageId: string;
      try {
        ({ messageId } = await this.webhooks.send(decl.type as WebhookEventName, data as never, {
          customerId,
          manager,
        }));
      } catch (err) {
        // Name the declaration: the save that failed may be one of many, far from this entity.
        if (err instanceof WebhookValidationError)
          throw new WebhookValidationError(err.field, `${where()}: ${err.message}`);
        throw err;
      }
      if (Logger.isLevelEnabled('debug')) this.logger.debug(`${target.name} ${change} → ${decl.type} (${messageId})`);
    }
  }
}

/** Property names of an entity's own columns and embeddeds (not its relations), per entity. */
const COLUMN_KEYS = new WeakMap<EntityMetadata, Set<string>>();

/**
 * The default payload: the entity's own columns (and embedded objects), in its own key order.
 * Loaded relations and other properties stay out: they are not the row, and a two-way relation
 * would not serialise at all.
 */
function ownColumns(metadata: EntityMetadata, entity: Record<string, unknown>): Record<string, unknown> {
  let keys = COLUMN_KEYS.get(metadata);
  if (!keys) {
    const relations = new Set(metadata.relations.map((r) => r.propertyName));
    keys = new Set([
      ...metadata.columns
        .filter((c) => !c.embeddedMetadata && !relations.has(c.propertyName))
        .map((c) => c.propertyName),
      ...metadata.embeddeds.map((e) => e.propertyName),
    ]);
    COLUMN_KEYS.set(metadata, keys);
  }
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(entity)) if (keys.has(key)) out[key] = entity[key];
  return out;
}

function merge(before: any, after: any): any {
  if (!before) return after;
  const out = { ...before };
  for (const [k, v] of Object.entries(after ?? {})) if (v !== undefined) out[k] = v;
  return out;
}
