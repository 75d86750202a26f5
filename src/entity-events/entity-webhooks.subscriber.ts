import { Injectable, Logger } from '@nestjs/common';
import type {
  EntityManager,
  EntitySubscriberInterface,
  InsertEvent,
  RemoveEvent,
  SoftRemoveEvent,
  UpdateEvent,
} from 'typeorm';
import { WebhookService } from '../outbound/webhook.service.js';
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

  constructor(private readonly webhooks: WebhookService) {}

  afterInsert(event: InsertEvent<any>): Promise<void> {
    return this.emit('insert', event.metadata.target, event.entity, undefined, event.manager);
  }

  afterUpdate(event: UpdateEvent<any>): Promise<void> {
    // Only save() gives the previous row; update() / QueryBuilder updates give a bare SET list,
    // from which no transition can be judged and no whole payload built.
    if (!event.entity || !event.databaseEntity) return Promise.resolve();
    // save() may be given a partial object: the new state is the old row with the changes on top.
    const current = merge(event.databaseEntity, event.entity);
    return this.emit('update', event.metadata.target, current, event.databaseEntity, event.manager);
  }

  afterRemove(event: RemoveEvent<any>): Promise<void> {
    return this.emit(
      'remove',
      event.metadata.target,
      merge(event.databaseEntity, event.entity),
      event.databaseEntity,
      event.manager,
    );
  }

  afterSoftRemove(event: SoftRemoveEvent<any>): Promise<void> {
    return this.emit(
      'softRemove',
      event.metadata.target,
      merge(event.databaseEntity, event.entity),
      event.databaseEntity,
      event.manager,
    );
  }

  private async emit(
    change: EntityChange,
    target: Function | string,
    entity: any,
    previous: any,
    manager: EntityManager,
  ): Promise<void> {
    if (typeof target !== 'function' || !entity) return;
    for (const decl of declaredWebhooks(target, change)) {
      if (decl.when && !decl.when(entity, previous)) continue;
      const data = decl.data ? decl.data(entity, previous) : { ...entity };
      const customerId = decl.customerId?.(entity) ?? undefined;
      const { messageId } = await this.webhooks.send(decl.type as WebhookEventName, data, { customerId, manager });
      if (Logger.isLevelEnabled('debug')) this.logger.debug(`${target.name} ${change} → ${decl.type} (${messageId})`);
    }
  }
}

function merge(before: any, after: any): any {
  if (!before) return after;
  const out = { ...before };
  for (const [k, v] of Object.entries(after ?? {})) if (v !== undefined) out[k] = v;
  return out;
}
