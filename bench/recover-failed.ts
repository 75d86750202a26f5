import { getQueueToken } from '@nestjs/bull';
import type { Queue } from 'bull';
import { DataSource } from 'typeorm';
import { WebhookService } from '../src/outbound/webhook.service.js';
import { WEBHOOKS_QUEUE } from '../src/webhooks.constants.js';
import { benchPrefix, bootApp, createBenchDb, deletePrefix, type BenchDbKind } from './support.js';

/**
 * `recoverFailed` on an endpoint with BENCH_N failed deliveries (2,000: a receiver down for a
 * while), against what a user writes by hand with the service: list the endpoint's failed
 * deliveries and `redeliver` each. Same app, same rows, alternating rounds; wall time and process
 * CPU per delivery, until every delivery is pending again with its job in Redis.
 * Run alone: `npx tsc -p bench/tsconfig.json && node build/bench/recover-failed.js`
 * (BENCH_N, BENCH_ROUNDS 3, BENCH_DBS sqlite,postgres).
 */
const N = Number(process.env.BENCH_N ?? 2_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const DBS = (process.env.BENCH_DBS ?? 'sqlite,postgres').split(',').map((d) => d.trim()) as BenchDbKind[];

console.log(`${N} failed deliveries of one endpoint; mean of ${ROUNDS} alternating rounds.\n`);
console.log('| database | way | wall µs per delivery | process CPU µs per delivery |');
console.log('| --- | --- | ---: | ---: |');
for (const kind of DBS) {
  const db = await createBenchDb(kind);
  const prefix = benchPrefix();
  const app = await bootApp({ db: db.spec, prefix, role: 'emitter' });
  try {
    const svc = app.get(WebhookService);
    const queue = app.get<Queue>(getQueueToken(WEBHOOKS_QUEUE));
    const ds = app.get(DataSource);
    const { id: endpointId } = await svc.createEndpoint({ url: 'http://127.0.0.1:9/bench', customerId: 'bench' });
    const since = new Date(Date.now() - 60_000);
    for (let i = 0; i < N; i += 100)
      await Promise.all(
        Array.from({ length: Math.min(100, N - i) }, (_, j) =>
          svc.send('bench.recover', { i: i + j }, { customerId: 'bench' }),
        ),
      );
    const count = async (sql: string) => Number((await ds.query(sql))[0].n);
    /** Every delivery failed, its job gone (a finished job is removed), as after a long outage. */
    const failAll = async () => {
      while ((await count('SELECT COUNT(*) AS n FROM webhook_deliveries WHERE enqueued_at IS NULL')) > 0)
        await new Promise((r) => setTimeout(r, 20));
      await queue.empty();
      await ds.query(`UPDATE webhook_deliveries SET status = 'failed'`);
    };
    const byHand = async () => {
      let done = 0;
      for (let cursor: string | undefined; ;) {
        const page = await svc.listDeliveries({ endpointId, status: 'failed', limit: 100, cursor });
        for (const d of page.data) {
          if (d.createdAt < since) continue;
          await svc.redeliver(d.id);
          done++;
        }
        if (!page.nextCursor) return done;
        cursor = page.nextCursor;
      }
    };
    const module = async () => (await svc.recoverFailed({ endpointId, since })).deliveryIds.length;
    const sums = { module: { us: 0, cpu: 0 }, byHand: { us: 0, cpu: 0 } };
    for (let r = 0; r < ROUNDS; r++) {
      for (const [name, way] of [
        ['module', module],
        ['byHand', byHand],
      ] as const) {
        await failAll();
        const cpu = process.cpuUsage();
        const t = performance.now();
        const done = await way();
        const used = process.cpuUsage(cpu);
        const ms = performance.now() - t;
        const waiting = await queue.getWaitingCount();
        if (done !== N || waiting !== N)
          throw new Error(`${name}: ${done} redelivered, ${waiting} jobs waiting, not ${N}`);
        sums[name].us += (ms * 1000) / N;
        sums[name].cpu += (used.user + used.system) / N;
      }
    }
    for (const [label, k] of [
      ['recoverFailed', 'module'],
      ['listDeliveries + redeliver each, by hand', 'byHand'],
    ] as const)
      console.log(
        `| ${kind} | ${label} | ${(sums[k].us / ROUNDS).toFixed(0)} | ${(sums[k].cpu / ROUNDS).toFixed(0)} |`,
      );
  } finally {
    await app.close();
    await deletePrefix(prefix);
    await db.drop();
  }
}
