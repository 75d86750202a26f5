import { BullModule } from '@nestjs/bull';
import type { INestApplication, ModuleMetadata, Provider, Type } from '@nestjs/common';
import { Module } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { TypeOrmModule } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { WEBHOOK_MIGRATIONS } from '../../src/migrations/index.js';
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
  /** Extra Bull settings (short lock / stall intervals for fault tests). */
  bullSettings?: Record<string, unknown>;
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
  const db = typeof opts.db === 'string' ? await createTestDatabase(opts.db) : opts.db;
  const ownDb = typeof opts.db === 'string';
  const prefix = opts.prefix ?? testPrefix();
  await migrate(db);
  const webhooks: WebhooksModuleOptions = opts.webhooks ?? { outbound: FAST_OUTBOUND };

  @Module({
    imports: [
      TypeOrmModule.forRoot({
        ...db.options,
        autoLoadEntities: true,
        entities: opts.entities ?? [],
        // The module's tables come from its migrations (run above); the fixtures' from synchronize.
        synchronize: (opts.entities ?? []).length > 0,
        logging: false,
      } as any),
      BullModule.forRoot({ redis: opts.redisUrl ?? REDIS_URL, prefix, settings: opts.bullSettings as any }),
      opts.async
        ? WebhooksModule.forRootAsync({ useFactory: async () => webhooks, inboundPath: webhooks.inbound?.path })
        : WebhooksModule.forRoot(webhooks),
      ...(opts.imports ?? []),
    ],
    providers: opts.providers ?? [],
    controllers: opts.controllers ?? [],
  })
  class TestAppModule {}

  const moduleRef = await Test.createTestingModule({ imports: [TestAppModule] }).compile();
  let app: INestApplication;
  if (opts.http === 'fastify') {
    const { FastifyAdapter } = await import('@nestjs/platform-fastify');
    app = moduleRef.createNestApplication(new FastifyAdapter() as any, { rawBody: true, logger: false });
  } else {
    app = moduleRef.createNestApplication({ rawBody: true, logger: false });
  }
  await app.init();
  if (opts.http === 'fastify') await (app as any).getHttpAdapter().getInstance().ready();
  return {
    app,
    db,
    prefix,
    async close() {
      await app.close();
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
