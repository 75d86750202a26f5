/**
 * `npm run demo`: the seed's order webhook, end to end, on SQLite. An `Order` saved as completed
 * emits `order.completed` in its transaction; after commit a Bull job POSTs it, signed, to a
 * local receiver that verifies the signature; the delivery log is printed, with a customer portal
 * link for the demo customer. `npm run demo -- --serve` (or DEMO_KEEP_SERVING=1) keeps the app
 * serving until Ctrl+C so the link can be opened; DEMO_PORT picks its port (default 3000 then).
 */
import 'reflect-metadata';
import { BullModule } from '@nestjs/bull';
import { Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { TypeOrmModule } from '@nestjs/typeorm';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DataSource } from 'typeorm';
import {
  PortalService,
  verifyStandardSignature,
  WEBHOOK_MIGRATIONS,
  WebhookService,
  WebhooksModule,
} from '../src/index.js';
import { portalAssetsDir } from '../src/portal/portal-assets.js';
import { CreateDemoTables1764000000001 } from './demo-tables.migration.js';
import { Order } from './order.entity.js';
import { findRedis, removeKeys } from './redis.js';
import { Subscription } from './subscription.entity.js';

const log = (line = '') => console.log(line);
const serve = process.argv.includes('--serve') || process.env.DEMO_KEEP_SERVING === '1';

/** A port nothing listens on now (the portal link is made before the app listens). */
async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
  const { port } = probe.address() as AddressInfo;
  await new Promise((r) => probe.close(r));
  return port;
}

