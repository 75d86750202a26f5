import { Inject, Injectable, Logger, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { DiscoveryService, Reflector } from '@nestjs/core';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource, EntitySubscriberInterface } from 'typeorm';
import { attachSubscriber, detachSubscriber } from '../database/subscribers.js';
import { declaredWebhooks, type EntityChange } from '../decorators/emits-webhook.decorator.js';
import { WebhooksConfigError } from '../errors/webhooks-config.error.js';
import type { ResolvedWebhooksOptions } from '../interfaces/webhooks-options.interface.js';
import { WEBHOOK_SUBSCRIBER_METADATA, WEBHOOKS_OPTIONS } from '../webhooks.constants.js';
import { messages } from '../webhooks.messages.js';

const CHANGES: EntityChange[] = ['insert', 'update', 'remove', 'softRemove'];

/**
 * Finds the providers marked `@WebhookSubscriber()` and registers each on the DataSource once,
 * with its injected dependencies; removes them at shutdown. A copy that TypeORM built itself
 * from the DataSource's `subscribers` option has no dependencies, so it is replaced.
 * With `strictEventTypes`, first checks the `@EmitsWebhook` declarations of the DataSource's
 * entities against the catalog: a type missing from it would fail every such save, so the boot fails.
 */
@Injectable()
export class SubscriberRegistry implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger(SubscriberRegistry.name);
  private readonly registered: EntitySubscriberInterface[] = [];

  constructor(
    private readonly discovery: DiscoveryService,
    private readonly reflector: Reflector,
    @InjectDataSource() private readonly dataSource: DataSource,
    @Inject(WEBHOOKS_OPTIONS) private readonly options: ResolvedWebhooksOptions,
  ) {}

  onModuleInit(): void {
    this.checkDeclaredTypes();
    const subscribers = this.dataSource.subscribers;
    for (const wrapper of this.discovery.getProviders()) {
      const { instance, metatype } = wrapper;
      if (!instance || !metatype || !wrapper.isDependencyTreeStatic()) continue;
      if (!this.reflector.get(WEBHOOK_SUBSCRIBER_METADATA, metatype as Function)) continue;
      if (subscribers.includes(instance)) continue;
      const copy = subscribers.findIndex((s) => s.constructor === metatype);
      if (copy >= 0) {
        this.logger.warn(
          `${metatype.name} was also listed in the DataSource's "subscribers"; the injected instance replaces it.`,
        );
        detachSubscriber(this.dataSource, subscribers[copy]);
      }
      attachSubscriber(this.dataSource, instance);
      this.registered.push(instance);
      this.logger.log(`Registered entity subscriber ${metatype.name}.`);
    }
  }

  /** With strictEventTypes: each type an entity of the DataSource declares is in the catalog. */
  private checkDeclaredTypes(): void {
    if (!this.options.strictEventTypes) return;
    const known = new Set(this.options.eventTypes.map((t) => t.name));
    for (const metadata of this.dataSource.entityMetadatas) {
      const target = metadata.target;
      if (typeof target !== 'function') continue;
      for (const change of CHANGES) {
        const missing = declaredWebhooks(target, change).find((d) => !known.has(d.type));
        if (missing) {
          const declaration = `@EmitsWebhook({ on: '${change}', type: '${missing.type}' })`;
          throw new WebhooksConfigError(messages.declaredTypeNotInCatalog(target.name, declaration, missing.type));
        }
      }
    }
  }

  onApplicationShutdown(): void {
    for (const s of this.registered.splice(0)) detachSubscriber(this.dataSource, s);
  }
}
