import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { DataSource } from 'typeorm';
import { WebhookInboxEntry } from '../../src/database/entities/webhook-inbox.entity.js';
import { newId } from '../../src/database/ids.js';
import { RetentionService } from '../../src/database/retention.service.js';
import { CLAIM_LEASE_MS, InboxStore } from '../../src/inbound/inbox.store.js';
import { PRUNE_BATCH } from '../../src/inbound/webhook-inbox.service.js';
// From the package root: what an app imports.
import { WebhookInbox, WebhookInboxError, WebhookValidationError } from '../../src/index.js';
import { postWebhook } from '../../src/testing/index.js';
import { testDatabases, type DbKind } from '../support/databases.js';
import { eventually } from '../support/receiver.js';
import { inboxRows, startInboundApp } from './support.js';

type InboundApp = Awaited<ReturnType<typeof startInboundApp>>;

const msgId = () => `msg_${randomBytes(8).toString('hex')}`;

/** The inbox row of a call, by its event id. */
async function rowOf(t: { app: any }, eventId: string): Promise<WebhookInboxEntry> {
  const row = (await inboxRows(t.app)).find((r) => r.eventId === eventId);
  if (!row) throw new Error(`no inbox row for ${eventId}`);
  return row;
}

/** What `replay` rejected with: its code, or the unexpected error itself. */
async function refusal(inbox: WebhookInbox, id: string): Promise<unknown> {
  try {
    await inbox.replay(id);
    return 'not refused';
  } catch (err) {
    return err instanceof WebhookInboxError ? err.code : err;
  }
}

/** A fresh app for the enclosing describe block: `app.t` and `app.inbox` once it has booted. */
function appPerBlock(kind: DbKind): { t: InboundApp; inbox: WebhookInbox } {
  const app = {} as { t: InboundApp; inbox: WebhookInbox };
  beforeAll(async () => {
    app.t = await startInboundApp({ db: kind });
    app.inbox = app.t.app.get(WebhookInbox);
  });
  afterAll(() => app.t?.close());
  return app;
}

