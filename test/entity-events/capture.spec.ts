import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { DataSource } from 'typeorm';
import { Order } from '../../demo/order.entity.js';
import { Subscription } from '../../demo/subscription.entity.js';
import { WebhookValidationError } from '../../src/errors/webhook-validation.error.js';
import { Crate, CrateItem } from '../fixtures/crate.js';
import { Panel, Ticket } from '../fixtures/entity-events.js';
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
      entities: [Order, Subscription, Crate, CrateItem, Panel, Ticket],
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

  it('insert() / QueryBuilder insert: the payload holds what the database generated or defaulted too', async () => {
    const o = newOrg();
    await ds.getRepository(Panel).insert({ owner: o, name: 'x' });
    await ds
      .createQueryBuilder()
      .insert()
      .into(Panel)
      .values({ owner: o, name: 'y', size: { w: 1 } })
      .execute();
    // Not the nullable columns left out (note, size.h, frame): only what was given and what came back.
    expect(await types(o)).toEqual([
      ['panel.created', { owner: o, name: 'x', id: expect.any(Number), hits: 7, deletedAt: null }],
      ['panel.created', { owner: o, name: 'y', size: { w: 1 }, id: expect.any(Number), hits: 7, deletedAt: null }],
    ]);
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
    const panels = ds.getRepository(Panel);
    const a = await panels.save({ owner: o, name: 'a' });
    const b = await panels.save({ owner: o, name: 'b' });
    await panels.delete({ id: b.id });
    await panels.remove(a);
    expect((await types(o)).map(([type, data]) => [type, data.name])).toEqual([
      ['panel.created', 'a'],
      ['panel.created', 'b'],
      ['panel.removed', 'a'],
    ]);
  });

  it('softRemove() captured; recover(), restore(), softDelete() by criteria, increment() and decrement() not', async () => {
    const o = newOrg();
    const panels = ds.getRepository(Panel);
    const a = await panels.save({ owner: o, name: 'a' });
    await panels.softRemove(a);
    await panels.recover(a);
    await panels.softDelete({ id: a.id });
    await panels.restore({ id: a.id });
    await panels.increment({ id: a.id }, 'hits', 5);
    await panels.decrement({ id: a.id }, 'hits', 2);
    expect((await panels.findOneByOrFail({ id: a.id })).hits).toBe(10);
    expect((await types(o)).map(([type]) => type)).toEqual(['panel.created', 'panel.soft_removed']);
  });

  it('save() / remove() / softRemove() with { transaction: false }: emit, after the row committed; warned once per change', async () => {
    const o = newOrg();
    const panels = ds.getRepository(Panel);
    const mark = logger.lines.length;
    const a = await panels.save({ owner: o, name: 'a' });
    const b = await panels.save({ owner: o, name: 'z' });
    await panels.save({ id: a.id, name: 'b' }, { transaction: false });
    await panels.save({ id: a.id, name: 'c' }, { transaction: false });
    await panels.remove(panels.create({ id: a.id }), { transaction: false });
    await panels.softRemove(panels.create({ id: b.id }), { transaction: false });
    expect((await types(o)).map(([type, data]) => [type, data.name])).toEqual([
      ['panel.created', 'a'],
      ['panel.created', 'z'],
      ['panel.updated', 'b'],
      ['panel.updated', 'c'],
      ['panel.removed', 'c'],
      ['panel.soft_removed', 'z'],
    ]);
    expect(logger.since(mark, 'warn')).toEqual([
      expect.stringMatching(
        /^Panel was updated outside a transaction \(save\(\) with \{ transaction: false \}\): the row/,
      ),
      expect.stringMatching(/^Panel was removed outside a transaction \(remove\(\) with \{ transaction: false \}\)/),
      expect.stringMatching(
        /^Panel was soft-removed outside a transaction \(softRemove\(\) with \{ transaction: false \}\)/,
      ),
    ]);
    // The gap: a send that fails leaves the row committed without its webhook.
    const owner = `unknown-${o}`;
    await expect(ds.getRepository(Ticket).save({ owner, subject: 's' }, { transaction: false })).rejects.toThrow(
      'tenant lookup failed',
    );
    expect(await ds.getRepository(Ticket).countBy({ owner })).toBe(1);
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
