import { BullModule } from '@nestjs/bull';
import type {
  INestApplication,
  LoggerService,
  ModuleMetadata,
  Provider,
  Type,
  VersioningOptions,
} from '@nestjs/common';
import { Injectable } from '@nestjs/common';
import { Module } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { TypeOrmModule } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { WEBHOOK_ENTITIES } from '../../src/database/entities/index.js';
import { WEBHOOK_MIGRATIONS } from '../../src/database/migrations/index.js';
import type { WebhooksModuleOptions } from '../../src/interfaces/webhooks-options.interface.js';
import { WebhooksModule } from '../../src/webhooks.module.js';
import { createTestDatabase, type DbKind, type TestDatabase } from './databases.js';
import { deletePrefix, REDIS_URL, testPrefix } from './redis.js';

/** Options for {@link startTestApp}. */
export interface TestAppOptions {
  db: DbKind | TestDatabase;
  webhooks?: WebhooksModuleOptions;
  /** Use forRootAsync instead of forRoot. */
  async?: boolean;
  providers?: Provider[];
  controllers?: Type<unknown>[];
  imports?: ModuleMetadata['imports'];
  entities?: Function[];
  /** Bull key prefix; a fresh one by default. */
  prefix?: string;
  redisUrl?: string;
  /** Create an HTTP application (with rawBody) instead of a bare context. */
  http?: 'express' | 'fastify' | false;
  /** Do not apply the module's migrations first (to test the boot check). */
  skipMigrations?: boolean;
  /** TypeORM's `autoLoadEntities` (default true): false leaves the module's entities unknown to the DataSource. */
  autoLoadEntities?: boolean;
  /** A logger for the app (default: none). */
  logger?: LoggerService | false;
  /** forRootAsync with useClass instead of useFactory. */
  asyncClass?: boolean;
  /** forRootAsync's `inboundPath`; when the key is absent, `webhooks.inbound.path` (see docs/configuration.md). */
  inboundPath?: string;
  /** Extra Bull settings (short lock / stall intervals for fault tests). */
  bullSettings?: Record<string, unknown>;
  /** `app.setGlobalPrefix(…)` before init. */
  globalPrefix?: string;
  /** `app.enableVersioning(…)` before init. */
  versioning?: VersioningOptions;
  /** With `http: 'fastify'`: await the instance's `ready()` after init (default true), as most tests want. */
  fastifyReady?: boolean;
  /** Options of the Fastify adapter (`http: 'fastify'`), such as `bodyLimit`. */
  fastifyOptions?: Record<string, unknown>;
  /** Called with the app before init, as an app's main.ts would (body parsers, say). */
  beforeInit?: (app: INestApplication) => void;
}

/** A started app and what the test must clean up. */
export interface TestApp {
  app: INestApplication;
  db: TestDatabase;
  prefix: string;
  close(): Promise<void>;
}

/** Short schedule and loopback allowed: what most integration tests want. */
export const FAST_OUTBOUND = {
  schedule: [0, 100, 200],
  jitter: 0,
  timeoutMs: 1000,
  network: { allow: ['127.0.0.1/32', '::1/128'] },
};

/**
 * Boots a real Nest app (TypeORM on a database of its own, Bull on a Redis prefix of its own,
 * migrations applied) with the WebhooksModule; `close()` shuts it and removes what it created.
 */