describe.each(testDatabases())('replaying stored inbound calls on %s', (kind) => {
  describe('sync mode', () => {
    const app = appPerBlock(kind);

    it('runs a failed call again from its stored body; the row ends processed', async () => {
      const id = msgId();
      app.t.handlers.failures.set('fail.once', 1);
      await postWebhook(app.t.app, 'partner', { type: 'fail.once', data: { n: 3 } }, { id }).expect(500);
      const failed = await rowOf(app.t, id);
      expect(failed).toMatchObject({ status: 'failed', attempts: 1 });

      expect(await app.inbox.replay(failed.id)).toEqual({ id: failed.id, status: 'processed', attempts: 2 });
      expect(await rowOf(app.t, id)).toMatchObject({ status: 'processed', attempts: 2 });
      const runs = app.t.handlers.calls.filter((c) => c.ctx.id === id);
      expect(runs.map((c) => [c.data, c.ctx.type, c.ctx.source])).toEqual([
        [{ n: 3 }, 'fail.once', 'partner'],
        [{ n: 3 }, 'fail.once', 'partner'],
      ]);
      // Processed now: neither a second replay nor the sender's resend runs it again.
      expect(await refusal(app.inbox, failed.id)).toBe('not_replayable');
      expect((await postWebhook(app.t.app, 'partner', { type: 'fail.once', data: { n: 3 } }, { id })).body.status).toBe(
        'duplicate',
      );
      expect(app.t.handlers.calls.filter((c) => c.ctx.id === id)).toHaveLength(2);
    });

    it('reports a handler that throws again, and leaves the row failed (released) with the new error', async () => {
      const id = msgId();
      app.t.handlers.failures.set('fail.twice', 2);
      await postWebhook(app.t.app, 'partner', { type: 'fail.twice', data: {} }, { id }).expect(500);
      const row = await rowOf(app.t, id);
      expect(await app.inbox.replay(row.id)).toEqual({
        id: row.id,
        status: 'failed',
        attempts: 2,
        error: 'RecordingHandlers.misc: planned failure of fail.twice',
      });
      expect(await rowOf(app.t, id)).toMatchObject({
        status: 'failed',
        attempts: 2,
        lastError: 'RecordingHandlers.misc: planned failure of fail.twice',
      });
      expect((await app.inbox.replay(row.id)).status).toBe('processed');
    });

    it("runs a call once when two replays of it race, and not beside a sender's retry", async () => {
      const id = msgId();
      const event = { type: 'fail.race', data: {} };
      app.t.handlers.failures.set('fail.race', 1);
      await postWebhook(app.t.app, 'partner', event, { id }).expect(500);
      const row = await rowOf(app.t, id);
      app.t.handlers.delayMs = 200;
      try {
        const outcomes = await Promise.all([
          app.inbox.replay(row.id).then(
            (r) => r.status,
            (e: WebhookInboxError) => e.code,
          ),
          app.inbox.replay(row.id).then(
            (r) => r.status,
            (e: WebhookInboxError) => e.code,
          ),
          postWebhook(app.t.app, 'partner', event, { id }).then((r) => r.body.status),
        ]);
        // Whichever claims first runs it; the others are turned away (a replay refused, a resend a duplicate).
        expect(outcomes.filter((o) => o === 'processed')).toHaveLength(1);
        expect(
          outcomes.filter((o) => o !== 'processed').every((o) => o === 'not_replayable' || o === 'duplicate'),
        ).toBe(true);
      } finally {
        app.t.handlers.delayMs = 0;
      }
      expect(app.t.handlers.calls.filter((c) => c.ctx.id === id)).toHaveLength(2);
    });

    it('takes a received row only once its lease ran out (its process died mid-run)', async () => {
      const id = msgId();
      await postWebhook(app.t.app, 'partner', { type: 'order.completed', data: {} }, { id }).expect(200);
      const row = await rowOf(app.t, id);
      const repo = app.t.app.get(DataSource).getRepository(WebhookInboxEntry);
      // As a process that died after its claim leaves it: received, handlers never finished.
      await repo.update(
        { id: row.id },
        {
          status: 'received',
          attempts: 0,
          processedAt: null as unknown as Date,
          updatedAt: new Date(Date.now() - 60_000),
        },
      );
      expect(await refusal(app.inbox, row.id)).toBe('not_replayable');
      expect(app.t.handlers.calls.filter((c) => c.ctx.id === id)).toHaveLength(1);

      await repo.update({ id: row.id }, { updatedAt: new Date(Date.now() - CLAIM_LEASE_MS - 1_000) });
      expect(await app.inbox.replay(row.id)).toMatchObject({ status: 'processed', attempts: 1 });
      expect(app.t.handlers.calls.filter((c) => c.ctx.id === id)).toHaveLength(2);
    });

    it('refuses what must not run: an unknown id, an ignored call, a body that could not be read', async () => {
      expect(await refusal(app.inbox, 'in_nothing_here')).toBe('not_found');
      expect(await refusal(app.inbox, `in_${'0'.repeat(26)}`)).toBe('not_found');
      // The event id in place of the row's: said so, with where to find the row.
      const sent = await postWebhook(app.t.app, 'partner', { type: 'order.completed', data: {} }).expect(200);
      await expect(app.inbox.replay(sent.body.id)).rejects.toThrow(/inbox row ids are "in_".*list\(\{ eventId \}\)/);
      expect((await rowOf(app.t, sent.body.id)).status).toBe('processed');
      // No row has an id holding U+0000 (PostgreSQL would refuse it as a parameter).
      expect(await refusal(app.inbox, 'in_\u0000')).toBe('not_found');
      expect(await app.inbox.get('in_\u0000')).toBeNull();

      const ignored = await postWebhook(app.t.app, 'partner', { type: 'nobody.listens', data: {} }).expect(200);
      const ignoredRow = await rowOf(app.t, ignored.body.id);
      expect(ignoredRow.status).toBe('ignored');
      expect(await refusal(app.inbox, ignoredRow.id)).toBe('not_replayable');

      const id = msgId();
      await postWebhook(app.t.app, 'partner', '{"type": "order.completed", broken', { id }).expect(400);
      const unreadable = (await inboxRows(app.t.app)).find((r) => r.type === '' && r.rawBody.includes('broken'));
      expect(unreadable).toMatchObject({ status: 'failed' });
      await expect(app.inbox.replay(unreadable!.id)).rejects.toThrow(/body could not be read/);
      expect((await app.inbox.get(unreadable!.id))?.status).toBe('failed');
    });
  });

  describe('listing', () => {
    const app = appPerBlock(kind);

    it('lists stored calls newest first, filtered, a page at a time; replayable finds what replay() takes', async () => {
      const [processed, failed, ignored, stuck, running] = [msgId(), msgId(), msgId(), msgId(), msgId()];
      app.t.handlers.failures.set('fail.listed', 1);
      await postWebhook(app.t.app, 'partner', { type: 'order.completed', data: {} }, { id: processed }).expect(200);
      await postWebhook(app.t.app, 'partner', { type: 'fail.listed', data: {} }, { id: failed }).expect(500);
      await postWebhook(app.t.app, 'partner', { type: 'nobody.listens', data: {} }, { id: ignored }).expect(200);
      await postWebhook(app.t.app, 'partner', { type: 'order.completed', data: {} }, { id: stuck }).expect(200);
      await postWebhook(app.t.app, 'partner', { type: 'order.completed', data: {} }, { id: running }).expect(200);
      await postWebhook(app.t.app, 'orders', { event: 'order.completed', id: 'other-source', data: {} }).expect(200);
      // Two rows as a process that died after its claim leaves them: one past the lease, one within it.
      const repo = app.t.app.get(DataSource).getRepository(WebhookInboxEntry);
      const idOf = async (eventId: string) => (await rowOf(app.t, eventId)).id;
      await repo.update(
        { id: await idOf(stuck) },
        { status: 'received', updatedAt: new Date(Date.now() - CLAIM_LEASE_MS - 1_000) },
      );
      await repo.update({ id: await idOf(running) }, { status: 'received', updatedAt: new Date() });

      const all = await app.inbox.list({ source: 'partner' });
      expect(all.data.map((r) => r.eventId)).toEqual([running, stuck, ignored, failed, processed]);
      expect(all.nextCursor).toBeNull();
      expect((await app.inbox.list({ status: 'failed' })).data.map((r) => r.eventId)).toEqual([failed]);
      expect((await app.inbox.list({ type: 'nobody.listens' })).data.map((r) => r.eventId)).toEqual([ignored]);
      expect((await app.inbox.list({ source: 'orders' })).data.map((r) => r.eventId)).toEqual(['other-source']);
      expect((await app.inbox.list({ source: 'partner', eventId: failed })).data.map((r) => r.status)).toEqual([
        'failed',
      ]);

      const replayable = await app.inbox.list({ replayable: true });
      expect(replayable.data.map((r) => r.eventId)).toEqual([stuck, failed]);
      for (const row of replayable.data) expect((await app.inbox.replay(row.id)).status).toBe('processed');
      expect((await app.inbox.list({ replayable: true })).data).toEqual([]);

      // Pages of two, following the cursor, give the same rows in the same order.
      const seen: string[] = [];
      let cursor: string | undefined;
      do {
        const page = await app.inbox.list({ source: 'partner', limit: 2, cursor });
        expect(page.data.length).toBeLessThanOrEqual(2);
        seen.push(...page.data.map((r) => r.eventId));
        cursor = page.nextCursor ?? undefined;
      } while (cursor);
      expect(seen).toEqual([running, stuck, ignored, failed, processed]);
    });

    it('refuses filters it cannot apply, with the field named', async () => {
      const field = (opts: object) =>
        app.inbox.list(opts as never).then(
          () => 'accepted',
          (err: unknown) => (err instanceof WebhookValidationError ? err.field : err),
        );
      expect(await field({ status: 'done' })).toBe('status');
      expect(await field({ limit: 0 })).toBe('limit');
      expect(await field({ limit: 501 })).toBe('limit');
      expect(await field({ source: 5 })).toBe('source');
      expect(await field({ replayable: true, status: 'failed' })).toBe('replayable');
      expect(await field({ cursor: '' })).toBe('cursor');
      expect(await field({ cursor: 'in_\u0000' })).toBe('cursor');
      // A filter holding U+0000 matches nothing, on PostgreSQL as on SQLite.
      for (const filter of [{ source: 'a\u0000' }, { type: 'a\u0000', replayable: true }, { eventId: '\u0000' }])
        expect(await app.inbox.list(filter)).toEqual({ data: [], nextCursor: null });
      expect(await field({ status: 'failed', limit: 500 })).toBe('accepted');
    });
  });

  describe('retention', () => {
    const DAY = 24 * 3600 * 1000;
    let t: Awaited<ReturnType<typeof startInboundApp>>;
    beforeAll(async () => {
      t = await startInboundApp({ db: kind });
    });
    afterAll(() => t?.close());
    const entry = (eventId: string, status: 'received' | 'ignored' = 'received') => ({
      source: 'partner',
      eventId,
      type: 'order.completed',
      rawBody: JSON.stringify({ type: 'order.completed', data: {} }),
      headers: {},
      status,
    });

    it('deletes processed and ignored rows past the window, keeps failed and received ones; a pruned call is new again', async () => {
      const inbox = t.app.get(InboxStore);
      const now = Date.now();
      const old = now - 31 * DAY; // past the default 30 days
      const [processed, ignored, failed, stuck, recent] = [msgId(), msgId(), msgId(), msgId(), msgId()];
      await inbox.markProcessed((await inbox.claim(entry(processed), old))!.id, 1);
      await inbox.claim(entry(ignored, 'ignored'), old);
      await inbox.markFailed((await inbox.claim(entry(failed), old))!.id, 1, new Error('kept for a replay'));
      await inbox.claim(entry(stuck), old);
      await postWebhook(t.app, 'partner', { type: 'order.completed', data: {} }, { id: recent }).expect(200);

      expect((await t.app.get(RetentionService).pass(now)).inbox).toBe(2);
      const left = new Map((await inboxRows(t.app)).map((r) => [r.eventId, r.status]));
      expect([processed, ignored, failed, stuck, recent].map((id) => left.get(id))).toEqual([
        undefined,
        undefined,
        'failed',
        'received',
        'processed',
      ]);
      expect((await t.app.get(RetentionService).pass(now)).inbox).toBe(0);

      // Past the window a resend is no longer recognised: it runs like a first call.
      const again = await postWebhook(t.app, 'partner', { type: 'order.completed', data: {} }, { id: processed });
      expect([again.status, again.body.status]).toEqual([200, 'processed']);
    });

    it('deletes in batches until nothing past the window is left, each batch after the last id deleted', async () => {
      const repo = t.app.get(DataSource).getRepository(WebhookInboxEntry);
      const old = Date.now() - 2 * DAY;
      // Every third row failed (kept): they lie between the deleted ones in every batch.
      const rows = Array.from({ length: Math.ceil((PRUNE_BATCH + 5) * 1.5) }, (_, i) => ({
        ...entry(`batch_${i}_${msgId()}`),
        id: newId('in', old + i),
        status: i % 3 === 0 ? ('failed' as const) : ('processed' as const),
        attempts: 1,
        receivedAt: new Date(old + i),
        updatedAt: new Date(old + i),
      }));
      for (let i = 0; i < rows.length; i += 100) await repo.insert(rows.slice(i, i + 100));
      const store = t.app.get(InboxStore);
      const prune = store.prune.bind(store);
      const afters: string[] = [];
      store.prune = (before, limit, after) => {
        afters.push(after ?? '');
        return prune(before, limit, after);
      };
      const deletable = rows.filter((r) => r.status === 'processed');
      try {
        expect(await t.app.get(WebhookInbox).prune(new Date(Date.now() - DAY))).toBe(deletable.length);
      } finally {
        store.prune = prune;
      }
      expect(afters).toEqual(['', deletable[PRUNE_BATCH - 1].id]);
      const left = (await inboxRows(t.app)).filter((r) => r.eventId.startsWith('batch_'));
      expect(left.map((r) => r.status)).toEqual(rows.filter((r) => r.status === 'failed').map(() => 'failed'));
      await repo.delete(left.map((r) => r.id));
      await expect(t.app.get(WebhookInbox).prune(new Date('nonsense'))).rejects.toThrow(WebhookValidationError);
    });
  });

  describe('queue mode', () => {
    let t: Awaited<ReturnType<typeof startInboundApp>>;
    beforeAll(async () => {
      t = await startInboundApp({ db: kind, inbound: { mode: 'queue', queueAttempts: 1 } });
    });
    afterAll(() => t?.close());

    it('queues a failed call again; the worker runs it and the row ends processed', async () => {
      const id = msgId();
      t.handlers.failures.set('fail.once', 1);
      await postWebhook(t.app, 'partner', { type: 'fail.once', data: {} }, { id }).expect(202);
      await eventually(async () => (await rowOf(t, id)).status === 'failed');
      const row = await rowOf(t, id);

      expect(await t.app.get(WebhookInbox).replay(row.id)).toEqual({ id: row.id, status: 'queued', attempts: 1 });
      await eventually(async () => (await rowOf(t, id)).status === 'processed');
      expect(await rowOf(t, id)).toMatchObject({ attempts: 2, status: 'processed' });
      expect(t.handlers.calls.filter((c) => c.ctx.id === id)).toHaveLength(2);
    });
  });
});
