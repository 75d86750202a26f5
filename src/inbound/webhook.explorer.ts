import { Injectable, Logger, type OnModuleInit } from '@nestjs/common';
import { DiscoveryService, MetadataScanner } from '@nestjs/core';
import type { InstanceWrapper } from '@nestjs/core/injector/instance-wrapper.js';
import { WebhooksConfigError } from '../errors/webhooks-config.error.js';
import { isValidEventFilter } from '../utils/event-types.js';
import { InboundSources } from './inbound.sources.js';
import { inboundMessages } from './inbound.messages.js';
import { WebhookDispatcher } from './webhook.dispatcher.js';
import { WebhookMetadataAccessor } from './webhook-metadata.accessor.js';

/**
 * Finds every `@OnWebhook` method on providers and controllers at `onModuleInit`, checks it
 * against the configured sources (failing the boot on a mistake), hands it to the dispatcher
 * and logs which handlers serve which source and event.
 */
@Injectable()
export class WebhookExplorer implements OnModuleInit {
  private readonly logger = new Logger(WebhookExplorer.name);

  constructor(
    private readonly discovery: DiscoveryService,
    private readonly scanner: MetadataScanner,
    private readonly accessor: WebhookMetadataAccessor,
    private readonly dispatcher: WebhookDispatcher,
    private readonly sources: InboundSources,
  ) {}

  onModuleInit(): void {
    for (const wrapper of [...this.discovery.getProviders(), ...this.discovery.getControllers()]) this.explore(wrapper);
    this.logRoutes();
  }

  private explore(wrapper: InstanceWrapper): void {
    const { instance } = wrapper;
    if (!instance || typeof instance !== 'object' || wrapper.isAlias) return;
    const prototype = Object.getPrototypeOf(instance);
    for (const method of this.scanner.getAllMethodNames(prototype)) {
      const rules = this.accessor.getHandlerRules(prototype[method]);
      if (!rules) continue;
      const name = `${instance.constructor.name}.${method}`;
      if (!wrapper.isDependencyTreeStatic()) {
        this.logger.warn(inboundMessages.requestScopedHandler(name));
        continue;
      }
      for (const rule of rules) {
        if (rule.source !== undefined && !this.sources.get(rule.source)) {
          throw new WebhooksConfigError(inboundMessages.unknownHandlerSource(name, rule.source, this.sources.names()));
        }
        const bad = rule.types.find((t) => !isValidEventFilter(t));
        if (bad !== undefined || rule.types.length === 0)
          throw new WebhooksConfigError(inboundMessages.invalidHandlerFilter(name, bad));
      }
      this.dispatcher.register({ name, rules, invoke: (data, ctx) => prototype[method].call(instance, data, ctx) });
    }
  }

  /** One line per source and event filter: `stripe × invoice.* → Billing.onInvoice`. */
  private logRoutes(): void {
    for (const source of this.sources.names()) {
      const byFilter = new Map<string, string[]>();
      for (const handler of this.dispatcher.all()) {
        for (const rule of handler.rules) {
          if (rule.source !== undefined && rule.source !== source) continue;
          for (const filter of rule.types) {
            const names = byFilter.get(filter) ?? byFilter.set(filter, []).get(filter)!;
            if (!names.includes(handler.name)) names.push(handler.name);
          }
        }
      }
      if (byFilter.size === 0) this.logger.log(`${source} × (no handler: calls are stored and answered as ignored)`);
      for (const [filter, names] of byFilter) this.logger.log(`${source} × ${filter} → ${names.join(', ')}`);
    }
  }
}
