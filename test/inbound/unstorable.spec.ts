import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Injectable } from '@nestjs/common';
import { randomBytes } from 'node:crypto';
import { DataSource } from 'typeorm';
import { OnWebhook } from '../../src/decorators/on-webhook.decorator.js';
import { InboxStore } from '../../src/inbound/inbox.store.js';
import { hashId } from '../../src/inbound/inbound.sources.js';
import { inboundMessages } from '../../src/inbound/inbound.messages.js';
import { WebhookInbox } from '../../src/inbound/webhook-inbox.service.js';
import { postWebhook } from '../../src/testing/index.js';
import { testDatabases } from '../support/databases.js';
import { inboxRows, startInboundApp } from './support.js';
import { InboxUnavailableError } from '../../src/errors/inbox-unavailable.error.js';

const nonce = () => randomBytes(6).toString('hex');
const problem = (text: string) => JSON.parse(text);

/** A handler whose error message carries a NUL byte, as a driver's or a library's may. */
@Injectable()
class NulErrorHandler {
  @OnWebhook('nul.error')
  fail() {
    throw new Error('bad \u0000 byte');
  }
}

// PostgreSQL refuses U+0000 in text; SQLite takes it. Both must answer and store alike.
describe.each(testDatabases())('inbound text PostgreSQL cannot store, on %s', (kind) => {
  let t: Awaited<ReturnType<typeof startInboundApp>>;
  beforeAll(async () => {
    t = await startInboundApp({ db: kind, providers: [NulErrorHandler] });
  });
  afterAll(() => t?.close());

  it('answers an event type containing U+0000 with 400 invalid_event_type, and keeps the call as failed', async () => {
    const payload = { type: 'order.\u0000completed', data: { n: nonce() } };
    const before = t.handlers.calls.length;
    const res = await postWebhook(t.app, 'partner', payload);
    expect([res.status, problem(res.text).code]).toEqual([400, 'invalid_event_type']);
    const row = (await inboxRows(t.app)).find((r) => r.rawBody === JSON.stringify(payload));
    expect(row).toMatchObject({ type: '', status: 'failed', lastError: expect.stringContaining('invalid_event_type') });
    expect(t.handlers.calls.length).toBe(before);
  });

  it('runs a call whose event id contains U+0000 under the hash of that id, once', async () => {
    const id = `evt_\u0000${nonce()}`;
    const payload = { event: 'order.completed', id, data: {} };
    const res = await postWebhook(t.app, 'orders', payload);
    expect([res.status, res.body]).toEqual([200, { received: true, id: hashId(id), status: 'processed' }]);
    expect((await postWebhook(t.app, 'orders', payload)).body.status).toBe('duplicate');
    expect(t.handlers.calls.filter((c) => c.ctx.id === hashId(id))).toHaveLength(1);
  });

  it('keeps a verified non-JSON body with NUL bytes as failed, byte for byte', async () => {
    const body = `{not json \u0000 ${nonce()}`;
    const res = await postWebhook(t.app, 'partner', body, { type: 'order.completed' });
    expect([res.status, problem(res.text).code]).toEqual([400, 'invalid_json']);
    const rows = (await inboxRows(t.app)).filter((r) => r.rawBody === body);
    expect(rows).toEqual([
      expect.objectContaining({ status: 'failed', lastError: `invalid_json: ${inboundMessages.invalidJson()}` }),
    ]);
    expect((await t.app.get(WebhookInbox).get(rows[0].id))?.rawBody).toBe(body);
  });

  it('runs a readable form body with a NUL byte in another field, and stores it exactly', async () => {
    const body = `payload=${encodeURIComponent(JSON.stringify({ action: 'opened' }))}&note=a\u0000b${nonce()}`;
    const id = `gh-${nonce()}`;
    const form = { 'content-type': 'application/x-www-form-urlencoded' };
    const res = await postWebhook(t.app, 'github', body, { type: 'issues', id, headers: form });
    expect([res.status, res.body.status]).toEqual([200, 'processed']);
    expect(t.handlers.calls.filter((c) => c.ctx.id === id).map((c) => c.ctx.type)).toEqual(['issues.opened']);
    expect((await inboxRows(t.app)).find((r) => r.eventId === id)).toMatchObject({
      status: 'processed',
      rawBody: body,
    });
  });

  it('releases the claim of a handler whose error message contains U+0000, so the retry runs it', async () => {
    const id = `msg_${nonce()}`;
    const res = await postWebhook(t.app, 'partner', { type: 'nul.error', data: {} }, { id });
    expect([res.status, problem(res.text).code]).toEqual([500, 'handler_failed']);
    const row = (await inboxRows(t.app)).find((r) => r.eventId === id);
    expect(row).toMatchObject({ status: 'failed', attempts: 1, lastError: 'NulErrorHandler.fail: bad \uFFFD byte' });
    // Released: the sender's retry is run again, not answered as a duplicate.
    expect((await postWebhook(t.app, 'partner', { type: 'nul.error', data: {} }, { id })).status).toBe(500);
  });

  it('answers 422 unstorable_event, not 503, when the database refuses a verified call as bad data', async () => {
    // A refusal the test installs on its own database: a data error, while the database is up.
    const ds = t.app.get(DataSource);
    const refuse =
      kind === 'postgres'
        ? [
            "ALTER TABLE webhook_inbox ADD CONSTRAINT refuse_type CHECK (type <> 'refused.type')",
            'ALTER TABLE webhook_inbox DROP CONSTRAINT refuse_type',
          ]
        : [
            "CREATE TRIGGER refuse_type BEFORE INSERT ON webhook_inbox WHEN NEW.type = 'refused.type' BEGIN SELECT RAISE(ABORT, 'refused'); END",
            'DROP TRIGGER refuse_type',
          ];
    await ds.query(refuse[0]);
    try {
      const res = await postWebhook(t.app, 'partner', { type: 'refused.type', data: { n: nonce() } });
      expect([res.status, problem(res.text).code]).toEqual([422, 'unstorable_event']);
      expect(res.headers['retry-after']).toBeUndefined();
    } finally {
      await ds.query(refuse[1]);
    }
  });

  (kind === 'postgres' ? it : it.skip)(
    'rejects values PostgreSQL refuses as bad data, not as an unavailable inbox',
    async () => {
      const claim = t.app.get(InboxStore).claim({
        source: 'partner',
        eventId: `msg_${nonce()}`,
        // Callers check this first; a value that slips through is still not an outage.
        type: 'order.\u0000completed',
        rawBody: '{}',
        headers: {},
        status: 'received',
      });
      await expect(claim).rejects.toThrow();
      await expect(claim).rejects.not.toBeInstanceOf(InboxUnavailableError);
    },
  );
});
