import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { BullModule } from '@nestjs/bull';
import { Module, type LoggerService } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { Redis } from 'ioredis';
import { DataSource } from 'typeorm';
import { BootChecks } from '../../src/database/boot-checks.service.js';
import { WEBHOOK_ENTITIES } from '../../src/database/entities/index.js';
import { WEBHOOK_MIGRATIONS } from '../../src/database/migrations/index.js';
import { WebhooksConfigError } from '../../src/errors/webhooks-config.error.js';
import { WebhookService } from '../../src/outbound/webhook.service.js';
import { WebhooksModule } from '../../src/webhooks.module.js';
import { DeliveryProcessor } from '../../src/outbound/delivery.processor.js';
import { messages } from '../../src/webhooks.messages.js';
import { FAST_OUTBOUND, startTestApp, type TestApp } from '../support/app.js';
import { createTestDatabase, testDatabases } from '../support/databases.js';
import { PrivateRedis } from '../support/redis-server.js';
import { testPrefix } from '../support/redis.js';
import { eventually, Receiver } from '../support/receiver.js';

/** Collects what the app logs, by level. */
class CapturingLogger implements LoggerService {
  readonly lines: { level: string; message: string; context?: string }[] = [];
  log = (message: any, context?: string) => void this.lines.push({ level: 'log', message: String(message), context });
  warn = (message: any, context?: string) => void this.lines.push({ level: 'warn', message: String(message), context });
  error = (message: any, context?: string) =>
    void this.lines.push({ level: 'error', message: String(message), context });
  debug = () => undefined;
  verbose = () => undefined;
}

/**
 * Boots with a private Redis, expects the boot to fail and returns its error; then checks that
 * nothing of the app is left connected. Nest builds the other providers on after a failure, so a
 * late queue is given time to connect.
 */
async function bootFailureOnPrivateRedis(boot: (redisUrl: string) => Promise<unknown>): Promise<unknown> {
  const redis = await PrivateRedis.start();
  const probe = new Redis(redis.url);
  try {
    const err = await boot(redis.url).then(
      () => null,
      (e: unknown) => e,
    );
    await new Promise((r) => setTimeout(r, 300));
    const clients = String(await probe.client('LIST'))
      .trim()
      .split('\n');
    expect({ failed: err !== null, clients: clients.length }).toEqual({ failed: true, clients: 1 });
    return err;
  } finally {
    probe.disconnect();
    await redis.stop();
  }
}

const registrations = [
  ['forRoot', {}],
  ['forRootAsync({ useFactory })', { async: true }],
  ['forRootAsync({ useClass })', { asyncClass: true }],
] as const;

