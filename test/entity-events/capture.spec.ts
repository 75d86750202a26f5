import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { DataSource } from 'typeorm';
import { Order } from '../../demo/order.entity.js';
import { Subscription } from '../../demo/subscription.entity.js';
import { WebhookMessage } from '../../src/database/entities/webhook-message.entity.js';
import { WebhookService } from '../../src/outbound/webhook.service.js';
import { FAST_OUTBOUND, startTestApp, type TestApp } from '../support/app.js';
import { testDatabases } from '../support/databases.js';

/**
 * The capture table of docs/outbound.md, proven: which TypeORM operations give the declarative subscriber
 * a whole entity (and so emit), and which do not.
 */
describe.each(testDatabases())('what entity events capture on %s', (db) => {
  let t: TestApp;
  let ds: DataSource;
  let org = 0;
  const types = async (customerId: string) =>
    (await ds.getRepository(WebhookMessage).find({ where: { customerId }, order: { id: 'ASC' } })).map((m) => [
      m.type,
      JSON.parse(m.body).data,
    ]);

  beforeAll(async () => {
    t = await startTestApp({
      db,
      entities: [Order, Subscription],
      webhooks: { role: 'emitter', outbound: FAST_OUTBOUND },
    });
    ds = t.app.get(DataSource);
    await t.app.get(WebhookService).createEndpoint({ url: 'https://example.com/hook' });
  });
  afterAll(async () => t?.close());

  const newOrg = () => `cap-${++org}`;

  it('save() of a new entity: insert captured', async () => {
    const o = newOrg();
    await ds.getRepository(Subscription).save({ userId: 'u', organizationId: o, plan: 'pro', status: 'active' });
    expect(await types(o)).toEqual([['subscription.created', expect.objectContaining({ plan: 'pro' })]]);
  });

  it('save() of a changed entity, even a partial object: update captured with the previous row', async () => {
    const o = newOrg();
    const order = await ds.getRepository(Order).save({ userId: 'u', organizationId: o, total: '5.00' });
    await ds.getRepository(Order).save({ id: order.id, status: 'completed' });
    expect(await types(o)).toEqual([
      ['order.completed', expect.objectContaining({ order_id: String(order.id), total: '5.00' })],
    ]);
  });

  it('repository.update() / QueryBuilder update: not captured (no entity, no previous row)', async () => {
    const o = newOrg();
    const order = await ds.getRepository(Order).save({ userId: 'u', organizationId: o, total: '5.00' });
    await ds.getRepository(Order).update({ id: order.id }, { status: 'completed' });
    await ds
      .createQueryBuilder()
      .update(Order)
      .set({ status: 'cancelled' })
      .where('id = :id', { id: order.id })
      .execute();
    expect(await types(o)).toEqual([]);
  });

  it('repository.insert(): insert captured with the values given', async () => {
    const o = newOrg();
    await ds.getRepository(Subscription).insert({ userId: 'u', organizationId: o, plan: 'basic', status: 'active' });
    expect(await types(o)).toEqual([['subscription.created', expect.objectContaining({ plan: 'basic' })]]);
  });

  it('upsert(): reported as an insert even when it updates an existing row', async () => {
    const o = newOrg();
    const subs = ds.getRepository(Subscription);
    const s = await subs.save({ userId: 'u', organizationId: o, plan: 'a', status: 'active' });
    await subs.upsert({ id: s.id, userId: 'u', organizationId: o, plan: 'b', status: 'active' }, ['id']);
    expect((await types(o)).map(([type, data]) => [type, data.plan])).toEqual([
      ['subscription.created', 'a'],
      ['subscription.created', 'b'],
    ]);
  });

  it('remove() captured; delete() not', async () => {
    const o = newOrg();
    const subs = ds.getRepository(Subscription);
    const a = await subs.save({ userId: 'u', organizationId: o, plan: 'a', status: 'active' });
    const b = await subs.save({ userId: 'u', organizationId: o, plan: 'b', status: 'active' });
    await subs.delete({ id: b.id });
    await subs.remove(a);
    expect((await types(o)).map(([type]) => type)).toEqual(['subscription.created', 'subscription.created']);
  });

  it('raw SQL: not captured', async () => {
    const o = newOrg();
    await ds.query(
      `INSERT INTO subscriptions (user_id, organization_id, plan, status) VALUES ('u', '${o}', 'raw', 'active')`,
    );
    expect(await types(o)).toEqual([]);
  });
});
