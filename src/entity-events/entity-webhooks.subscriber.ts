import { Injectable, Logger } from '@nestjs/common';
import type {
  EntityManager,
  EntityMetadata,
  EntitySubscriberInterface,
  InsertEvent,
  QueryRunner,
  RemoveEvent,
  SoftRemoveEvent,
  UpdateEvent,
} from 'typeorm';
import { WebhookValidationError } from '../errors/webhook-validation.error.js';
import { messages } from '../webhooks.messages.js';
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
  /** Per entity, the changes already checked for writes outside a transaction. */
  private readonly warned = new WeakMap<Function, Set<EntityChange>>();

  constructor(private readonly webhooks: WebhookService) {}

  afterInsert(event: InsertEvent<any>): Promise<void> {
    this.checkTransaction('insert', event.metadata, event.queryRunner);
    return this.emit('insert', event.metadata, event.entity, undefined, event.manager);
  }

  afterUpdate(event: UpdateEvent<any>): Promise<void> {
    // Only save() gives the previous row; update() / QueryBuilder updates give a bare SET list,
    // from which no transition can be judged and no whole payload built.
    if (!event.entity || !event.databaseEntity) return Promise.resolve();
    this.checkTransaction('update', event.metadata, event.queryRunner);
    // save() may be given a partial object, into which TypeORM then writes null for each nullable
    // column it was not given (an embedded's too): the new state is the old row with only the
    // columns TypeORM wrote on top, and what the database set itself (update date, version).
    const { updateDateColumn, versionColumn } = event.metadata;
    const written = [...event.updatedColumns.filter((c) => c.isUpdate), updateDateColumn, versionColumn];
    const current = currentState(event.metadata, event.databaseEntity, event.entity, written);
    return this.emit('update', event.metadata, current, event.databaseEntity, event.manager);
  }

  afterRemove(event: RemoveEvent<any>): Promise<void> {
    // remove() writes none of the object's columns: the row removed is the one loaded.
    // delete() and QueryBuilder deletes give neither, and emit nothing.
    const current = event.databaseEntity
      ? currentState(event.metadata, event.databaseEntity, event.entity, [])
      : event.entity;
    if (!current) return Promise.resolve();
    this.checkTransaction('remove', event.metadata, event.queryRunner);
    return this.emit('remove', event.metadata, current, event.databaseEntity, event.manager);
  }

  afterSoftRemove(event: SoftRemoveEvent<any>): Promise<void> {
    // softRemove() writes the delete date (and update date, version) only, and nulls the
    // object's missing nullable columns as save() does. softDelete() by criteria gives neither.
    const { deleteDateColumn, updateDateColumn, versionColumn } = event.metadata;
    const current = event.databaseEntity
      ? currentState(event.metadata, event.databaseEntity, event.entity, [
          deleteDateColumn,
          updateDateColumn,
          versionColumn,
        ])
      : event.entity;
    if (!current) return Promise.resolve();
    this.checkTransaction('softRemove', event.metadata, event.queryRunner);
    return this.emit('softRemove', event.metadata, current, event.databaseEntity, event.manager);
  }

  /**
   * `insert()` and QueryBuilder inserts run without a transaction of their own, and so does
   * `save()` / `remove()` / `softRemove()` with `{ transaction: false }`: the row is committed
   * before the webhook is written. Said once per entity and change that declares a webhook.
   */
  private checkTransaction(change: EntityChange, metadata: EntityMetadata, queryRunner: QueryRunner): void {
    if (queryRunner.isTransactionActive) return;
    const target = metadata.target;
    if (typeof target !== 'function') return;
    let seen = this.warned.get(target);
    if (!seen) this.warned.set(target, (seen = new Set()));
    if (seen.has(change)) return;
    seen.add(change);
    if (declaredWebhooks(target, change).length === 0) return;
    this.logger.warn(messages.entityChangedOutsideTransaction(target.name, change));
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
      const { when, data: payload, customerId: tenant } = decl;
      if (when) {
        const wanted: unknown = call(where, 'when', () => when(entity, previous));
        if (isThenable(wanted))
          throw new WebhookValidationError('when', `${where()}: when() returned a Promise; it must return a boolean.`);
        if (!wanted) continue;
      }
      const data = payload ? call(where, 'data', () => payload(entity, previous)) : ownColumns(metadata, entity);
      const customerId = (tenant && call(where, 'customerId', () => tenant(entity))) ?? undefined;
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

type ColumnMetadata = EntityMetadata['columns'][number];
type EmbeddedMetadata = EntityMetadata['embeddeds'][number];

/** Property names of an entity's own columns and embeddeds (not its relations), per entity. */
const COLUMN_KEYS = new WeakMap<EntityMetadata, Set<string>>();

function columnKeys(metadata: EntityMetadata): Set<string> {
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
  return keys;
}

/**
 * The default payload: the entity's own columns (and embedded objects), in its own key order.
 * Loaded relations and other properties stay out: they are not the row, and a two-way relation
 * would not serialise at all.
 */
function ownColumns(metadata: EntityMetadata, entity: Record<string, unknown>): Record<string, unknown> {
  const keys = columnKeys(metadata);
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(entity)) if (keys.has(key)) out[key] = entity[key];
  return out;
}

/**
 * Runs one of a declaration's callbacks; what it throws names the declaration (an error of the
 * app's, such as a failed tenant lookup, would otherwise surface far from the entity that made it).
 */
function call<T>(where: () => string, callback: 'when' | 'data' | 'customerId', fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof WebhookValidationError)
      throw new WebhookValidationError(err.field, `${where()}: ${err.message}`);
    throw new Error(messages.entityCallbackThrew(where(), callback, err), { cause: err });
  }
}

/**
 * The entity as its row now is, after an update or removal: a copy of the row as loaded
 * (`before`), with the columns TypeORM wrote (`written`) taken from the object it was given
 * (`after`), each by its column metadata, so one column of a nested embedded replaces that
 * column only. The object's other properties (relations, properties that are not columns) are
 * kept, as the callbacks may read them; its other columns are not: TypeORM writes null into
 * each nullable column the object lacked, and those are not the row.
 */
function currentState(
  metadata: EntityMetadata,
  before: any,
  after: any,
  written: readonly (ColumnMetadata | undefined)[],
): any {
  const out = Object.assign(Object.create(Object.getPrototypeOf(before)), before);
  const columns = columnKeys(metadata);
  if (after && after !== before) {
    for (const [key, value] of Object.entries(after)) if (value !== undefined && !columns.has(key)) out[key] = value;
  }
  // Copies, so that setting an embedded's column below leaves `before` (the `previous` row) as it was.
  for (const embedded of metadata.embeddeds)
    out[embedded.propertyName] = copyEmbedded(embedded, before[embedded.propertyName]);
  if (!after) return out;
  for (const column of written) {
    // A relation's own join column is the relation property, taken from `after` above.
    if (!column || column.propertyName === column.relationMetadata?.propertyName) continue;
    const value = column.getEntityValue(after);
    if (value !== undefined) column.setEntityValue(out, value);
  }
  return out;
}

function copyEmbedded(embedded: EmbeddedMetadata, value: any): any {
  if (value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map((v) => copyEmbedded(embedded, v));
  const out = Object.assign(Object.create(Object.getPrototypeOf(value)), value);
  for (const inner of embedded.embeddeds) out[inner.propertyName] = copyEmbedded(inner, value[inner.propertyName]);
  return out;
}
