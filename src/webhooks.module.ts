import { Module, Optional, type DynamicModule, type NestModule } from '@nestjs/common';
import { APP_FILTER, DiscoveryModule } from '@nestjs/core';
import { getDataSourceToken, TypeOrmModule } from '@nestjs/typeorm';
import type { DataSource } from 'typeorm';
import { BootChecks } from './database/boot-checks.service.js';
import { WEBHOOK_ENTITIES } from './database/entities/index.js';
import { EntityWebhooksSubscriber } from './entity-events/entity-webhooks.subscriber.js';
import { SubscriberRegistry } from './entity-events/subscriber.registry.js';
import { createWebhooksController, INBOUND_PROVIDERS, ParseFailurePassthrough } from './inbound/inbound.providers.js';
import { WebhookInbox } from './inbound/webhook-inbox.service.js';
import { RetentionService } from './database/retention.service.js';
import { DeliveryProcessor } from './outbound/delivery.processor.js';
import { DeliveryStore } from './outbound/delivery.store.js';
import { WebhookHttpClient } from './outbound/http.client.js';
import { MessageStore } from './outbound/message.store.js';
import { OutboxRelay } from './outbound/outbox.relay.js';
import { CommitHook } from './outbound/commit.hook.js';
import { WebhookService } from './outbound/webhook.service.js';
import { WebhookValidationFilter } from './outbound/webhook-validation.filter.js';
import { WebhookEvents } from './webhook.events.js';
import { WEBHOOKS_OPTIONS, WEBHOOKS_ROUTE_PATH } from './webhooks.constants.js';
import { webhooksQueueProvider } from './queue/webhooks.queue.js';
import { SqliteCheckpointer } from './database/sqlite-checkpointer.js';
import { TransactionRunner } from './database/transaction.runner.js';
import { WebhooksProbe } from './observability/webhooks.probe.js';
import { WebhookTelemetry } from './observability/webhook-telemetry.js';
import {
  ConfigurableWebhooksModule,
  WEBHOOKS_ASYNC_OPTIONS_TYPE,
  WEBHOOKS_MODULE_OPTIONS,
  WEBHOOKS_OPTIONS_TYPE,
} from './webhooks.module-definition.js';
import { resolveWebhooksOptions, routePath } from './webhooks.options.js';
import { WebhooksConfigError } from './errors/webhooks-config.error.js';
import type { ResolvedWebhooksOptions, WebhooksModuleOptions } from './interfaces/webhooks-options.interface.js';
import { messages } from './webhooks.messages.js';
import { createPortalControllers, PORTAL_PROVIDERS } from './portal/portal.providers.js';
import { PortalBodyRefusals } from './portal/portal-body-refusals.js';
import { PortalService } from './portal/portal.service.js';

/** Present (true) when forRoot mounted the portal: a portal in forRootAsync's options could not be. */
const PORTAL_MOUNTED = Symbol('WEBHOOKS_PORTAL_MOUNTED');

/**
 * Transactional, signed, retried webhooks: `WebhookService` to send, `@OnWebhook` to receive.
 * Needs the app's `TypeOrmModule.forRoot` (with `autoLoadEntities` or `WEBHOOK_ENTITIES`) and
 * `BullModule.forRoot`.
 * @publicApi
 */
@Module({
  imports: [DiscoveryModule, TypeOrmModule.forFeature(WEBHOOK_ENTITIES)],
  providers: [
    {
      provide: WEBHOOKS_OPTIONS,
      useFactory: resolveForRoute,
      inject: [
        WEBHOOKS_MODULE_OPTIONS,
        WEBHOOKS_ROUTE_PATH,
        getDataSourceToken(),
        { token: PORTAL_MOUNTED, optional: true },
      ],
    },
    webhooksQueueProvider,
    BootChecks,
    TransactionRunner,
    SqliteCheckpointer,
    CommitHook,
    OutboxRelay,
    WebhookHttpClient,
    DeliveryStore,
    DeliveryProcessor,
    MessageStore,
    WebhookService,
    { provide: APP_FILTER, useClass: WebhookValidationFilter },
    WebhookEvents,
    SubscriberRegistry,
    EntityWebhooksSubscriber,
    ...INBOUND_PROVIDERS,
    RetentionService,
    WebhooksProbe,
    WebhookTelemetry,
  ],
  exports: [WebhookService, WebhookEvents, WebhookInbox, WEBHOOKS_OPTIONS],
})
export class WebhooksModule extends ConfigurableWebhooksModule implements NestModule {
  constructor(
    private readonly passthrough: ParseFailurePassthrough,
    @Optional() private readonly portalRefusals?: PortalBodyRefusals,
  ) {
    super();
  }