async function main(): Promise<number> {
  const redis = await findRedis();
  if (!redis) {
    console.error(
      `No Redis answers at ${process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'} and no redis-server is installed: ` +
        'install Redis (apt-get install redis-server, brew install redis), start it, or set REDIS_URL.',
    );
    return 1;
  }
  if (redis.own) log(`No Redis at the default address: started a private redis-server for this run (${redis.url}).`);

  // The subscriber's side: a plain HTTP server that checks the Standard Webhooks signature.
  let secret = '';
  const arrived: { headers: IncomingHttpHeaders; body: string; verified: boolean }[] = [];
  const receiver = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const h = req.headers;
      const fresh = Math.abs(Date.now() / 1000 - Number(h['webhook-timestamp'])) < 300;
      const verified =
        fresh &&
        verifyStandardSignature(
          String(h['webhook-signature']),
          [secret],
          String(h['webhook-id']),
          Number(h['webhook-timestamp']),
          body,
        );
      arrived.push({ headers: h, body, verified });
      res.writeHead(verified ? 200 : 401).end();
    });
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  const receiverUrl = `http://127.0.0.1:${(receiver.address() as { port: number }).port}/webhooks`;

  const port = Number(process.env.DEMO_PORT ?? 0) || (serve ? 3000 : await freePort());
  const dir = mkdtempSync(join(tmpdir(), 'webhooks-demo-'));
  const prefix = `webhooks-demo-${process.pid}`;
  @Module({
    imports: [
      TypeOrmModule.forRoot({
        type: 'better-sqlite3',
        database: join(dir, 'demo.sqlite'),
        // WAL lets the delivery worker read while the app writes; see docs/operations.md "SQLite".
        prepareDatabase: (db: { pragma(s: string): unknown }) => {
          db.pragma('journal_mode = WAL');
        },
        entities: [Order, Subscription],
        autoLoadEntities: true,
        migrations: [...WEBHOOK_MIGRATIONS, CreateDemoTables1764000000001],
        migrationsRun: true,
      }),
      BullModule.forRoot({ redis: redis.url, prefix }),
      WebhooksModule.forRoot({
        // The default policy refuses loopback; the demo's receiver lives there.
        outbound: { network: { allow: ['127.0.0.1/32'] } },
        eventTypes: [
          { name: 'order.completed', description: 'An order was paid.', example: { id: 1, total: '149.90' } },
          { name: 'subscription.created', description: 'A subscription started.', example: { plan: 'pro' } },
          { name: 'subscription.updated', description: 'A subscription changed.', example: { status: 'past_due' } },
        ],
        portal: { baseUrl: `http://127.0.0.1:${port}` },
      }),
    ],
  })
  class DemoModule {}

  const app = await NestFactory.create(DemoModule, { logger: ['error', 'warn'] });
  // One cleanup for every way out: the end of the run, an error, Ctrl+C or SIGTERM at any point.
  let cleaned: Promise<void> | undefined;
  const cleanup = () =>
    (cleaned ??= (async () => {
      await app.close();
      await removeKeys(redis.url, prefix);
      receiver.close();
      redis.own?.kill();
      rmSync(dir, { recursive: true, force: true });
    })());
  let stopServing: (() => void) | undefined;
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopServing) return stopServing();
    log(`\n${signal}: stopping, removing what the demo made.`);
    void cleanup().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal).once('SIGTERM', onSignal);
  let code: number;
  try {
    await app.listen(port, '127.0.0.1').catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'EADDRINUSE') throw err;
      throw new Error(`Port ${port} is taken: choose another, e.g. DEMO_PORT=${port + 1} npm run demo -- --serve`);
    });
    const webhooks = app.get(WebhookService);
    const orders = app.get(DataSource).getRepository(Order);
    log(`SQLite database ${join(dir, 'demo.sqlite')} (WAL), migrations applied.`);

    const endpoint = await webhooks.createEndpoint({
      url: receiverUrl,
      customerId: 'org_1',
      eventTypes: ['order.*', 'subscription.*'],
    });
    secret = endpoint.secret;
    log(`Endpoint ${endpoint.id} → ${receiverUrl} for customer org_1 (secret ${secret.slice(0, 10)}…).`);

    const order = await orders.save(orders.create({ userId: 'user_7', organizationId: 'org_1', total: '149.90' }));
    log(`Order ${order.id} created (pending): no webhook, the declaration fires on the transition only.`);
    order.status = 'completed';
    order.completedAt = new Date();
    await orders.save(order);
    log(`Order ${order.id} saved as completed: order.completed committed with it and enqueued after commit.`);

    const subscriptions = app.get(DataSource).getRepository(Subscription);
    const sub = await subscriptions.save(
      subscriptions.create({ userId: 'user_7', organizationId: 'org_1', plan: 'pro', status: 'active' }),
    );
    await subscriptions.save({ ...sub, status: 'past_due' });
    log(`Subscription ${sub.id} created, then updated: subscription.created and subscription.updated.`);

    const until = Date.now() + 15_000;
    while (arrived.length < 3 && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
    const got = arrived.find((a) => a.body.includes('"order.completed"'));
    if (!got) throw new Error('no order.completed webhook arrived within 15 s');
    log();
    log('Arrived at the receiver:');
    for (const name of ['webhook-id', 'webhook-timestamp', 'webhook-signature', 'content-type', 'user-agent'])
      log(`  ${name}: ${got.headers[name]}`);
    log(`  body: ${got.body}`);
    log(`  signature verified with the endpoint secret: ${got.verified ? 'yes' : 'NO'}`);

    for (const other of arrived.filter((a) => a !== got)) {
      const { type, data } = JSON.parse(other.body);
      log(`Also arrived: ${type} ${JSON.stringify(data)} (verified: ${other.verified ? 'yes' : 'NO'})`);
    }

    const [message] = (await webhooks.listMessages({ customerId: 'org_1', type: 'order.completed' })).data;
    let delivery = (await webhooks.listDeliveries({ messageId: message.id })).data[0];
    while (delivery.status === 'pending' && Date.now() < until) {
      await new Promise((r) => setTimeout(r, 20));
      delivery = await webhooks.getDelivery(delivery.id);
    }
    log();
    log(`Delivery log of ${message.id} (${message.type}):`);
    log(`  delivery ${delivery.id}: ${delivery.status}, ${delivery.attempts} attempt(s)`);
    for (const a of (await webhooks.listAttempts(delivery.id)).data) {
      log(
        `  attempt ${a.number}: HTTP ${a.statusCode ?? '-'} in ${a.durationMs} ms (${a.trigger})${a.errorClass ? `, ${a.errorClass}` : ''}`,
      );
    }
    code = arrived.length === 3 && arrived.every((a) => a.verified) && delivery.status === 'succeeded' ? 0 : 1;

    const link = await app
      .get(PortalService)
      .createSession({ customerId: 'org_1', scope: 'manage', expiresIn: 8 * 3_600_000 });
    log();
    log(`Customer portal of org_1 (manage, 8 h): ${link.url}`);
    if (!existsSync(join(portalAssetsDir(), 'index.html')))
      log('  (the page needs `npm run build:portal` first; its API answers already)');
    if (serve) {
      log('Serving until Ctrl+C.');
      await new Promise<void>((resolve) => (stopServing = resolve));
    } else {
      log('  (run `npm run demo -- --serve` to keep the app serving and open it)');
    }
  } finally {
    await cleanup();
  }
  return code;
}

main().then(
  (code) => process.exit(code),
  (err: Error) => {
    // A refusal the demo explains is said in one line; anything else with its stack.
    console.error(err.message.startsWith('Port ') ? err.message : err);
    process.exit(1);
  },
);
