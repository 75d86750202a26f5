import { getQueueToken } from '@nestjs/bull';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Queue } from 'bull';
import { DataSource } from 'typeorm';
import { Order } from '../../demo/order.entity.js';
import { Subscription } from '../../demo/subscription.entity.js';
import { WebhookDelivery } from '../../src/database/entities/webhook-delivery.entity.js';
import { WebhookMessage } from '../../src/database/entities/webhook-message.entity.js';
import { CommitHook } from '../../src/outbound/commit.hook.js';
import { WebhookService } from '../../src/outbound/webhook.service.js';
import { WEBHOOKS_QUEUE } from '../../src/webhooks.constants.js';
import { FAST_OUTBOUND, startTestApp, type TestApp } from '../support/app.js';
import { testDatabases } from '../support/databases.js';
import { Receiver } from '../support/receiver.js';
import { Shipment, ShipmentWebhooks } from '../fixtures/shipment.js';

const settle = (ms = 300) => new Promise((r) => setTimeout(r, ms));

describe.each(testDatabases())('entity events and transactional send on %s', (db) => {
  let t: TestApp;
  let svc: WebhookService;
  let ds: DataSource;
  let queue: Queue;
  let receiver: Receiver;
  let tenant = 0;
  /** A fresh customer with one endpoint on the receiver; returns its id and its requests. */
  const newTenant = async () => {
    const customerId = `org-${++tenant}`;
    await svc.createEndpoint({ url: receiver.url(`/${customerId}`), customerId });
    return { customerId, requests: () => receiver.requests.filter((r) => r.url === `/${customerId}`) };
  };
  const bodies = (reqs: { body: string }[]) => reqs.map((r) => JSON.parse(r.body));
  const countRows = async (customerId: string) => ({
    messages: await ds.getRepository(WebhookMessage).countBy({ customerId }),
    deliveries: await ds
      .getRepository(WebhookDelivery)
      .createQueryBuilder('d')
      .innerJoin('d.message', 'm')
      .where('m.customer_id = :customerId', { customerId })
      .getCount(),
  });

  beforeAll(async () => {
    receiver = await new Receiver().start();
    t = await startTestApp({
      db,
      entities: [Order, Subscription, Shipment],
      providers: [ShipmentWebhooks],
      webhooks: { outbound: FAST_OUTBOUND },
    });
    svc = t.app.get(WebhookService);
    ds = t.app.get(DataSource);
    queue = t.app.get(getQueueToken(WEBHOOKS_QUEUE));
  });
  afterAll(async () => {
    await t?.close();
    await receiver?.stop();
  });

  it('emits order.completed on the transition to completed only, with the seed payload', async () => {
    const { customerId, requests } = await newTenant();
    const orders = ds.getRepository(Order);
    const order = await orders.save(orders.create({ userId: 'u1', organizationId: customerId, total: '42.50' }));
    order.status = 'completed';
    order.completedAt = new Date('2026-11-27T10:00:00Z');
    await orders.save(order);
    await receiver.waitFor(1);
    order.total = '43.00';
    await orders.save(order);
    await settle();
    expect(bodies(requests())).toEqual([
      {
        type: 'order.completed',
        timestamp: expect.any(String),
        data: { order_id: String(order.id), user_id: 'u1', total: '42.50', completed_at: '2026-11-27T10:00:00.000Z' },
      },
    ]);
  });

  it('emits subscription.created and subscription.updated', async () => {
    const { customerId, requests } = await newTenant();
    const subs = ds.getRepository(Subscription);
    const sub = await subs.save(
      subs.create({ userId: 'u2', organizationId: customerId, plan: 'pro', status: 'active' }),
    );
    await subs.save({ ...sub, status: 'past_due' });
    await settle();
    const got = bodies(requests()).map((b) => [b.type, b.data.plan, b.data.status]);
    expect(got.sort()).toEqual([
      ['subscription.created', 'pro', 'active'],
      ['subscription.updated', 'pro', 'past_due'],
    ]);
  });

  it('sends nothing for a rolled-back save', async () => {
    const { customerId, requests } = await newTenant();
    const order = await ds.getRepository(Order).save({ userId: 'u3', organizationId: customerId, total: '1.00' });
    await expect(
      ds.transaction(async (m) => {
        await m.save(Order, { ...order, status: 'completed' });
        throw new Error('payment declined');
      }),
    ).rejects.toThrow('payment declined');
    await settle();
    expect(await countRows(customerId)).toEqual({ messages: 0, deliveries: 0 });
    expect(requests()).toHaveLength(0);
    expect((await ds.getRepository(Order).findOneByOrFail({ id: order.id })).status).toBe('pending');
  });

  it('registers a DI subscriber once and it emits through the save transaction', async () => {
    const registered = ds.subscribers.filter((s) => s instanceof ShipmentWebhooks);
    expect(registered).toEqual([t.app.get(ShipmentWebhooks)]);
    await svc.createEndpoint({ url: receiver.url('/shipments'), eventTypes: ['shipment.*'] });
    const shipments = ds.getRepository(Shipment);
    const s = await shipments.save({ carrier: 'ups' });
    await shipments.save({ ...s, state: 'sent' });
    await shipments.save({ ...s, state: 'sent', carrier: 'dhl' });
    await settle();
    const types = bodies(receiver.requests.filter((r) => r.url === '/shipments'))
      .map((b) => b.type)
      .sort();
    expect(types).toEqual(['shipment.created', 'shipment.state_changed']);
  });

  const transactionKinds: [string, (work: (m: import('typeorm').EntityManager) => Promise<void>) => Promise<void>][] = [
    ['DataSource.transaction', (work) => ds.transaction(work)],
    ['manager.transaction', (work) => ds.manager.transaction(work)],
    [
      'a QueryRunner-managed transaction',
      async (work) => {
        const qr = ds.createQueryRunner();
        await qr.connect();
        await qr.startTransaction();
        try {
          await work(qr.manager);
          await qr.commitTransaction();
        } catch (err) {
          await qr.rollbackTransaction();
          throw err;
        } finally {
          await qr.release();
        }
      },
    ],
  ];

  it.each(transactionKinds)('enqueues only after the commit of %s', async (_kind, inTransaction) => {
    const { customerId, requests } = await newTenant();
    let ids: string[] = [];
    await inTransaction(async (m) => {
      ids = (await svc.send('invoice.paid', { n: 1 }, { customerId, manager: m })).deliveryIds;
      await settle(150);
      // Not in Redis yet: a job must never run before its rows are visible.
      expect(await queue.getJob(ids[0])).toBeNull();
      expect(requests()).toHaveLength(0);
    });
    await receiver.waitFor(receiver.requests.length + 0);
    await expectDelivered(ids[0]);
    expect(requests()).toHaveLength(1);
  });

  it.each(transactionKinds)(
    'stores, enqueues and delivers nothing when %s rolls back',
    async (_kind, inTransaction) => {
      const { customerId, requests } = await newTenant();
      let ids: string[] = [];
      await expect(
        inTransaction(async (m) => {
          ids = (await svc.send('invoice.paid', {}, { customerId, manager: m })).deliveryIds;
          throw new Error('rollback');
        }),
      ).rejects.toThrow('rollback');
      await settle();
      expect(ids).toHaveLength(1);
      expect(await queue.getJob(ids[0])).toBeNull();
      expect(await countRows(customerId)).toEqual({ messages: 0, deliveries: 0 });
      expect(requests()).toHaveLength(0);
    },
  );

  it('releasing a savepoint enqueues nothing; the outer commit enqueues all', async () => {
    const { customerId, requests } = await newTenant();
    const ids: string[] = [];
    await ds.transaction(async (outer) => {
      await outer.transaction(async (inner) => {
        ids.push(...(await svc.send('a.inner', {}, { customerId, manager: inner })).deliveryIds);
      });
      await settle(150);
      expect(await queue.getJob(ids[0])).toBeNull();
      ids.push(...(await svc.send('a.outer', {}, { customerId, manager: outer })).deliveryIds);
    });
    for (const id of ids) await expectDelivered(id);
    expect(
      bodies(requests())
        .map((b) => b.type)
        .sort(),
    ).toEqual(['a.inner', 'a.outer']);
  });

  it("holds a transaction's many sends in linear time, and a savepoint of 150,000 deliveries is released", async () => {
    // What 20,000 sends and one fan-out to 150,000 endpoints hand the hook, on a real savepoint.
    // Copying the held ids at each send took ~40 s for the 20,000; merging them with
    // push(...ids) threw a RangeError at the release, which rolled the app's transaction back.
    const hook = t.app.get(CommitHook);
    const runner = ds.createQueryRunner();
    await runner.startTransaction();
    try {
      await runner.startTransaction();
      for (let i = 0; i < 20_000; i++) hook.hold(runner, [`dlv_a${i}`, `dlv_b${i}`, `dlv_c${i}`]);
      hook.hold(
        runner,
        Array.from({ length: 150_000 }, (_, i) => `dlv_fan${i}`),
      );
      await runner.commitTransaction(); // releases the savepoint
      const held = (hook as unknown as { pending: WeakMap<object, Map<number, string[]>> }).pending.get(runner);
      expect([...held!.entries()].map(([level, ids]) => [level, ids.length])).toEqual([[1, 210_000]]);
    } finally {
      await runner.rollbackTransaction(); // the ids are made up: nothing is published
      await runner.release();
    }
  });

  it('an outer rollback discards what inner savepoints produced', async () => {
    const { customerId, requests } = await newTenant();
    await expect(
      ds.transaction(async (outer) => {
        await outer.transaction(async (inner) => {
          await svc.send('b.inner', {}, { customerId, manager: inner });
        });
        throw new Error('outer fails');
      }),
    ).rejects.toThrow('outer fails');
    await settle();
    expect(await countRows(customerId)).toEqual({ messages: 0, deliveries: 0 });
    expect(requests()).toHaveLength(0);
  });

  it('an inner rollback drops only its own sends', async () => {
    const { customerId, requests } = await newTenant();
    let kept: string[] = [];
    await ds.transaction(async (outer) => {
      await outer
        .transaction(async (inner) => {
          await svc.send('c.inner', {}, { customerId, manager: inner });
          throw new Error('inner fails');
        })
        .catch(() => undefined);
      kept = (await svc.send('c.outer', {}, { customerId, manager: outer })).deliveryIds;
    });
    await expectDelivered(kept[0]);
    await settle();
    expect(bodies(requests()).map((b) => b.type)).toEqual(['c.outer']);
    expect(await countRows(customerId)).toEqual({ messages: 1, deliveries: 1 });
  });

  it('re-enqueues a pending delivery whose job vanished (reconciler)', async () => {
    const { customerId, requests } = await newTenant();
    const outbox = t.app.get((await import('../../src/outbound/outbox.relay.js')).OutboxRelay);
    // Rows marked enqueued, but no job in Redis: what a Redis restart without persistence leaves.
    const ids = await ds.transaction(async (m) => {
      const r = await svc.send('d.lost', {}, { customerId, manager: m });
      return r.deliveryIds;
    });
    await expectDelivered(ids[0]);
    await ds
      .getRepository(WebhookDelivery)
      .update({ id: ids[0] }, { status: 'pending', enqueuedAt: new Date(Date.now() - 10_000) });
    expect(await queue.getJob(ids[0])).toBeNull();
    expect(await outbox.reconcile()).toBeGreaterThanOrEqual(1);
    await expectDelivered(ids[0]);
    expect(requests()).toHaveLength(2);
  });

  it('unregisters its subscribers at shutdown', async () => {
    const other = await startTestApp({
      db: t.db,
      prefix: t.prefix,
      entities: [Order, Subscription, Shipment],
      providers: [ShipmentWebhooks],
      webhooks: { outbound: FAST_OUTBOUND },
    });
    const otherDs = other.app.get(DataSource);
    // On SQLite the TransactionRunner listens too: it isolates the module's transactions on the shared connection.
    const expected = [
      'CommitHook',
      'EntityWebhooksSubscriber',
      'ShipmentWebhooks',
      ...(db === 'postgres' ? [] : ['TransactionRunner']),
    ];
    expect(otherDs.subscribers.map((s) => s.constructor.name).sort()).toEqual(expected);
    await other.app.close();
    expect(otherDs.subscribers).toEqual([]);
  });

  async function expectDelivered(id: string) {
    const until = Date.now() + 10_000;
    for (;;) {
      const d = await ds.getRepository(WebhookDelivery).findOneBy({ id });
      if (d?.status === 'succeeded') return;
      if (Date.now() > until) throw new Error(`delivery ${id} is ${d?.status}`);
      await settle(50);
    }
  }
});