  /** Runs between Nest's body parsers and its routes: the one point where both adapters' hooks fit. */
  configure(): void {
    this.passthrough.install();
    this.portalRefusals?.install();
  }

  /**
   * Registers the module with options known at import time; they are checked here, so a bad one
   * fails before anything connects.
   * @example
   * ```ts
   * WebhooksModule.forRoot({
   *   outbound: { concurrency: 20 },
   *   inbound: { sources: { partner: { scheme: 'standard', secrets: [process.env.PARTNER_SECRET!] } } },
   * })
   * ```
   */
  static override forRoot(options: typeof WEBHOOKS_OPTIONS_TYPE): DynamicModule {
    // Known now, so checked now: a bad option fails before anything connects.
    resolveWebhooksOptions(options);
    if (options.inboundPath !== undefined) {
      throw new WebhooksConfigError(messages.inboundPathInForRoot());
    }
    const definition = withController(super.forRoot(options), options.inbound?.path);
    const portal = resolveWebhooksOptions(options).portal;
    return portal ? withPortal(definition, createPortalControllers(portal)) : definition;
  }

  /**
   * Registers the module with options from a factory. The inbound route prefix goes beside the
   * factory as `inboundPath`: routes are fixed before the factory runs.
   * @example
   * ```ts
   * WebhooksModule.forRootAsync({
   *   imports: [ConfigModule],
   *   inject: [ConfigService],
   *   useFactory: (config: ConfigService) => ({ outbound: { concurrency: config.get('WEBHOOK_CONCURRENCY') } }),
   *   inboundPath: 'hooks',
   * })
   * ```
   */
  static override forRootAsync(options: typeof WEBHOOKS_ASYNC_OPTIONS_TYPE): DynamicModule {
    return withController(super.forRootAsync(options), options.inboundPath);
  }
}

/**
 * The options, resolved, once the route is known. With `forRootAsync` the route comes from
 * `inboundPath`, so an `inbound.path` from the factory that names another route would be ignored
 * in silence: refused instead.
 */
function resolveForRoute(
  raw: WebhooksModuleOptions,
  path: string | undefined,
  dataSource: DataSource,
  portalMounted?: boolean,
): ResolvedWebhooksOptions {
  checkEntities(dataSource);
  // Nest takes the extras out of forRoot's options; in what a forRootAsync factory returns they would be ignored.
  for (const extra of ['isGlobal', 'inboundPath']) {
    if (raw !== null && typeof raw === 'object' && extra in raw)
      throw new WebhooksConfigError(messages.extraInFactoryResult(extra));
  }
  const resolved = resolveWebhooksOptions(raw);
  const route = routePath('inboundPath', path);
  if (resolved.inbound.path !== route)
    throw new WebhooksConfigError(messages.inboundPathMismatch(resolved.inbound.path, route));
  if (resolved.portal && !portalMounted) throw new WebhooksConfigError(messages.portalInForRootAsync());
  return resolved;
}

/**
 * The app's DataSource must know the module's entities (`autoLoadEntities` or `WEBHOOK_ENTITIES`).
 * Checked before anything is built on it: without them the app would boot and its first send fail.
 */
function checkEntities(dataSource: DataSource): void {
  // A DataSource left for the app to initialise has no metadata yet: nothing to check.
  if (!dataSource.isInitialized) return;
  const missing = WEBHOOK_ENTITIES.filter((entity) => !dataSource.hasMetadata(entity)).map((entity) => entity.name);
  if (missing.length > 0) throw new WebhooksConfigError(messages.entitiesMissing(missing));
}

/** Adds the portal's controllers and providers (and exports `PortalService`) to the module. */
function withPortal(definition: DynamicModule, controllers: DynamicModule['controllers'] = []): DynamicModule {
  return {
    ...definition,
    providers: [...(definition.providers ?? []), ...PORTAL_PROVIDERS, { provide: PORTAL_MOUNTED, useValue: true }],
    controllers: [...(definition.controllers ?? []), ...controllers],
    exports: [...(definition.exports ?? []), PortalService],
  };
}

function withController(definition: DynamicModule, path = 'webhooks'): DynamicModule {
  const providers = [...(definition.providers ?? []), { provide: WEBHOOKS_ROUTE_PATH, useValue: path }];
  return { ...definition, providers, controllers: [createWebhooksController(path)] };
}