export async function startTestApp(opts: TestAppOptions): Promise<TestApp> {
  const prefix = opts.prefix ?? testPrefix();
  const webhooks: WebhooksModuleOptions = opts.webhooks ?? { outbound: FAST_OUTBOUND };
  const inboundPath = 'inboundPath' in opts ? opts.inboundPath : webhooks.inbound?.path;

  const dataSources: DataSource[] = [];
  const connecting: Promise<unknown>[] = [];
  @Module({
    imports: [
      TypeOrmModule.forRootAsync({
        // Kept so that a boot that fails after connecting can still disconnect.
        dataSourceFactory: async (options) => {
          const init = new DataSource(options!).initialize();
          connecting.push(init);
          const ds = await init;
          dataSources.push(ds);
          return ds;
        },
        useFactory: () =>
          ({
            ...db.options,
            autoLoadEntities: opts.autoLoadEntities ?? true,
            entities: opts.entities ?? [],
            // The module's tables come from its migrations (run below, before the boot); the fixtures' from synchronize.
            synchronize: (opts.entities ?? []).some((entity) => !WEBHOOK_ENTITIES.includes(entity as never)),
            logging: false,
          }) as any,
      }),
      BullModule.forRoot({
        redis: opts.redisUrl ?? REDIS_URL,
        prefix,
        settings: opts.bullSettings as any,
      }),
      opts.asyncClass
        ? WebhooksModule.forRootAsync({ useClass: optionsFactory(webhooks), inboundPath })
        : opts.async
          ? WebhooksModule.forRootAsync({ useFactory: async () => webhooks, inboundPath })
          : WebhooksModule.forRoot(webhooks),
      ...(opts.imports ?? []),
    ],
    providers: opts.providers ?? [],
    controllers: opts.controllers ?? [],
  })
  class TestAppModule {}

  // Made only now: building the module above runs forRoot, which throws on invalid options, and
  // from here on every failure goes through the catch below, which drops the database again.
  const db = typeof opts.db === 'string' ? await createTestDatabase(opts.db) : opts.db;
  const ownDb = typeof opts.db === 'string';
  let app: INestApplication | undefined;
  try {
    if (!opts.skipMigrations) await migrate(db);
    const moduleRef = await Test.createTestingModule({ imports: [TestAppModule] }).compile();
    if (opts.http === 'fastify') {
      const { FastifyAdapter } = await import('@nestjs/platform-fastify');
      app = moduleRef.createNestApplication(new FastifyAdapter(opts.fastifyOptions as any) as any, {
        rawBody: true,
        logger: opts.logger ?? false,
      });
    } else {
      app = moduleRef.createNestApplication({ rawBody: true, logger: opts.logger ?? false });
    }
    if (opts.globalPrefix) app.setGlobalPrefix(opts.globalPrefix);
    if (opts.versioning) app.enableVersioning(opts.versioning);
    opts.beforeInit?.(app);
    await app.init();
    if (opts.http === 'fastify' && opts.fastifyReady !== false)
      await (app as any).getHttpAdapter().getInstance().ready();
  } catch (err) {
    // A failed boot must not leak connections or data. Nest may still be connecting the
    // DataSource it started beside the provider that failed: let that finish (or fail) first,
    // or it would connect, or retry, after the database is dropped.
    await app?.close().catch(() => undefined);
    await new Promise((r) => setTimeout(r, 50));
    await Promise.allSettled(connecting);
    for (const ds of dataSources) if (ds.isInitialized) await ds.destroy();
    await deletePrefix(prefix, opts.redisUrl ?? REDIS_URL);
    if (ownDb) await db.drop();
    throw err;
  }
  return {
    app: app!,
    db,
    prefix,
    async close() {
      await app!.close();
      await deletePrefix(prefix, opts.redisUrl ?? REDIS_URL);
      if (ownDb) await db.drop();
    },
  };
}

/** Applies the module's migrations to a test database, as an app's deploy step would. */
export async function migrate(db: TestDatabase): Promise<void> {
  const ds = new DataSource({ ...db.options, migrations: WEBHOOK_MIGRATIONS } as any);
  await ds.initialize();
  try {
    await ds.runMigrations();
  } finally {
    await ds.destroy();
  }
}

/** A ConfigurableModuleOptionsFactory class returning `options`, for forRootAsync({ useClass }). */
function optionsFactory(options: WebhooksModuleOptions) {
  @Injectable()
  class WebhooksOptionsFactory {
    create(): WebhooksModuleOptions {
      return options;
    }
  }
  return WebhooksOptionsFactory;
}
