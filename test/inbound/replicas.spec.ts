import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { DataSource } from 'typeorm';
import { WebhookInbox } from '../../src/inbound/webhook-inbox.service.js';
import { postWebhook } from '../../src/testing/index.js';
import { migrate } from '../support/app.js';
import { createTestDatabase, testDatabases, type DbKind, type TestDatabase } from '../support/databases.js';
import { eventually } from '../support/receiver.js';
import { startInboundApp } from './support.js';

const msgId = () => `msg_${randomBytes(8).toString('hex')}`;

/** A call's inbox row as the primary has it (DataSource.query goes to the primary). */
async function primaryRow(
  app: { get(type: typeof DataSource): DataSource },
  eventId: string,
): Promise<{ id: string; status: string }> {
  const [row] = await app.get(DataSource).query('SELECT id, status FROM webhook_inbox WHERE event_id = $1', [eventId]);
  return row ?? { id: '', status: 'none' };
}

/**
 * TypeORM read replication whose only replica never catches up: a second database with the same
 * schema that receives no writes. What the module just wrote can only be read from the primary.
 */
async function replicatedDatabase(): Promise<{ db: TestDatabase; drop(): Promise<void> }> {
  const primary = await createTestDatabase('postgres');
  const replica = await createTestDatabase('postgres');
  await migrate(primary);
  await migrate(replica);
  const url = (db: TestDatabase) => (db.options as { url: string }).url;
  const db: TestDatabase = {
    kind: 'postgres',
    options: {
      type: 'postgres',
      replication: { master: { url: url(primary) }, slaves: [{ url: url(replica) }] },
    } as never,
    drop: async () => undefined,
  };
  return { db, drop: () => Promise.all([primary.drop(), replica.drop()]).then(() => undefined) };
}

(testDatabases().includes('postgres') ? describe.each : describe.skip.each)<DbKind>(['postgres'])(
  'TypeORM read replicas behind (%s)',
  () => {
    let dbs: Awaited<ReturnType<typeof replicatedDatabase>>;
    beforeAll(async () => {
      dbs = await replicatedDatabase();
    });
    afterAll(() => dbs?.drop());

    describe('queue mode', () => {
      let t: Awaited<ReturnType<typeof startInboundApp>>;
      beforeAll(async () => {
        t = await startInboundApp({ db: dbs.db, skipMigrations: true, inbound: { mode: 'queue', queueAttempts: 1 } });
      });
      afterAll(() => t?.close());

      it('the worker reads the row it was queued for from the primary, and runs the handler', async () => {
        const id = msgId();
        await postWebhook(t.app, 'partner', { type: 'order.completed', data: { n: 1 } }, { id }).expect(202);
        await eventually(() => t.handlers.calls.some((c) => c.ctx.id === id), 5_000);
        await eventually(async () => (await primaryRow(t.app, id)).status === 'processed', 5_000);
      });

      it('replay reads the row from the primary and queues it', async () => {
        const id = msgId();
        t.handlers.failures.set('fail.once', 1);
        await postWebhook(t.app, 'partner', { type: 'fail.once', data: {} }, { id }).expect(202);
        await eventually(async () => (await primaryRow(t.app, id)).status === 'failed', 5_000);
        const row = (await primaryRow(t.app, id)).id;
        expect(await t.app.get(WebhookInbox).replay(row)).toMatchObject({ id: row, status: 'queued' });
        await eventually(() => t.handlers.calls.filter((c) => c.ctx.id === id).length === 2, 5_000);
      });
    });

    describe('sync mode', () => {
      let t: Awaited<ReturnType<typeof startInboundApp>>;
      beforeAll(async () => {
        t = await startInboundApp({ db: dbs.db, skipMigrations: true });
      });
      afterAll(() => t?.close());

      it('replay reads the row from the primary and runs it', async () => {
        const id = msgId();
        t.handlers.failures.set('fail.once', 1);
        await postWebhook(t.app, 'partner', { type: 'fail.once', data: {} }, { id }).expect(500);
        const row = (await primaryRow(t.app, id)).id;
        expect(await t.app.get(WebhookInbox).replay(row)).toEqual({ id: row, status: 'processed', attempts: 2 });
        expect(t.handlers.calls.filter((c) => c.ctx.id === id)).toHaveLength(2);
      });
    });
  },
);
