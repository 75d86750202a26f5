import { getQueueToken } from '@nestjs/bull';
import type { Queue } from 'bull';
import { DataSource } from 'typeorm';
import { OutboxRelay } from '../src/outbound/outbox.relay.js';
import { WebhookService } from '../src/outbound/webhook.service.js';
import { WEBHOOKS_QUEUE } from '../src/webhooks.constants.js';
import { benchPrefix, bootApp, createBenchDb, deletePrefix } from './support.js';

/**
 * The reconciler's job checks for a page of pending deliveries whose jobs all wait in Redis (a
 * backlog behind a slow endpoint: every pass finds nothing lost), against the same checks written
 * with Bull's per-job API (`getJob`, `isFailed`, `isCompleted`: what the reconciler did before,
 * and what a user would write). Event-loop wall time and process CPU per page, alternating.
 * Run alone: `npx tsc -p bench/tsconfig.json && node build/bench/reconcile.js` (BENCH_N rows, 1000).
 */
const N = Number(process.env.BENCH_N ?? 1_000);
const ROUNDS = 5;
const db = await createBenchDb('sqlite');
const prefix = benchPrefix();
const app = await bootApp({ db: db.spec, prefix, role: 'emitter' });
try {
  const svc = app.get(WebhookService);
  const outbox = app.get(OutboxRelay);
  const queue = app.get<Queue>(getQueueToken(WEBHOOKS_QUEUE));
  await svc.createEndpoint({ url: 'http://127.0.0.1:9/bench' });
  const ids: string[] = [];
  for (let i = 0; i < N; i++) ids.push(...(await svc.send('bench.reconcile', { i })).deliveryIds);
  const ds = app.get(DataSource);
  for (;;) {
    const [{ n }] = await ds.query(`SELECT COUNT(*) AS n FROM webhook_deliveries WHERE enqueued_at IS NOT NULL`);
    if (Number(n) === N) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  await ds.query(`UPDATE webhook_deliveries SET enqueued_at = ?`, [Date.now() - 7_200_000]);
  const olderThan = Date.now() - 3_600_000;

  const byHand = async (page: string[]) => {
    let lost = 0;
    for (const id of page) {
      const job = await queue.getJob(id);
      if (!job || (await job.isFailed()) || (await job.isCompleted())) lost++;
    }
    return lost;
  };
  const timed = async (f: () => Promise<number>) => {
    const cpu = process.cpuUsage();
    const t = performance.now();
    const lost = await f();
    const used = process.cpuUsage(cpu);
    return { ms: performance.now() - t, cpuMs: (used.user + used.system) / 1000, lost };
  };
  const sums = { module: { ms: 0, cpuMs: 0 }, byHand: { ms: 0, cpuMs: 0 } };
  for (let r = 0; r < ROUNDS; r++) {
    // One page (a full page leaves the scan's cursor after it; the empty scan after starts over).
    const page = await outbox.scanPending(olderThan);
    await outbox.scanPending(olderThan);
    if (page.length !== N) throw new Error(`the scan gave ${page.length} rows, not ${N}`);
    const module = await timed(() => outbox.reenqueueLost(page, olderThan));
    const hand = await timed(() => byHand(page));
    if (module.lost !== 0 || hand.lost !== 0)
      throw new Error(`a live job was taken for lost (${module.lost}, ${hand.lost})`);
    for (const [k, v] of [
      ['module', module],
      ['byHand', hand],
    ] as const) {
      sums[k].ms += v.ms;
      sums[k].cpuMs += v.cpuMs;
    }
  }
  console.log(`A page of ${N} pending rows, every job waiting in Redis; mean of ${ROUNDS} alternating rounds.\n`);
  console.log('| checks | wall ms per page | process CPU ms per page |');
  console.log('| --- | ---: | ---: |');
  for (const [name, k] of [
    ['the module (one pipelined round trip)', 'module'],
    ["per job with Bull's API", 'byHand'],
  ] as const)
    console.log(`| ${name} | ${(sums[k].ms / ROUNDS).toFixed(1)} | ${(sums[k].cpuMs / ROUNDS).toFixed(1)} |`);
} finally {
  await app.close();
  await deletePrefix(prefix);
  await db.drop();
}
