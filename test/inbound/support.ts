import { BullModule, getQueueToken } from '@nestjs/bull';
import type { Queue } from 'bull';
import { Injectable, type INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { TypeOrmModule } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { OnWebhook } from '../../src/decorators/on-webhook.decorator.js';
import type { WebhookContext } from '../../src/interfaces/webhook-context.interface.js';
import { WebhookInboxEntry } from '../../src/database/entities/webhook-inbox.entity.js';
import type { InboundSourceOptions } from '../../src/interfaces/inbound-source.interface.js';
import type { InboundOptions } from '../../src/interfaces/webhooks-options.interface.js';
import { WEBHOOKS_QUEUE } from '../../src/webhooks.constants.js';
import { WebhooksModule } from '../../src/webhooks.module.js';
import { migrate, startTestApp, type TestApp, type TestAppOptions } from '../support/app.js';
import { createTestDatabase, type DbKind } from '../support/databases.js';
import { eventually } from '../support/receiver.js';
import { deletePrefix, REDIS_URL, testPrefix } from '../support/redis.js';

/** One handler call as the fixture saw it. */
export interface Call {
  handler: string;
  data: unknown;
  ctx: WebhookContext;
}

/**
 * The fixture's handlers. `failures` makes the next N calls of an event type throw;
 * `delayMs` slows every call (to overlap concurrent duplicates); while `hold` is set, every call
 * waits for it.
 */
@Injectable()
export class RecordingHandlers {
  readonly calls: Call[] = [];
  readonly failures = new Map<string, number>();
  delayMs = 0;
  hold: Promise<void> | null = null;

  @OnWebhook('order.completed')
  async orderCompleted(data: unknown, ctx: WebhookContext) {
    await this.record('orderCompleted', data, ctx);
  }

  @OnWebhook('invoice.*', { source: 'stripe' })
  @OnWebhook(['invoice.paid', 'charge.succeeded'])
  async billing(data: unknown, ctx: WebhookContext) {
    await this.record('billing', data, ctx);
  }

  @OnWebhook('*', { source: 'github' })
  async github(data: unknown, ctx: WebhookContext) {
    await this.record('github', data, ctx);
  }

  @OnWebhook(['orders.create', 'slash_command', 'app_mention', 'fail.*', 'slow.*'])
  async misc(data: unknown, ctx: WebhookContext) {
    await this.record('misc', data, ctx);
  }

  count(type?: string): number {
    return this.calls.filter((c) => type === undefined || c.ctx.type === type).length;
  }

  private async record(handler: string, data: unknown, ctx: WebhookContext) {
    this.calls.push({ handler, data, ctx });
    if (this.delayMs) await new Promise((r) => setTimeout(r, this.delayMs));
    if (this.hold) await this.hold;
    const left = this.failures.get(ctx.type) ?? 0;
    if (left > 0) {
      this.failures.set(ctx.type, left - 1);
      throw new Error(`planned failure of ${ctx.type}`);
    }
  }
}

/** A second provider handling the same event, to show several handlers per event. */
@Injectable()
export class AuditHandlers {
  readonly seen: string[] = [];

  @OnWebhook('order.completed')
  audit(_data: unknown, ctx: WebhookContext) {
    this.seen.push(ctx.id);
  }
}

/** One source per built-in scheme, with a rotated-out secret listed first. */
export const SOURCES: Record<string, InboundSourceOptions> = {
  partner: {
    scheme: 'standard',
    secrets: ['whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD', 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw'],
  },
  orders: { scheme: 'hmac-sha256', secrets: ['old_secret', 'test_secret'] },
  stripe: { scheme: 'stripe', secrets: ['whsec_old_stripe', 'whsec_stripe_test'] },
  github: { scheme: 'github', secrets: ['old-gh', "It's a Secret to Everybody"] },
  shopify: { scheme: 'shopify', secrets: ['old-shop', 'shopify_secret'] },
  slack: { scheme: 'slack', secrets: ['old-slack', '8f742231b10e8888abcd99yyyzzz85a5'] },
};

/** Boots a real app (real database, Redis, HTTP listener on 127.0.0.1) with the fixture handlers. */
export async function startInboundApp(
  opts: Omit<TestAppOptions, 'webhooks'> & { inbound?: InboundOptions; role?: 'all' | 'emitter' | 'worker' },
): Promise<TestApp & { handlers: RecordingHandlers; audit: AuditHandlers }> {
  const test = await startTestApp({
    ...opts,
    http: opts.http ?? 'express',
    providers: [RecordingHandlers, AuditHandlers, ...(opts.providers ?? [])],
    webhooks: { role: opts.role, inbound: { sources: SOURCES, ...opts.inbound } },
  });
  const close = async () => {
    if (opts.role !== 'emitter') await workerStarted(test.app);
    await test.close();
  };
  return { ...test, close, handlers: test.app.get(RecordingHandlers), audit: test.app.get(AuditHandlers) };
}

/**
 * Waits until the worker's connection is named (Bull's getWorkers() lists it): its worker has
 * started, so a test that closes the app next closes a running worker.
 */
export async function workerStarted(app: INestApplication): Promise<void> {
  const queue = app.get<Queue>(getQueueToken(WEBHOOKS_QUEUE), { strict: false });
  await eventually(async () => ((await queue.getWorkers()) ?? []).length > 0, 5_000, 10);
}

/** Every inbox row, oldest first. */
export function inboxRows(app: INestApplication): Promise<WebhookInboxEntry[]> {
  return app
    .get(DataSource)
    .getRepository(WebhookInboxEntry)
    .find({ order: { receivedAt: 'ASC', id: 'ASC' } });
}

/** The adapters every HTTP suite runs on. */
export const ADAPTERS = ['express', 'fastify'] as const;

/**
 * An app created the way a user who forgot `{ rawBody: true }` would (startTestApp always sets
 * it), listening through the given adapter.
 */
export async function startAppWithoutRawBody(
  kind: DbKind,
  http: (typeof ADAPTERS)[number],
): Promise<Pick<TestApp, 'app' | 'close'>> {
  const db = await createTestDatabase(kind);
  await migrate(db);
  const prefix = testPrefix();
  const moduleRef = await Test.createTestingModule({
    imports: [
      TypeOrmModule.forRoot({ ...db.options, autoLoadEntities: true, logging: false } as any),
      BullModule.forRoot({ redis: REDIS_URL, prefix }),
      // `emitter`: this short-lived app never delivers, so no delivery worker races its shutdown.
      WebhooksModule.forRoot({ role: 'emitter', inbound: { sources: SOURCES } }),
    ],
    providers: [RecordingHandlers, AuditHandlers],
  }).compile();
  const { FastifyAdapter } = await import('@nestjs/platform-fastify');
  const app =
    http === 'fastify'
      ? moduleRef.createNestApplication(new FastifyAdapter() as any, { logger: false })
      : moduleRef.createNestApplication({ logger: false });
  await app.init();
  if (http === 'fastify') await (app as any).getHttpAdapter().getInstance().ready();
  return {
    app,
    async close() {
      await app.close();
      await deletePrefix(prefix);
      await db.drop();
    },
  };
}
