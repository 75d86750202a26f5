import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { DataSource } from 'typeorm';
import { declaredWebhooks, EmitsWebhook } from '../../src/decorators/emits-webhook.decorator.js';
import { WebhookMessage } from '../../src/database/entities/webhook-message.entity.js';
import { WebhooksConfigError } from '../../src/errors/webhooks-config.error.js';
import { WebhookService } from '../../src/outbound/webhook.service.js';
import { FAST_OUTBOUND, startTestApp, type TestApp } from '../support/app.js';
import { testDatabases } from '../support/databases.js';
import { Doc, DocBase, Memo, Panel, panelSeen, Stray, Ticket, UrgentMemo } from '../fixtures/entity-events.js';

/**
 * What `@EmitsWebhook` declarations emit: inherited ones, the state an update or removal is
 * reported with, callbacks that throw, and the boot check of strictEventTypes.
 */
describe('@EmitsWebhook declarations up the class chain', () => {
  const types = (target: Function, change: 'insert' | 'update' | 'remove' | 'softRemove') =>
    declaredWebhooks(target, change).map((d) => d.type);

  it("a subclass with declarations of its own keeps its base's, the base's first", () => {
    expect([types(Doc, 'insert'), types(Doc, 'update')]).toEqual([['base.created'], ['doc.updated']]);
    expect([types(DocBase, 'insert'), types(DocBase, 'update')]).toEqual([['base.created'], []]);
  });

  it('a class without declarations of its own adds none, and its subclasses get each once', () => {
    class Middle extends Doc {}
    @EmitsWebhook({ on: 'insert', type: 'leaf.created' })
    class Leaf extends Middle {}
    class Bare extends Leaf {}
    expect([types(Middle, 'insert'), types(Leaf, 'insert'), types(Bare, 'insert')]).toEqual([
      ['base.created'],
      ['base.created', 'leaf.created'],
      ['base.created', 'leaf.created'],
    ]);
    expect(types(Bare, 'update')).toEqual(['doc.updated']);
  });

  it('the same declaration on a base and on its subclass is two declarations', () => {
    expect([types(Memo, 'insert'), types(UrgentMemo, 'insert')]).toEqual([
      ['memo.created'],
      ['memo.created', 'memo.created'],
    ]);
  });
});

