import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { DataSource } from 'typeorm';
import { WebhookDelivery } from '../../src/database/entities/webhook-delivery.entity.js';
import { WebhookMessage } from '../../src/database/entities/webhook-message.entity.js';
import { newId } from '../../src/database/ids.js';
import { LOG_PRUNE_BATCH } from '../../src/outbound/message.store.js';
import { WebhookService } from '../../src/outbound/webhook.service.js';
import { FAST_OUTBOUND, startTestApp, type TestApp } from '../support/app.js';
import { testDatabases } from '../support/databases.js';

const DAY = 24 * 3600 * 1000;

/**
 * The message log's prune over more than one batch, with kept messages (a failed delivery) between
 * the ones it deletes: every batch starts after the last message the batch before deleted, so the
 * kept ones are read once per prune instead of again by every batch.
 */
describe.each(testDatabases())('message prune in batches on %s', (db) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ db, webhooks: { role: 'emitter', outbound: FAST_OUTBOUND } });
  });
  afterAll(() => t?.close());

  it('deletes every fully delivered message past the cutoff, keeps the others, each batch after the last id deleted', async () => {
    const dataSource = t.app.get(DataSource);
    const svc = t.app.get(WebhookService);
    const endpoint = await svc.createEndpoint({ url: 'https://example.com/prune', customerId: 'prune' });
    const old = Date.now() - 2 * DAY;
    const messages: Partial<WebhookMessage>[] = [];
    const deliveries: Partial<WebhookDelivery>[] = [];
    const kept = new Set<string>();
    // Every third message has a failed delivery: 1.6 batches to delete, kept ones all along.
    const total = Math.ceil(LOG_PRUNE_BATCH * 1.6 * 1.5);
    for (let i = 0; i < total; i++) {
      const at = new Date(old + i);
      const id = newId('msg', old + i);
      messages.push({ id, type: 'prune.test', customerId: 'prune', idempotencyKey: null, body: '{}', createdAt: at });
      const status = i % 3 === 0 ? 'failed' : 'succeeded';
      if (status === 'failed') kept.add(id);
      if (i % 3 !== 2)
        deliveries.push({
          id: newId('dlv', old + i),
          messageId: id,
          endpointId: endpoint.id,
          status,
          createdAt: at,
          updatedAt: at,
        });
    }
    for (let i = 0; i < messages.length; i += 200) {
      await dataSource.getRepository(WebhookMessage).insert(messages.slice(i, i + 200));
    }
    for (let i = 0; i < deliveries.length; i += 200) {
      await dataSource.getRepository(WebhookDelivery).insert(deliveries.slice(i, i + 200));
    }

    // The parameters of each prune statement, as TypeORM logs them.
    const statements: unknown[][] = [];
    const logQuery = dataSource.logger.logQuery.bind(dataSource.logger);
    dataSource.logger.logQuery = (query, parameters, runner) => {
      if (/DELETE FROM webhook_messages/.test(query)) statements.push((parameters ?? []) as unknown[]);
      return logQuery(query, parameters, runner);
    };
    let deleted: number;
    try {
      deleted = await svc.prune(new Date(Date.now() - DAY));
    } finally {
      dataSource.logger.logQuery = logQuery;
    }

    expect(deleted).toBe(total - kept.size);
    const left = await dataSource.getRepository(WebhookMessage).find({ where: { customerId: 'prune' } });
    expect(new Set(left.map((m) => m.id))).toEqual(kept);
    expect(statements).toHaveLength(Math.ceil(deleted / LOG_PRUNE_BATCH));
    // The second batch starts after the largest id the first deleted, past the kept ones before it.
    const deletable = messages.map((m) => m.id!).filter((id) => !kept.has(id));
    expect(statements.map((params) => params[0])).toEqual(['', deletable[LOG_PRUNE_BATCH - 1]]);
  });
});
