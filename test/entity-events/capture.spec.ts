import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { DataSource } from 'typeorm';
import { Order } from '../../demo/order.entity.js';
import { Subscription } from '../../demo/subscription.entity.js';
import { WebhookValidationError } from '../../src/errors/webhook-validation.error.js';
import { Crate, CrateItem } from '../fixtures/crate.js';
import { WebhookMessage } from '../../src/database/entities/webhook-message.entity.js';
import { WebhookService } from '../../src/outbound/webhook.service.js';
import { FAST_OUTBOUND, startTestApp, type TestApp } from '../support/app.js';
import { CapturingLogger } from '../support/logger.js';
import { testDatabases } from '../support/databases.js';

/**
 * The capture table of docs/outbound.md, proven: which TypeORM operations give the declarative subscriber
 * a whole entity (and so emit), and which do not.
 */
describe.each(testDatabases())('what entity events capture on %s', (db) => {
  let t: TestApp;
  let ds: DataSource;
  let org = 0;
  const logger = new CapturingLogger();
  const types = async (customerId: string) =>
    (await ds.getRepository(WebhookMessage).find({ where: { customerId }, order: { id: 'ASC' } })).map((m) => [
      m.type,
      JSON.parse(m.body).data,
    ]);

  beforeAll(async () => {
    t = await startTestApp({
      db,
      entities: [Order, Subscription, Crate, CrateItem],
      webhooks: { role: 'emitter', outbound: FAST_OUTBOUND },
      logger,
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

  it("default payload: the entity's own columns and embeddeds; relations and other properties stay out", async () => {
    const o = newOrg();
    const crates = ds.getRepository(Crate);
    const crate = crates.create({ owner: o, label: 'tools', size: { width: 2, height: 3 }, scratch: 'in memory' });
    crate.items = [ds.getRepository(CrateItem).create({ owner: o, sku: 'hammer' })];
    const saved = await crates.save(crate);
    expect(await types(o)).toEqual([
      ['crate.packed', { id: saved.id, owner: o, label: 'tools', size: { width: 2, height: 3 } }],
    ]);
  });

  it('an async data() or a when() returning a Promise is refused, naming the declaration; the save rolls back', async () => {
    const o = newOrg();
    const failure = (p: Promise<unknown>) =>
      p.then(
        () => null,
        (e: unknown) => e as WebhookValidationError,
      );
    const added = await failure(ds.getRepository(CrateItem).save({ owner: o, sku: 'async-1' }));
    expect(added).toBeInstanceOf(WebhookValidationError);
    expect([added!.field, added!.message]).toEqual([
      'data',
      expect.stringMatching(/^@EmitsWebhook\(\{ on: 'insert', type: 'crate.item_added' \}\) of CrateItem: .*a Promise/),
    ]);
    expect(await ds.getRepository(CrateItem).countBy({ owner: o })).toBe(0);

    const crate = await ds.getRepository(Crate).save({ owner: o, label: 'a', size: { width: 1, height: 1 } });
    const moved = await failure(ds.getRepository(Crate).save({ ...crate, label: 'b' }));
    expect([moved instanceof WebhookValidationError && moved.field, (moved as Error).message]).toEqual([
      'when',
      expect.stringMatching(
        /^@EmitsWebhook\(\{ on: 'update', type: 'crate.moved' \}\) of Crate: when\(\) returned a Promise/,
      ),
    ]);
    expect((await ds.getRepository(Crate).findOneByOrFail({ id: crate.id })).label).toBe('a');
    expect((await types(o)).map(([type]) => type)).toEqual(['crate.packed']);
  });

  it('insert() outside a transaction: emits, and warns once that the row committed before its webhook', async () => {
    const o = newOrg();
    // A fresh object each time: insert() writes the generated id into the one it is given.
    const crate = () => ({ owner: o, label: 'x', size: { width: 1, height: 1 } });
    const mark = logger.lines.length;
    await ds.transaction((m) => m.insert(Crate, crate()));
    expect(logger.since(mark, 'warn')).toEqual([]);
    await ds.getRepository(Crate).insert(crate());
    await ds.getRepository(Crate).insert(crate());
    expect(logger.since(mark, 'warn')).toEqual([
      expect.stringMatching(
        /^Crate was inserted outside a transaction .*Use save\(\), or run the insert in manager\.transaction\(\)/,
      ),
    ]);
    expect((await types(o)).map(([type]) => type)).toEqual(['crate.packed', 'crate.packed', 'crate.packed']);
  });
});
