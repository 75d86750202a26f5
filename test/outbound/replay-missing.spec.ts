import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { DataSource, type EntityManager } from 'typeorm';
import { WebhookDelivery } from '../../src/database/entities/webhook-delivery.entity.js';
import { WebhookValidationError } from '../../src/errors/webhook-validation.error.js';
import { newId } from '../../src/database/ids.js';
import { forDriver, rows, SQLITE } from '../../src/database/sql.js';
import { DELIVERY_ROWS_PER_INSERT } from '../../src/outbound/message.store.js';
import { WebhookService } from '../../src/outbound/webhook.service.js';
import { FAST_OUTBOUND, startTestApp, type TestApp } from '../support/app.js';
import { testDatabases } from '../support/databases.js';
import { eventually, Receiver } from '../support/receiver.js';
import { WebhookNotFoundError } from '../../src/errors/webhook-not-found.error.js';

const tick = () => new Promise((resolve) => setTimeout(resolve, 5));

describe.each(testDatabases())('replayMissing on %s', (db) => {
  let t: TestApp;
  let svc: WebhookService;
  let receiver: Receiver;
  const requestsTo = (path: string) => receiver.requests.filter((r) => r.url === path);

  beforeAll(async () => {
    receiver = await new Receiver().start();
    t = await startTestApp({ db, webhooks: { outbound: FAST_OUTBOUND } });
    svc = t.app.get(WebhookService);
  });
  afterAll(async () => {
    await t?.close();
    await receiver?.stop();
  });

  /**
   * Runs `test` in an emitter app of its own (no worker posts its deliveries, no relay enqueues
   * them) with one endpoint of customer `name` at https://example.com/<name>.
   */
  async function inEmitter(
    name: string,
    eventTypes: string[],
    test: (service: WebhookService, ds: DataSource, endpointId: string) => Promise<void>,
  ): Promise<void> {
    const e = await startTestApp({
      db,
      webhooks: { role: 'emitter', outbound: { ...FAST_OUTBOUND, relayIntervalMs: 3_600_000 } },
    });
    try {
      const service = e.app.get(WebhookService);
      const ep = await service.createEndpoint({ url: `https://example.com/${name}`, customerId: name, eventTypes });
      await test(service, e.app.get(DataSource), ep.id);
    } finally {
      await e.close();
    }
  }

  it('leaves out a message sent to one endpoint alone (a test event): it was never meant for the others', async () => {
    await inEmitter('targeted', ['*'], async (service, _ds, first) => {
      const since = new Date(Date.now() - 1_000);
      const test = await service.send('order.test', { test: true }, { customerId: 'targeted', endpointId: first });
      const fanned = await service.send('order.real', { n: 1 }, { customerId: 'targeted' });
      expect((await service.getMessage(test.messageId)).endpointId).toBe(first);
      expect((await service.getMessage(fanned.messageId)).endpointId).toBeNull();
      const second = await service.createEndpoint({ url: 'https://example.com/second', customerId: 'targeted' });
      const { deliveryIds } = await service.replayMissing({ endpointId: second.id, since });
      const replayed = await Promise.all(deliveryIds.map((id) => service.getDelivery(id)));
      expect(replayed.map((d) => d.messageId)).toEqual([fanned.messageId]);
    });
  });

  it('delivers what an endpoint missed while disabled: disable, send 3, re-enable, replay, 3 arrive', async () => {
    const ep = await svc.createEndpoint({
      url: receiver.url('/missed'),
      customerId: 'replay',
      eventTypes: ['order.*'],
    });
    const since = new Date();
    const before = await svc.send('order.created', { n: 0 }, { customerId: 'replay' });
    await receiver.waitFor(1);

    await svc.updateEndpoint(ep.id, { enabled: false });
    const missed = [];
    for (let n = 1; n <= 3; n++) missed.push(await svc.send('order.created', { n }, { customerId: 'replay' }));
    expect(missed.map((s) => s.deliveryIds)).toEqual([[], [], []]);
    // Not for this endpoint: another type, another customer, no customer.
    await svc.send('invoice.paid', {}, { customerId: 'replay' });
    await svc.send('order.created', {}, { customerId: 'replay-other' });
    await svc.send('order.created', {});

    await svc.updateEndpoint(ep.id, { enabled: true });
    const { deliveryIds } = await svc.replayMissing({ endpointId: ep.id, since });
    expect(deliveryIds).toHaveLength(3);
    await eventually(() => requestsTo('/missed').length >= 4);
    const arrived = requestsTo('/missed').slice(1);
    expect(arrived.map((r) => r.headers['webhook-id']).sort()).toEqual(missed.map((s) => s.messageId).sort());
    expect(arrived.map((r) => JSON.parse(r.body).data.n).sort()).toEqual([1, 2, 3]);
    for (const id of deliveryIds) await eventually(async () => (await svc.getDelivery(id)).status === 'succeeded');

    // Nothing is missing any more, and the message delivered before was never in question.
    expect(await svc.replayMissing({ endpointId: ep.id, since })).toEqual({ deliveryIds: [] });
    expect((await svc.listDeliveries({ messageId: before.messageId })).data).toHaveLength(1);
    expect(requestsTo('/missed')).toHaveLength(4);
  });

  it('takes only messages created in [since, until), for an endpoint without a customer', async () => {
    const ep = await svc.createEndpoint({ url: receiver.url('/window'), enabled: false });
    await tick();
    const sent = [];
    for (let n = 0; n < 3; n++) {
      sent.push(await svc.send('window.check', { n }));
      await tick();
    }
    await svc.send('window.check', { n: 'customer' }, { customerId: 'window-other' });
    const [first, second, third] = await Promise.all(sent.map((s) => svc.getMessage(s.messageId)));
    expect(third.createdAt.getTime()).toBeGreaterThan(second.createdAt.getTime());
    await svc.updateEndpoint(ep.id, { enabled: true });

    const { deliveryIds } = await svc.replayMissing({
      endpointId: ep.id,
      since: first.createdAt,
      until: third.createdAt,
    });
    const replayed = await Promise.all(deliveryIds.map((id) => svc.getDelivery(id)));
    expect(replayed.map((d) => d.messageId).sort()).toEqual([first.id, second.id].sort());
    expect(replayed.every((d) => d.endpointId === ep.id)).toBe(true);
    await eventually(() => requestsTo('/window').length >= 2);
  });

  it('refuses a disabled endpoint and bad input, writing nothing', async () => {
    const ep = await svc.createEndpoint({ url: receiver.url('/refused'), customerId: 'refused', enabled: false });
    await svc.send('refused.one', {}, { customerId: 'refused' });
    const since = new Date(Date.now() - 60_000);
    await expect(svc.replayMissing({ endpointId: ep.id, since })).rejects.toThrow(
      /is disabled; re-enable it with updateEndpoint before replaying/,
    );
    await expect(svc.replayMissing({ endpointId: 'ep_missing', since })).rejects.toBeInstanceOf(WebhookNotFoundError);
    const bad: [unknown, string][] = [
      [{ endpointId: ep.id, since: 'yesterday' }, 'since'],
      [{ endpointId: ep.id, since: new Date(Number.NaN) }, 'since'],
      [{ endpointId: ep.id, since, until: since }, 'until'],
      [{ endpointId: ep.id, since, until: 'now' }, 'until'],
      [{ endpointId: 42, since }, 'endpointId'],
      [undefined, 'options'],
    ];
    for (const [opts, field] of bad) {
      const err = await svc.replayMissing(opts as never).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(WebhookValidationError);
      expect(err).toMatchObject({ field });
    }
    expect((await svc.listDeliveries({ endpointId: ep.id })).data).toEqual([]);
  });

  it('pages through more messages than one batch, with many made in the same millisecond', async () => {
    await inEmitter('paged', ['keep.*'], async (service, ds, endpointId) => {
      const count = 2 * DELIVERY_ROWS_PER_INSERT + 500;
      const at = Date.now() - 1_000;
      // Every other message matches the filter; all share one created_at, so pages go by id.
      const ids = Array.from({ length: count }, () => newId('msg', at));
      for (let from = 0; from < count; from += 1_000) {
        const batch = ids.slice(from, from + 1_000);
        await ds.query(
          forDriver(
            `INSERT INTO webhook_messages (id, type, customer_id, body, created_at) VALUES ${rows(batch.length, '(?, ?, ?, ?, ?)')}`,
            SQLITE.has(ds.options.type),
          ),
          batch.flatMap((id, i) => [id, (from + i) % 2 ? 'skip.it' : 'keep.it', 'paged', '{}', at]),
        );
      }
      const { deliveryIds } = await service.replayMissing({ endpointId, since: new Date(at) });
      const kept = ids.filter((_, i) => i % 2 === 0);
      expect(deliveryIds).toHaveLength(kept.length);
      const written = await ds
        .getRepository(WebhookDelivery)
        .find({ select: { messageId: true, status: true }, where: { endpointId } });
      expect(written.map((d) => d.messageId).sort()).toEqual(kept.sort());
      expect(written.every((d) => d.status === 'pending')).toBe(true);
      expect(await service.replayMissing({ endpointId, since: new Date(at) })).toEqual({ deliveryIds: [] });
    });
  });

  it('never writes a message to an endpoint twice while sends, disables and concurrent replays overlap', async () => {
    await inEmitter('raced', ['order.*'], async (service, ds, endpointId) => {
      const since = new Date(Date.now() - 1_000);
      // The app's own transactions (a send with `manager`, held open a moment): one at a time on
      // SQLite's single connection, as an app there must run them.
      let appTx: Promise<unknown> = Promise.resolve();
      const inAppTransaction = (work: (m: EntityManager) => Promise<unknown>) => {
        const run = (db === 'postgres' ? Promise.resolve() : appTx).then(() => ds.transaction(work));
        appTx = run.catch(() => undefined);
        return run;
      };
      let sending = true;
      const senders = Array.from({ length: 4 }, async (_, s) => {
        for (let n = 0; sending; n++) {
          const data = { s, n };
          if (n % 3 === 0) {
            await inAppTransaction(async (m) => {
              await service.send('order.created', data, { customerId: 'raced', manager: m });
              await tick();
            });
          } else {
            await service.send('order.created', data, {
              customerId: 'raced',
              idempotencyKey: n % 2 ? `${s}.${n}` : undefined,
            });
          }
        }
      });
      for (let round = 0; round < 15; round++) {
        await service.updateEndpoint(endpointId, { enabled: false });
        await tick();
        await service.updateEndpoint(endpointId, { enabled: true });
        await Promise.all([service.replayMissing({ endpointId, since }), service.replayMissing({ endpointId, since })]);
      }
      sending = false;
      await Promise.all(senders);
      await service.replayMissing({ endpointId, since });

      const deliveries = await ds
        .getRepository(WebhookDelivery)
        .find({ select: { messageId: true }, where: { endpointId } });
      const sent = (await ds.query('SELECT id FROM webhook_messages')) as { id: string }[];
      expect(sent.length).toBeGreaterThan(30);
      // Each message exactly once: none written twice, none left out after the last replay.
      expect(deliveries.map((d) => d.messageId).sort()).toEqual(sent.map((m) => m.id).sort());
    });
  });
});
