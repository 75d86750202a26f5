import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { ServiceUnavailableException } from '@nestjs/common';
import { HealthCheckService, TerminusModule } from '@nestjs/terminus';
import { DataSource } from 'typeorm';
import { WebhooksHealthIndicator } from '../../src/observability/health.js';
import { WebhookService } from '../../src/outbound/webhook.service.js';
import { postWebhook } from '../../src/testing/index.js';
import { WebhooksConfigError } from '../../src/errors/webhooks-config.error.js';
import { startTestApp, type TestApp, type TestAppOptions } from '../support/app.js';
import { createTestDatabase, testDatabases, type DbKind } from '../support/databases.js';
import { eventually, Receiver } from '../support/receiver.js';
import { PrivateRedis } from '../support/redis-server.js';

const SECRET = 'whsec_' + Buffer.from('health-test-secret-0123456789abc').toString('base64');

/** What Terminus's HealthCheckService answers: the result, or the body of its 503. */
async function checkHealth(t: TestApp, ...args: Parameters<WebhooksHealthIndicator['isHealthy']>) {
  const indicator = t.app.get(WebhooksHealthIndicator);
  try {
    return await t.app.get(HealthCheckService).check([() => indicator.isHealthy(...args)]);
  } catch (err) {
    if (!(err instanceof ServiceUnavailableException)) throw err;
    return err.getResponse() as Awaited<ReturnType<HealthCheckService['check']>>;
  }
}

/**
 * An emitter (no worker in this process): what it sends stays pending, and inbound calls queued
 * in `queue` mode stay `received`, as when every worker is down.
 */
function appOptions(db: TestAppOptions['db'], redisUrl: string): TestAppOptions {
  return {
    db,
    redisUrl,
    http: 'express',
    imports: [TerminusModule],
    providers: [WebhooksHealthIndicator],
    webhooks: {
      role: 'emitter',
      outbound: { network: { allow: ['127.0.0.1/32'] } },
      inbound: { mode: 'queue', sources: { partner: { scheme: 'standard', secrets: [SECRET] } } },
    },
  };
}