describe.each(testDatabases())('WebhooksModule on %s', (db) => {
  let receiver: Receiver;
  beforeAll(async () => {
    receiver = await new Receiver().start();
  });
  afterAll(async () => receiver?.stop());

  it.each(registrations)('delivers when registered with %s', async (name, how) => {
    const t = await startTestApp({ db, ...how });
    try {
      const svc = t.app.get(WebhookService);
      const path = `/${name.replace(/\W+/g, '-')}`;
      await svc.createEndpoint({ url: receiver.url(path) });
      const sent = await svc.send('module.registered', { name });
      const got = await eventually(() =>
        receiver.requests.find((r) => r.url === path && r.headers['webhook-id'] === sent.messageId),
      );
      expect(JSON.parse(got.body).data).toEqual({ name });
    } finally {
      await t.close();
    }
  });

  it.each(registrations)(
    'fails at boot on invalid options with %s, naming the option, and leaves no Redis connection',
    async (_name, how) => {
      const err = await bootFailureOnPrivateRedis((redisUrl) =>
        startTestApp({ db, ...how, redisUrl, webhooks: { outbound: { ...FAST_OUTBOUND, timeoutMs: -1 } } }),
      );
      // Compared as one object, so that a failure shows which error came instead, and its message.
      expect({ configError: err instanceof WebhooksConfigError, message: (err as Error)?.message }).toEqual({
        configError: true,
        message: messages.invalidOption('outbound.timeoutMs', messages.timerRange(1), -1),
      });
    },
  );

  it('refuses an inbound route given where it would be ignored', async () => {
    // forRoot takes the route from inbound.path: an inboundPath there would be dropped.
    expect(() => WebhooksModule.forRoot({ inboundPath: 'hooks' })).toThrow(
      new WebhooksConfigError(messages.inboundPathInForRoot()),
    );
    // forRootAsync takes it from inboundPath: a factory's inbound.path naming another route fails the boot.
    for (const how of [{ async: true }, { asyncClass: true }]) {
      const booted = startTestApp({ db, ...how, inboundPath: undefined, webhooks: { inbound: { path: 'hooks' } } });
      await expect(booted).rejects.toThrow(new WebhooksConfigError(messages.inboundPathMismatch('hooks', 'webhooks')));
    }
    // Extras belong beside the factory, not in what it returns.
    const extra = startTestApp({ db, async: true, webhooks: { inbound: {}, isGlobal: false } as any });
    await expect(extra).rejects.toThrow(new WebhooksConfigError(messages.extraInFactoryResult('isGlobal')));
    // The same route both ways (slashes aside) boots.
    const t = await startTestApp({ db, async: true, inboundPath: '/hooks/', webhooks: { inbound: { path: 'hooks' } } });
    await t.close();
  });

  it('fails at boot, saying what to run, when the migrations were not applied', async () => {
    const fresh = await createTestDatabase(db);
    try {
      await expect(startTestApp({ db: fresh, skipMigrations: true })).rejects.toThrow(
        messages.migrationsMissing('webhook_endpoints'),
      );
    } finally {
      await fresh.drop();
    }
  });

  it.each([
    ['AddAttemptHeaders1766000000000', 'webhook_attempts', 'response_headers'],
    ['AddMessageEndpoint1768000000000', 'webhook_messages', 'endpoint_id'],
  ])(
    'fails at boot, saying what to run, when the migrations before %s were applied only',
    async (name, table, column) => {
      const older = await createTestDatabase(db);
      try {
        const before = WEBHOOK_MIGRATIONS.findIndex((m) => m.name === name);
        const ds = new DataSource({ ...older.options, migrations: WEBHOOK_MIGRATIONS.slice(0, before) } as any);
        await ds.initialize();
        await ds.runMigrations().finally(() => ds.destroy());
        await expect(startTestApp({ db: older, skipMigrations: true })).rejects.toThrow(
          messages.columnMissing(table, column, name),
        );
      } finally {
        await older.drop();
      }
    },
  );

  (db === 'postgres' ? it : it.skip)(
    "fails at boot, saying what to set, when the module's tables are in a schema off the search_path",
    async () => {
      const fresh = await createTestDatabase(db);
      try {
        const admin = new DataSource(fresh.options);
        await admin.initialize();
        await admin.query('CREATE SCHEMA app').finally(() => admin.destroy());
        const inApp = { ...fresh, options: { ...fresh.options, schema: 'app', migrationsTableName: 'app_migrations' } };
        // Before, it booted; then send() failed: relation "webhook_messages" does not exist.
        // An app that boots anyway is closed, so that the failing test ends.
        const booted = await startTestApp({ db: inApp as typeof fresh }).then(
          (t) => t.close().then(() => 'booted'),
          (err: Error) => err.message,
        );
        expect(booted).toBe(messages.schemaNotOnPath('app'));
        const onPath = { ...inApp, options: { ...inApp.options, extra: { options: '-c search_path=app,public' } } };
        const t = await startTestApp({ db: onPath as typeof fresh, skipMigrations: true });
        try {
          await t.app.get(WebhookService).createEndpoint({ url: 'https://e.example.com/h' });
          expect((await t.app.get(WebhookService).send('a.b', {})).deliveryIds).toHaveLength(1);
        } finally {
          await t.close();
        }
      } finally {
        await fresh.drop();
      }
    },
  );

  it("fails at boot, saying what to add, when the DataSource does not know the module's entities", async () => {
    const booted = startTestApp({ db, autoLoadEntities: false });
    const names = WEBHOOK_ENTITIES.map((e) => e.name);
    await expect(booted).rejects.toThrow(new WebhooksConfigError(messages.entitiesMissing(names)));
    // Given them in "entities" instead, it boots.
    const t = await startTestApp({ db, autoLoadEntities: false, entities: WEBHOOK_ENTITIES });
    await t.close();
  });

  it('warns at boot when Redis may evict keys', async () => {
    const logger = new CapturingLogger();
    const lru = await PrivateRedis.start(['--maxmemory-policy', 'allkeys-lru']);
    const t = await startTestApp({ db, redisUrl: lru.url, logger });
    try {
      // The check runs in the background after boot (boot does not wait for Redis).
      await t.app.get(BootChecks).evictionChecked;
      expect(logger.lines.filter((l) => l.level === 'warn').map((l) => l.message)).toContain(
        messages.evictingRedis('allkeys-lru'),
      );
    } finally {
      await t.close();
      await lru.stop();
    }
    const ok = await PrivateRedis.start();
    const quiet = new CapturingLogger();
    const t2 = await startTestApp({ db, redisUrl: ok.url, logger: quiet });
    try {
      await t2.app.get(BootChecks).evictionChecked;
      expect(quiet.lines.some((l) => l.message.includes('maxmemory-policy'))).toBe(false);
    } finally {
      await t2.close();
      await ok.stop();
    }
  });

  it('an emitter only writes and enqueues; a worker delivers', async () => {
    const emitter = await startTestApp({ db, webhooks: { role: 'emitter', outbound: FAST_OUTBOUND } });
    let worker: TestApp | undefined;
    try {
      const svc = emitter.app.get(WebhookService);
      await svc.createEndpoint({ url: receiver.url('/roles'), customerId: 'roles' });
      const sent = await svc.send('role.split', {}, { customerId: 'roles' });
      await new Promise((r) => setTimeout(r, 500));
      expect(receiver.requests.filter((r) => r.url === '/roles')).toHaveLength(0);
      expect((await svc.getDelivery(sent.deliveryIds[0])).status).toBe('pending');

      worker = await startTestApp({
        db: emitter.db,
        prefix: emitter.prefix,
        webhooks: { role: 'worker', outbound: FAST_OUTBOUND },
      });
      expect(worker.app.get(DeliveryProcessor)).toBeDefined();
      await eventually(() => receiver.requests.some((r) => r.url === '/roles'));
      expect(receiver.requests.filter((r) => r.url === '/roles').map((r) => r.headers['webhook-id'])).toEqual([
        sent.messageId,
      ]);
    } finally {
      await worker?.app.close();
      await emitter.close();
    }
  });
});

describe('WebhooksModule without TypeOrmModule', () => {
  it('fails at boot naming the DataSource, and leaves no Redis connection', async () => {
    const err = await bootFailureOnPrivateRedis((redisUrl) => {
      @Module({
        imports: [
          BullModule.forRoot({ redis: redisUrl, prefix: testPrefix() }),
          WebhooksModule.forRoot({ outbound: FAST_OUTBOUND }),
        ],
      })
      class AppWithoutTypeOrm {}
      return NestFactory.create(AppWithoutTypeOrm, { logger: false, abortOnError: false });
    });
    expect((err as Error)?.message).toMatch(/DataSource/);
  });
});
