import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { DataSource } from 'typeorm';
import { WebhookInboxEntry, type InboxStatus } from '../../src/database/entities/webhook-inbox.entity.js';
import { newId } from '../../src/database/ids.js';
import { WebhookInbox } from '../../src/inbound/webhook-inbox.service.js';
import { BACKLOG_SQL, WebhooksProbe } from '../../src/observability/webhooks.probe.js';
import { testDatabases } from '../support/databases.js';
import { startInboundApp } from './support.js';

/**
 * The inbox's open rows (`received`, `failed`) are few; the health check's stuck count and the
 * lists by those statuses read them through `idx_webhook_inbox_open`, not the whole table (at a
 * million rows a full read took 0.5-0.9 s on PostgreSQL and 1.3 s on SQLite, and grows with
 * retention until the health check times out).
 */
describe.each(testDatabases())('the inbox index of open rows on %s', (db) => {
  let t: Awaited<ReturnType<typeof startInboundApp>>;
  let dataSource: DataSource;
  const open: Record<string, string[]> = { received: [], failed: [] };

  beforeAll(async () => {
    t = await startInboundApp({ db });
    dataSource = t.app.get(DataSource);
    const old = Date.now() - 3_600_000;
    const rows: Partial<WebhookInboxEntry>[] = [];
    for (let i = 0; i < 20_000; i++) {
      const status: InboxStatus = i % 5_000 === 7 ? 'received' : i % 5_000 === 9 ? 'failed' : 'processed';
      const id = newId('in', old + i);
      if (status !== 'processed') open[status].push(id);
      const at = new Date(old + i);
      rows.push({
        id,
        source: 'partner',
        eventId: `ev_${i}`,
        type: 'order.paid',
        rawBody: '{}',
        status,
        receivedAt: at,
        updatedAt: at,
      });
    }
    for (let i = 0; i < rows.length; i += 500)
      await dataSource.getRepository(WebhookInboxEntry).insert(rows.slice(i, i + 500));
    if (db === 'postgres') await dataSource.query('ANALYZE webhook_inbox');
  });
  afterAll(() => t?.close());

  /** The plan of `sql` as text: SQLite's EXPLAIN QUERY PLAN details, or PostgreSQL's EXPLAIN. */
  async function plan(sql: string, params: unknown[]): Promise<string> {
    if (db === 'postgres') {
      let n = 0;
      const rows = await dataSource.query(`EXPLAIN ${sql.replace(/\?/g, () => `$${++n}`)}`, params);
      return rows.map((r: Record<string, string>) => r['QUERY PLAN']).join('\n');
    }
    const rows = await dataSource.query(`EXPLAIN QUERY PLAN ${sql}`, params);
    return rows.map((r: { detail: string }) => r.detail).join('\n');
  }

  it('counts stuck received rows by the index (the health check)', async () => {
    const now = Date.now();
    const text = await plan(BACKLOG_SQL, [now, now - 60_000]);
    expect(text).toMatch(/idx_webhook_inbox_open/);
    expect(text).not.toMatch(db === 'postgres' ? /Seq Scan on webhook_inbox/ : /SCAN webhook_inbox(?! USING)/);
    expect((await t.app.get(WebhooksProbe).backlog(60_000)).stuckInbox).toBe(open.received.length);
  });

  it('lists received and failed rows by the index, newest first', async () => {
    const statements: [string, unknown[]][] = [];
    const logQuery = dataSource.logger.logQuery.bind(dataSource.logger);
    dataSource.logger.logQuery = (query, parameters, runner) => {
      if (/FROM "webhook_inbox"/.test(query)) statements.push([query, (parameters ?? []) as unknown[]]);
      return logQuery(query, parameters, runner);
    };
    const inbox = t.app.get(WebhookInbox);
    try {
      for (const status of ['received', 'failed'] as const) {
        statements.length = 0;
        const page = await inbox.list({ status });
        expect(page.data.map((r) => r.id)).toEqual([...open[status]].reverse());
        const [[sql, params]] = statements;
        expect(await plan(sql, params)).toMatch(/idx_webhook_inbox_open/);
      }
      // The replayable rows (failed, or received for 5 minutes): PostgreSQL proves its OR of the
      // two implies the index's; SQLite does not, and walks the primary key.
      statements.length = 0;
      const replayable = await inbox.list({ replayable: true });
      expect(replayable.data.map((r) => r.id).sort()).toEqual([...open.received, ...open.failed].sort());
      if (db === 'postgres') expect(await plan(...statements[0])).toMatch(/idx_webhook_inbox_open/);
    } finally {
      dataSource.logger.logQuery = logQuery;
    }
  });
});