describe.each(testDatabases())('the Terminus health indicator on %s', (db) => {
  let redis: PrivateRedis;
  let receiver: Receiver;
  let t: TestApp;
  beforeAll(async () => {
    redis = await PrivateRedis.start();
    receiver = await new Receiver().start();
    t = await startTestApp(appOptions(db, redis.url));
  });
  afterAll(async () => {
    await t?.close();
    await redis?.stop();
    await receiver?.stop();
  });

  it('is up with Redis, the migrated database and no backlog; reports the backlog figures', async () => {
    const result = await checkHealth(t);
    expect(result.status).toBe('ok');
    expect(result.info?.webhooks).toEqual({
      status: 'up',
      redis: 'up',
      database: 'up',
      pending: 0,
      oldestDueAgeMs: 0,
      relayLagMs: 0,
      disabledEndpoints: 0,
      stuckInbox: 0,
    });
  });

  it('is down past the backlog and inbox thresholds, with the reason; up under the defaults', async () => {
    const svc = t.app.get(WebhookService);
    await svc.createEndpoint({ url: receiver.url('/hook') });
    await svc.send('order.created', {});
    await svc.send('order.created', {});
    await postWebhook(t.app, 'partner', { type: 'order.paid', data: {} }).expect(202);
    await new Promise((r) => setTimeout(r, 60));

    const relaxed = await checkHealth(t);
    expect(result(relaxed)).toMatchObject({ status: 'up', pending: 2, stuckInbox: 0 });

    const strict = await checkHealth(t, 'queue', {
      maxBacklogAgeMs: 20,
      maxPending: 1,
      inboxStuckAfterMs: 20,
      maxStuckInbox: 0,
    });
    expect(strict.status).toBe('error');
    const down = strict.error?.queue as Record<string, unknown>;
    expect(down).toMatchObject({ status: 'down', pending: 2, stuckInbox: 1 });
    expect(down.reason).toMatch(/the oldest due delivery has waited \d+ ms \(limit 20\)/);
    expect(down.reason).toMatch(/2 deliveries are pending \(limit 1\)/);
    expect(down.reason).toMatch(/1 inbox rows are still received after 20 ms/);
  });

  it('is down while Redis is stopped, and shows the relay lag of what was sent meanwhile; up again after', async () => {
    await redis.stop();
    const svc = t.app.get(WebhookService);
    await eventually(async () => result(await checkHealth(t)).redis === 'down', 5_000);
    await svc.send('order.created', { while: 'redis down' });
    await new Promise((r) => setTimeout(r, 60));
    const down = result(await checkHealth(t, 'webhooks', { maxRelayLagMs: 20, timeoutMs: 500 }));
    expect(down).toMatchObject({ status: 'down', redis: 'down', database: 'up' });
    expect(down.reason).toMatch(/Redis connection is (reconnecting|connecting|close|end)/);
    expect(down.reason).toMatch(/a committed delivery has waited \d+ ms for the queue \(limit 20\)/);

    await redis.start();
    await eventually(async () => result(await checkHealth(t)).redis === 'up', 10_000);
  });

  it('bounds the backlog query by timeoutMs: down with the reason while a transaction holds it, up after', async () => {
    const dataSource = t.app.get(DataSource);
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    let locked!: () => void;
    const isLocked = new Promise<void>((r) => (locked = r));
    // The app's own transaction: on PostgreSQL it locks the inbox, on SQLite it holds the one connection.
    const appTx = dataSource.transaction(async (m) => {
      if (db === 'postgres') await m.query('LOCK TABLE webhook_inbox IN ACCESS EXCLUSIVE MODE');
      locked();
      await held;
    });
    try {
      await isLocked;
      const started = Date.now();
      const down = result(await checkHealth(t, 'webhooks', { timeoutMs: 300 }));
      expect(Date.now() - started).toBeLessThan(2_500);
      expect(down).toMatchObject({ status: 'down', redis: 'up', database: 'up' });
      expect(down.reason).toMatch(
        /the backlog query failed: (no answer within 300 ms|canceling statement due to statement timeout)/,
      );
    } finally {
      release();
      await appTx;
    }
    await eventually(async () => result(await checkHealth(t)).status === 'up', 5_000);
  });

  it('is down when the module tables are missing (database not migrated)', async () => {
    await t.app.get(DataSource).query('DROP TABLE webhook_attempts');
    const down = result(await checkHealth(t));
    expect(down).toMatchObject({ status: 'down', redis: 'up', database: 'down' });
    expect(down.reason).toMatch(/table webhook_attempts is missing: run the module's migrations/);
  });

  it('refuses a threshold it does not know, a negative or BigInt one, a timeout no timer keeps, or thresholds that are not an object', async () => {
    const indicator = t.app.get(WebhooksHealthIndicator);
    await expect(indicator.isHealthy('webhooks', { maxBacklogAge: 1 } as never)).rejects.toThrow(WebhooksConfigError);
    await expect(indicator.isHealthy('webhooks', { maxPending: -1 })).rejects.toThrow(
      /"maxPending" must be a number >= 0/,
    );
    await expect(indicator.isHealthy('webhooks', { maxPending: 10n } as never)).rejects.toThrow(/\(got 10n\)/);
    await expect(indicator.isHealthy('webhooks', null as never)).rejects.toThrow(
      /"\(thresholds\)" must be an object of thresholds \(got null\)/,
    );
    // A timer of Infinity (or past 2^31 - 1 ms) fires after 1 ms: every check would be down.
    for (const timeoutMs of [Infinity, 2 ** 31, 0, 1.5])
      await expect(indicator.isHealthy('webhooks', { timeoutMs })).rejects.toThrow(
        /"timeoutMs" must be an integer from 1 to 2147483647 ms/,
      );
  });
});

(testDatabases().includes('postgres') ? describe.each : describe.skip.each)<DbKind>(['postgres'])(
  'the Terminus health indicator with the database gone (%s)',
  (kind) => {
    it('is down with the reason when the database cannot be reached', async () => {
      const redis = await PrivateRedis.start();
      const db = await createTestDatabase(kind);
      const t = await startTestApp(appOptions(db, redis.url));
      try {
        expect(result(await checkHealth(t)).status).toBe('up');
        // The database is dropped under the app: its connections are cut and new ones refused.
        await db.drop();
        const down = result(await checkHealth(t));
        expect(down).toMatchObject({ status: 'down', redis: 'up', database: 'down' });
        expect(down.reason).toMatch(/the database is unreachable: .*does not exist|terminat/);
      } finally {
        await t.close();
        await redis.stop();
      }
    });
  },
);

/** The indicator's own entry of a health check result, up or down. */
function result(health: Awaited<ReturnType<typeof checkHealth>>, key = 'webhooks'): Record<string, unknown> {
  return (health.details?.[key] ?? {}) as Record<string, unknown>;
}
