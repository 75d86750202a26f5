/**
 * A user's app, as the README's Quick start writes it, against the packed tarball: it imports
 * `nestjs-webhooks` and `nestjs-webhooks/testing` by name (so `exports`, `files` and the
 * declarations are what a user gets), saves an entity whose `@EmitsWebhook` delivers to a local
 * receiver, and posts a signed call to an `@OnWebhook` handler. Exits 1 on any miss.
 */
import 'reflect-metadata';
import { BullModule } from '@nestjs/bull';
import { Injectable, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { TypeOrmModule } from '@nestjs/typeorm';
import { Redis } from 'ioredis';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Column, DataSource, Entity, PrimaryGeneratedColumn } from 'typeorm';
import {
  EmitsWebhook,
  OnWebhook,
  verifyStandardSignature,
  WEBHOOK_MIGRATIONS,
  WebhookService,
  WebhooksModule,
  type WebhookContext,
} from 'nestjs-webhooks';
import { postWebhook } from 'nestjs-webhooks/testing';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const PREFIX = `pack-check-${process.pid}`;
const SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';

@Entity('orders')
@EmitsWebhook<Order>({ on: 'insert', type: 'order.created', data: (o) => ({ order_id: o.id, total: o.total }) })
class Order {
  @PrimaryGeneratedColumn() id: number;
  @Column() total: number;
}

@Injectable()
class PaymentHandlers {
  readonly seen: { data: unknown; type: string; id: string }[] = [];
  @OnWebhook('payment.*')
  onPayment(data: unknown, ctx: WebhookContext) {
    this.seen.push({ data, type: ctx.type, id: ctx.id });
  }
}

async function main(): Promise<number> {
  const database = process.argv[2];
  const arrived: { body: string; verified: boolean }[] = [];
  let endpointSecret = '';
  const receiver = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const header = (name: string) => String(req.headers[name] ?? '');
      const verified = verifyStandardSignature(
        header('webhook-signature'),
        [endpointSecret],
        header('webhook-id'),
        Number(header('webhook-timestamp')),
        body,
      );
      arrived.push({ body, verified });
      res.end();
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));

  @Module({
    imports: [
      TypeOrmModule.forRoot({
        type: 'better-sqlite3',
        database,
        prepareDatabase: (db: { pragma(s: string): unknown }) => void db.pragma('journal_mode = WAL'),
        autoLoadEntities: true,
        entities: [Order],
        synchronize: true, // the app's own table; the module's come from its migrations
        migrations: [...WEBHOOK_MIGRATIONS],
        migrationsRun: true,
      }),
      BullModule.forRoot({ redis: REDIS_URL, prefix: PREFIX }),
      WebhooksModule.forRoot({
        outbound: { network: { allow: ['127.0.0.1/32'] } },
        inbound: { sources: { partner: { scheme: 'standard', secrets: [SECRET] } } },
      }),
    ],
    providers: [PaymentHandlers],
  })
  class AppModule {}

  const app = await NestFactory.create(AppModule, { rawBody: true, logger: ['error', 'warn'] });
  app.enableShutdownHooks();
  const failures: string[] = [];
  try {
    await app.init();
    const webhooks = app.get(WebhookService);
    const endpoint = await webhooks.createEndpoint({
      url: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/orders`,
      eventTypes: ['order.*'],
    });
    endpointSecret = endpoint.secret;
    const order = await app.get(DataSource).getRepository(Order).save({ total: 42 });
    for (let i = 0; i < 100 && arrived.length === 0; i++) await new Promise((r) => setTimeout(r, 100));
    const got = arrived[0];
    if (!got) failures.push('the order.created delivery did not arrive within 10 s');
    else {
      if (!got.verified) failures.push('the delivery arrived with a signature that does not verify');
      const body = JSON.parse(got.body);
      if (body.type !== 'order.created' || body.data?.order_id !== order.id)
        failures.push(`unexpected delivery body ${got.body}`);
    }

    const res = await postWebhook(app, 'partner', { type: 'payment.completed', data: { id: 'pay_1' } });
    const seen = app.get(PaymentHandlers).seen;
    if (res.status !== 200) failures.push(`the signed call was answered ${res.status}: ${res.text}`);
    if (seen.length !== 1 || (seen[0].data as { id?: string })?.id !== 'pay_1')
      failures.push(`handler saw ${JSON.stringify(seen)}`);
    const forged = await postWebhook(
      app,
      'partner',
      { type: 'payment.completed', data: {} },
      { secret: 'whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD' },
    );
    if (forged.status !== 401 || seen.length !== 1)
      failures.push(`a call signed with another secret was answered ${forged.status}`);
  } finally {
    await app.close();
    receiver.close();
    const redis = new Redis(REDIS_URL);
    const keys = await redis.keys(`${PREFIX}:*`);
    if (keys.length) await redis.del(...keys);
    redis.disconnect();
  }
  for (const f of failures) console.error(`pack check: ${f}`);
  if (!failures.length)
    console.log('pack check: the packed module delivered a verified order.created and ran the @OnWebhook handler');
  return failures.length ? 1 : 0;
}

process.exitCode = await main().catch((e: unknown) => {
  console.error('pack check:', e);
  return 1;
});