describe.each(testDatabases())('@EmitsWebhook declarations on %s', (db) => {
  let t: TestApp;
  let ds: DataSource;
  let n = 0;
  const owner = (what: string) => `${what}-${++n}`;
  const sent = async (customerId: string) =>
    (await ds.getRepository(WebhookMessage).find({ where: { customerId }, order: { id: 'ASC' } })).map(
      (m) => [m.type, JSON.parse(m.body).data] as [string, any],
    );
  const failure = (p: Promise<unknown>) =>
    p.then(
      () => null,
      (e: unknown) => e as Error,
    );
  /** The error a boot fails with, or null (the app then closed again). */
  const bootFailure = (p: Promise<TestApp>) => failure(p.then((app) => app.close()));

  beforeAll(async () => {
    t = await startTestApp({
      db,
      entities: [Doc, Memo, UrgentMemo, Panel, Ticket],
      webhooks: { role: 'emitter', outbound: FAST_OUTBOUND },
    });
    ds = t.app.get(DataSource);
    await t.app.get(WebhookService).createEndpoint({ url: 'https://example.com/hook' });
  });
  afterAll(async () => t?.close());

  describe('inherited declarations', () => {
    it("an entity emits its base class's insert webhook beside its own update webhook", async () => {
      const o = owner('doc');
      const docs = ds.getRepository(Doc);
      const doc = await docs.save({ owner: o, title: 'draft' });
      await docs.save({ id: doc.id, title: 'final' });
      expect((await sent(o)).map(([type, data]) => [type, data.title])).toEqual([
        ['base.created', 'draft'],
        ['doc.updated', 'final'],
      ]);
    });

    it('a declaration on both an entity and its subclass emits twice for the subclass', async () => {
      const o = owner('memo');
      await ds.getRepository(Memo).save({ owner: o });
      await ds.getRepository(UrgentMemo).save({ owner: o });
      expect((await sent(o)).map(([type]) => type)).toEqual(['memo.created', 'memo.created', 'memo.created']);
    });
  });

  describe('the state an update or removal is reported with', () => {
    const start = (o: string) => ({
      owner: o,
      name: 'a',
      note: 'kept',
      size: { w: 1, h: 2 },
      frame: { color: 'red', inner: { w: 3, h: 4 } },
    });
    const whenSaw = (change: string) => panelSeen.filter((s) => s.change === change).at(-1);

    it("a partial embedded is merged column by column with the row: TypeORM's nulls are not the row", async () => {
      const o = owner('panel');
      const panels = ds.getRepository(Panel);
      const { id } = await panels.save(start(o));
      await panels.save({ id, size: { w: 5 } });
      const row = { id, owner: o, name: 'a', note: 'kept', hits: 7, size: { w: 5, h: 2 } };
      expect(await panels.findOneByOrFail({ id })).toMatchObject(row);
      const [, [, data]] = await sent(o);
      expect(data).toMatchObject({ ...row, frame: { color: 'red', inner: { w: 3, h: 4 } } });
      // when() sees the same state, and the previous row unchanged by it.
      expect(whenSaw('update')).toMatchObject({
        entity: { size: { w: 5, h: 2 }, note: 'kept' },
        previous: { size: { w: 1, h: 2 }, note: 'kept' },
      });
    });

    it('one column of a nested embedded, a top-level column, an explicit null', async () => {
      const o = owner('panel');
      const panels = ds.getRepository(Panel);
      const { id } = await panels.save(start(o));
      await panels.save({ id, frame: { inner: { h: 9 } } });
      await panels.save({ id, name: 'b' });
      await panels.save({ id, note: null, size: { h: null } });
      const updates = (await sent(o)).slice(1).map(([, data]) => [data.name, data.note, data.size, data.frame]);
      expect(updates).toEqual([
        ['a', 'kept', { w: 1, h: 2 }, { color: 'red', inner: { w: 3, h: 9 } }],
        ['b', 'kept', { w: 1, h: 2 }, { color: 'red', inner: { w: 3, h: 9 } }],
        ['b', null, { w: 1, h: null }, { color: 'red', inner: { w: 3, h: 9 } }],
      ]);
    });

    it('a partial { id, name } save gives the whole row; an unchanged save emits nothing', async () => {
      const o = owner('panel');
      const panels = ds.getRepository(Panel);
      const { id } = await panels.save(start(o));
      await panels.save({ id, name: 'b' });
      await panels.save({ id, name: 'b' });
      const all = await sent(o);
      expect(all.map(([type]) => type)).toEqual(['panel.created', 'panel.updated']);
      expect(all[1][1]).toEqual({
        id,
        owner: o,
        name: 'b',
        note: 'kept',
        hits: 7,
        size: { w: 1, h: 2 },
        frame: { color: 'red', inner: { w: 3, h: 4 } },
        deletedAt: null,
      });
    });

    it('remove() of a stale or partial object reports the row removed', async () => {
      const o = owner('panel');
      const panels = ds.getRepository(Panel);
      const { id } = await panels.save(start(o));
      const stale = panels.create({ id, owner: o, name: 'stale', size: { w: 99 } as never });
      await panels.remove(stale);
      const [, [type, data]] = await sent(o);
      expect([type, data]).toEqual([
        'panel.removed',
        expect.objectContaining({ id, name: 'a', note: 'kept', size: { w: 1, h: 2 } }),
      ]);
      expect(whenSaw('remove')).toMatchObject({ entity: { name: 'a', size: { w: 1, h: 2 } } });
    });

    it('softRemove() of a partial object reports the row with its delete date', async () => {
      const o = owner('panel');
      const panels = ds.getRepository(Panel);
      const { id } = await panels.save(start(o));
      await panels.softRemove(panels.create({ id }));
      const [, [type, data]] = await sent(o);
      expect([type, data]).toEqual([
        'panel.soft_removed',
        expect.objectContaining({
          id,
          owner: o,
          note: 'kept',
          size: { w: 1, h: 2 },
          frame: { color: 'red', inner: { w: 3, h: 4 } },
          deletedAt: expect.any(String),
        }),
      ]);
      expect(whenSaw('softRemove')).toMatchObject({ entity: { note: 'kept' }, previous: { deletedAt: null } });
    });
  });

  describe("an error of a declaration's callback", () => {
    it('names the entity and declaration, keeps the error as its cause, and rolls the save back', async () => {
      const tickets = ds.getRepository(Ticket);
      const o = owner('unknown');
      const lookup = await failure(tickets.save({ owner: o, subject: 's' }));
      expect([lookup?.message, (lookup?.cause as Error)?.message]).toEqual([
        "@EmitsWebhook({ on: 'insert', type: 'ticket.opened' }) of Ticket: customerId() threw: tenant lookup failed",
        'tenant lookup failed',
      ]);
      expect(await tickets.countBy({ owner: o })).toBe(0);

      const p = owner('ticket');
      const payload = await failure(tickets.save({ owner: p, subject: 'bad-data' }));
      expect(payload?.message).toBe(
        "@EmitsWebhook({ on: 'insert', type: 'ticket.opened' }) of Ticket: data() threw: payload build failed",
      );
      expect(await tickets.countBy({ owner: p })).toBe(0);

      const ticket = await tickets.save({ owner: p, subject: 'ok' });
      const when = await failure(tickets.save({ id: ticket.id, subject: 'bad-when' }));
      expect([when?.message, when?.cause]).toEqual([
        `@EmitsWebhook({ on: 'update', type: 'ticket.closed' }) of Ticket: when() threw: "not an Error"`,
        'not an Error',
      ]);
      expect((await tickets.findOneByOrFail({ id: ticket.id })).subject).toBe('ok');
      expect((await sent(p)).map(([type]) => type)).toEqual(['ticket.opened']);
    });
  });

  describe('strictEventTypes and the declared types', () => {
    const strict = (names: string[]) => ({
      role: 'emitter' as const,
      outbound: FAST_OUTBOUND,
      strictEventTypes: true,
      eventTypes: names.map((name) => ({ name })),
    });

    it('a declared type missing from the catalog fails the boot, naming the entity, type and what to change', async () => {
      const boot = await bootFailure(startTestApp({ db, entities: [Stray], webhooks: strict(['stray.created']) }));
      expect(boot).toBeInstanceOf(WebhooksConfigError);
      expect(boot?.message).toBe(
        "WebhooksModule: entity Stray declares @EmitsWebhook({ on: 'update', type: 'stray.changed' }), but " +
          '"stray.changed" is not in the eventTypes catalog, and strictEventTypes is on, so every such change of ' +
          "Stray would fail. Add { name: 'stray.changed' } to eventTypes, or correct the type in the decorator.",
      );
    });

    it("only the DataSource's entities are checked, inherited declarations too", async () => {
      // Panel, Ticket, Memo… are loaded in this process, but not entities of this DataSource.
      const app = await startTestApp({
        db,
        entities: [Stray, Doc],
        webhooks: strict(['stray.created', 'stray.changed', 'base.created', 'doc.updated']),
      });
      try {
        const o = owner('stray');
        await app.app.get(WebhookService).createEndpoint({ url: 'https://example.com/hook' });
        const appDs = app.app.get(DataSource);
        await appDs.getRepository(Stray).save({ owner: o });
        const types = await appDs.getRepository(WebhookMessage).findBy({ customerId: o });
        expect(types.map((m) => m.type)).toEqual(['stray.created']);
      } finally {
        await app.close();
      }
      const boot = await bootFailure(startTestApp({ db, entities: [Doc], webhooks: strict(['doc.updated']) }));
      expect(boot?.message).toMatch(
        /^WebhooksModule: entity Doc declares @EmitsWebhook\(\{ on: 'insert', type: 'base\.created' \}\)/,
      );
    });
  });
});
