/**
 * Scenario: the suite's own redis-server is frozen (SIGSTOP). Its connections stay open and nothing
 * is answered, so ioredis still calls the connection ready. Commits must not wait for it, nor
 * `send()` without a manager once the stall is known: their deliveries are left to the relay,
 * which enqueues them once Redis answers again (SIGCONT). The process's backlog and the commands
 * ioredis holds for Redis stay bounded meanwhile, and the warnings come once, not once per send.
 */
import { getQueueToken } from '@nestjs/bull';
import { describe, expect, it } from '@jest/globals';
import type { Queue } from 'bull';
import { performance } from 'node:perf_hooks';
import { DataSource, type EntityManager } from 'typeorm';
import { WebhookDelivery } from '../../src/database/entities/webhook-delivery.entity.js';
import { CommitHook } from '../../src/outbound/commit.hook.js';
import { WebhookService } from '../../src/outbound/webhook.service.js';
import { WEBHOOKS_QUEUE } from '../../src/webhooks.constants.js';
import { FAST_OUTBOUND, startTestApp, type TestApp } from '../support/app.js';
import { testDatabases } from '../support/databases.js';
import { CountingReceiver, eventually } from '../support/receiver.js';
import { PrivateRedis } from '../support/redis-server.js';
import { allSucceeded, sleep } from '../support/deliveries.js';
import { tally, warningsLogger } from './support.js';

const ENDPOINTS = 4;
/** Transactional sends while Redis hangs: with 4 endpoints, more deliveries than the backlog holds. */
const SENT_IN_TX = 300;
const SENT_PLAIN = 20;
/** The backlog's cap in CommitHook. */
const BACKLOG_LIMIT = 1_000;
/** Well under the 2 s enqueue timeout: a commit or a send that waited for Redis exceeds it. */
const WAIT_BOUND_MS = 1_000;
// A generous attempt timeout: the receiver counts a request on arrival, so an attempt that timed
// out in a busy test process would be sent again and look like a duplicate enqueue.
const OUTBOUND = { ...FAST_OUTBOUND, timeoutMs: 10_000, relayIntervalMs: 200, reconcileIntervalMs: 500 };

/** Commands ioredis has written and waits answers for (its internal queue, where abandoned ones stay). */
const heldCommands = (queue: Queue) =>
  (queue.client as unknown as { commandQueue: { length: number } }).commandQueue.length;

describe.each(testDatabases())('fault: Redis hangs (%s)', (kind) => {
  it('commits and sends do not wait for a silent Redis; the relay delivers everything once it answers', async () => {
    const redis = await PrivateRedis.start();
    const paths = Array.from({ length: ENDPOINTS }, (_, e) => `/hang/${e}`);
    const receiver = await new CountingReceiver(
      () => ({}),
      (req) => `${req.url} ${req.headers['webhook-id']}`,
    ).start();
    const logger = warningsLogger();
    let t: TestApp | undefined;
    try {
      t = await startTestApp({ db: kind, redisUrl: redis.url, webhooks: { outbound: OUTBOUND }, logger });
      const svc = t.app.get(WebhookService);
      const ds = t.app.get(DataSource);
      const outbox = t.app.get(CommitHook);
      const queue = t.app.get<Queue>(getQueueToken(WEBHOOKS_QUEUE));
      for (const path of paths) await svc.createEndpoint({ url: receiver.url(path), customerId: 'hang' });
      const messageIds: string[] = [];
      const deliveryIds: string[] = [];
      const record = (r: { messageId: string; deliveryIds: string[] }) => {
        messageIds.push(r.messageId);
        deliveryIds.push(...r.deliveryIds);
      };
      record(await svc.send('fault.test', { warm: true }, { customerId: 'hang' }));
      await eventually(() => receiver.handled.size === ENDPOINTS, 20_000);

      redis.pause();
      // Transactional sends, timed from the start of the transaction to the resolved commit. On
      // SQLite one at a time: concurrent app transactions on its one connection would nest.
      const commits: number[] = [];
      let maxBacklog = 0;
      const parallel = kind === 'postgres' ? 5 : 1;
      for (let i = 0; i < SENT_IN_TX; i += parallel) {
        await Promise.all(
          Array.from({ length: Math.min(parallel, SENT_IN_TX - i) }, async (_, k) => {
            const started = performance.now();
            const send = (m: EntityManager) => svc.send('fault.test', { n: i + k }, { customerId: 'hang', manager: m });
            const r = await ds.transaction(send);
            commits.push(performance.now() - started);
            maxBacklog = Math.max(maxBacklog, outbox.backlogSize);
            record(r);
          }),
        );
      }
      const slowCommits = commits.filter((ms) => ms >= WAIT_BOUND_MS);
      expect(slowCommits).toEqual([]);
      expect(maxBacklog).toBeLessThanOrEqual(BACKLOG_LIMIT);

      // Once an enqueue has timed out, a send without a manager does not wait for Redis either.
      await eventually(() => logger.warnings.some((w) => /within \d+ ms/.test(w)), 10_000);
      const plain: number[] = [];
      for (let n = 0; n < SENT_PLAIN; n++) {
        const started = performance.now();
        record(await svc.send('fault.test', { plain: n }, { customerId: 'hang' }));
        plain.push(performance.now() - started);
      }
      expect(plain.filter((ms) => ms >= WAIT_BOUND_MS)).toEqual([]);

      // Redis still silent over many relay passes: nothing more piles up for it.
      const held = heldCommands(queue);
      await sleep(3_000);
      const heldLater = heldCommands(queue);
      expect(heldLater - held).toBeLessThan(50);
      const warningsDuringHang = [...logger.warnings];
      // One warning for the stall, and at most one for a full backlog: not one per commit or send.
      expect(warningsDuringHang.filter((w) => /until the backlog drains/.test(w)).length).toBeLessThanOrEqual(1);
      expect(warningsDuringHang.filter((w) => /treated as stalled/.test(w))).toHaveLength(1);
      expect(warningsDuringHang.length).toBeLessThan(10);
      expect(deliveryIds).toHaveLength((1 + SENT_IN_TX + SENT_PLAIN) * ENDPOINTS);

      redis.resume();
      const done = await allSucceeded(ds, deliveryIds, 90_000);
      const keys = messageIds.flatMap((id) => paths.map((path) => `${path} ${id}`));
      const result = tally(`redis-hang[${kind}]`, keys, receiver.handled);
      expect(done).toBe(true);
      expect(result.lostIds).toEqual([]);
      expect(result.maxCopies).toBe(1);

      // Redis answers again: a send's jobs are in Redis (or already delivered) when it resolves.
      const after = await svc.send('fault.test', { after: true }, { customerId: 'hang' });
      for (const id of after.deliveryIds) {
        const job = await queue.getJob(id);
        const row = await ds.getRepository(WebhookDelivery).findOneByOrFail({ id });
        expect(job !== null || row.status === 'succeeded').toBe(true);
      }
    } finally {
      redis.resume();
      await t?.close();
      await receiver.stop();
      await redis.stop();
    }
  }, 240_000);
});
