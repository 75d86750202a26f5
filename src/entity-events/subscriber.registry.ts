import { Injectable, Logger, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { DiscoveryService, Reflector } from '@nestjs/core';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource, EntitySubscriberInterface } from 'typeorm';
import { attachSubscriber, detachSubscriber } from '../database/subscribers.js';
import { WEBHOOK_SUBSCRIBER_METADATA } from '../webhooks.constants.js';

/**
 * Finds the providers marked `@WebhookSubscriber()` and registers each on the DataSource once,
 * with its injected dependencies; removes them at shutdown. A copy that TypeORM built itself
 * from the DataSource's `subscribers` option has no dependencies, so it is replaced.
 */
@Injectable()
export class SubscriberRegistry implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger(SubscriberRegistry.name);
  private readonly registered: EntitySubscriberInterface[] = [];

  constructor(
    private readonly discovery: DiscoveryService,
    private readonly reflector: Reflector,
    @InjectDataSource() private readonly dataSource: DataSource,
  ) {}

  onModuleInit(): void {
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

  onApplicationShutdown(): void {
    for (const s of this.registered.splice(0)) detachSubscriber(this.dataSource, s);
  }
}
