import Bull from 'bull';
import { pathToFileURL } from 'node:url';
import { DataSource } from 'typeorm';
import { Agent, request } from 'undici';
import { WebhookService } from '../src/outbound/webhook.service.js';
import { generateSecret, signStandard } from '../src/signing/standard-webhooks.js';
import { type ReceiverHandle, startReceiver } from './outbound.js';
import {
  type BenchDbKind,
  type BenchDbSpec,
  benchPayload,
  benchPrefix,
  bootApp,
  childMain,
  createBenchDb,
  dataSourceOptions,
  deletePrefix,
  forkBench,
  REDIS_URL,
  wallMs,
} from './support.js';

/**
 * End-to-end outbound (issue 21): N webhooks from {@link CALLERS} concurrent callers to signed
 * POSTs received by the receiver child, sends and deliveries overlapping, the worker in the
 * same process as the callers. Three runs per database, each in a fresh process:
 * - module: an app with role `all`, one endpoint on the receiver; each caller awaits `send()`
 *   in a loop; the module's worker delivers at its default concurrency.
 * - ceiling: bare Bull + undici, no database: each caller awaits `queue.add()`; a processor at
 *   the same concurrency signs the body (Standard Webhooks HMAC) and POSTs it.
 * - floor: the database alone: each caller awaits a transaction that inserts one row, through a
 *   TypeORM DataSource of the same options: the database's own rate at this concurrency.
 * Knobs: BENCH_E2E_N (5000), BENCH_DBS (sqlite,postgres).
 */
const N = Number(process.env.BENCH_E2E_N ?? 5_000);
const CALLERS = 50;
const DBS = (process.env.BENCH_DBS ?? 'sqlite,postgres').split(',').map((s) => s.trim()) as BenchDbKind[];

type Task = 'module' | 'ceiling' | 'floor';
interface E2eConfig {
  task: Task;
  db: BenchDbSpec;
  prefix: string;
  n: number;
  url: string;
}
interface E2eResult {
  /** When the callers started (wall ms). */
  startedAt: number;
  /** When the last caller's call returned. */
  callsEndedAt: number;
  cpuMs: number;
}

/** Runs `call(i)` for i in [0, n) from {@link CALLERS} concurrent loops. */
async function callers(n: number, call: (i: number) => Promise<unknown>): Promise<void> {
  let next = 0;
  const loop = async () => {
    while (next < n) await call(next++);
  };
  await Promise.all(Array.from({ length: CALLERS }, loop));
}

async function measure(work: () => Promise<void>): Promise<E2eResult> {
  const cpu = process.cpuUsage();
  const startedAt = wallMs();
  await work();
  const used = process.cpuUsage(cpu);
  return { startedAt, callsEndedAt: wallMs(), cpuMs: (used.user + used.system) / 1000 };
}

async function moduleRun(c: E2eConfig): Promise<E2eResult> {
  const app = await bootApp({ db: c.db, prefix: c.prefix, role: 'all' });
  try {
    const webhooks = app.get(WebhookService);
    await webhooks.createEndpoint({ url: c.url, eventTypes: ['bench.*'] });
    const result = await measure(() => callers(c.n, (i) => webhooks.send('bench.delivered', benchPayload(i))));
    // The parent ends the run when the receiver has N requests; the worker goes on meanwhile.
    process.send!({ type: 'sent', ...result });
    await new Promise((resolve) => process.once('message', resolve));
    return result;
  } finally {
    await app.close();
  }
}

async function ceilingRun(c: E2eConfig): Promise<E2eResult> {
  const queue = new Bull('bench-e2e', { redis: REDIS_URL, prefix: c.prefix });
  const agent = new Agent({ keepAliveTimeout: 10_000, connections: 128 });
  const secret = generateSecret();
  try {
    void queue.process('deliver', CALLERS, async (job) => {
      const id = String(job.id);
      const body = JSON.stringify({ type: 'bench.delivered', timestamp: new Date().toISOString(), data: job.data });
      const timestamp = Math.floor(Date.now() / 1000);
      const res = await request(c.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'webhook-id': id,
          'webhook-timestamp': String(timestamp),
          'webhook-signature': signStandard(secret, id, timestamp, body),
        },
        body,
        dispatcher: agent,
        signal: AbortSignal.timeout(15_000),
      });
      await res.body.text();
      if (res.statusCode !== 200) throw new Error(`HTTP ${res.statusCode}`);
    });
    const result = await measure(() =>
      callers(c.n, (i) =>
        queue.add('deliver', benchPayload(i), { jobId: `msg_e2e_${i}`, attempts: 8, removeOnComplete: true }),
      ),
    );
    process.send!({ type: 'sent', ...result });
    await new Promise((resolve) => process.once('message', resolve));
    return result;
  } finally {
    await queue.close();
    await agent.close();
  }
}

async function floorRun(c: E2eConfig): Promise<E2eResult> {
  const ds = await new DataSource(dataSourceOptions(c.db)).initialize();
  try {
    const postgres = c.db.kind === 'postgres';
    await ds.query(
      'CREATE TABLE bench_floor (id varchar(40) PRIMARY KEY, body text NOT NULL, created_at bigint NOT NULL)',
    );
    const insert = `INSERT INTO bench_floor (id, body, created_at) VALUES (${postgres ? '$1, $2, $3' : '?, ?, ?'})`;
    const body = JSON.stringify(benchPayload(0));
    const write = (i: number) => ds.transaction((m) => m.query(insert, [`row_${i}`, body, Date.now()]));
    // SQLite has one connection, on which TypeORM cannot open a transaction inside another: the
    // callers take turns, as they would in an app.
    let turn: Promise<unknown> = Promise.resolve();
    const inTurn = (i: number) => (turn = turn.then(() => write(i)));
    const result = await measure(() => callers(c.n, postgres ? write : inTurn));
    return { ...result };
  } finally {
    await ds.destroy();
  }
}

const TASKS = { module: moduleRun, ceiling: ceilingRun, floor: floorRun };

/** One end-to-end run: deliveries/s from the first call to the N-th request at the receiver (floor: rows/s). */
export interface E2eRun {
  kind: BenchDbKind;
  task: Task;
  /** Webhooks (floor: rows) per second, first call to last arrival (floor: last commit). */
  perSecond: number;
  /** Calls per second while the callers ran. */
  callsPerSecond: number;
  cpuUsPerItem: number;
}

async function runOne(kind: BenchDbKind, task: Task, receiver: ReceiverHandle): Promise<E2eRun> {
  const db = await createBenchDb(kind);
  const prefix = benchPrefix();
  const config: E2eConfig = { task, db: db.spec, prefix, n: N, url: receiver.url };
  const deadline = 120_000 + N * 20;
  // Expected before the child starts, so that no arrival is missed.
  const arrived = task === 'floor' ? null : receiver.expect(N, deadline);
  const child = forkBench('end-to-end', config);
  try {
    if (task === 'floor') {
      const r = await child.ask<E2eResult>({}, 'result', deadline);
      const seconds = (r.callsEndedAt - r.startedAt) / 1000;
      return { kind, task, perSecond: N / seconds, callsPerSecond: N / seconds, cpuUsPerItem: (r.cpuMs * 1000) / N };
    }
    const sent = await child.ask<E2eResult>({}, 'sent', deadline);
    const { at } = await arrived!;
    child.process.send({ type: 'stop' });
    const result = await child.ask<E2eResult>({}, 'result', 60_000);
    return {
      kind,
      task,
      perSecond: N / ((at - sent.startedAt) / 1000),
      callsPerSecond: N / ((sent.callsEndedAt - sent.startedAt) / 1000),
      cpuUsPerItem: (result.cpuMs * 1000) / N,
    };
  } finally {
    await child.exit();
    await deletePrefix(prefix);
    await db.drop();
  }
}

/** Runs the end-to-end benchmark on every database of BENCH_DBS and returns its markdown section. */
export async function runEndToEndBench(receiver?: ReceiverHandle): Promise<string> {
  const own = receiver ? null : await startReceiver();
  const target = receiver ?? own!;
  const runs: E2eRun[] = [];
  try {
    for (const kind of DBS)
      for (const task of ['ceiling', 'module', 'floor'] as const) runs.push(await runOne(kind, task, target));
  } finally {
    await own?.stop();
  }
  const f = (x: number, d = 0) => x.toFixed(d);
  const lines = [
    `${N} webhooks from ${CALLERS} concurrent callers to signed POSTs at the receiver child, sends and deliveries` +
      ` overlapping, worker in the callers' process (DEFINITIONS.md, 5). Rate = N ÷ (first call → N-th arrival).` +
      ` Floor: ${N} one-row insert transactions from ${CALLERS} concurrent callers on the same database.`,
    '',
    '| database | ceiling (Bull + undici) webhooks/s | module webhooks/s | **module ÷ ceiling** | send() calls/s | add() calls/s | floor: insert transactions/s | CPU µs per webhook: ceiling / module |',
    '|---|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const kind of DBS) {
    const get = (task: Task) => runs.find((r) => r.kind === kind && r.task === task)!;
    const [ceiling, mod, floor] = [get('ceiling'), get('module'), get('floor')];
    lines.push(
      `| ${kind === 'sqlite' ? 'SQLite (WAL)' : 'PostgreSQL'} | ${f(ceiling.perSecond)} | ${f(mod.perSecond)} | ` +
        `**${f(mod.perSecond / ceiling.perSecond, 2)}** | ${f(mod.callsPerSecond)} | ${f(ceiling.callsPerSecond)} | ` +
        `${f(floor.perSecond)} | ${f(ceiling.cpuUsPerItem)} / ${f(mod.cpuUsPerItem)} |`,
    );
  }
  return lines.join('\n');
}

const config = JSON.parse(process.env.BENCH_CONFIG ?? '{}') as Partial<E2eConfig>;
if (process.send && config.task) {
  childMain((c: E2eConfig) => TASKS[c.task](c) as Promise<object>);
} else if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  // Run alone: `node build/bench/end-to-end.js` (after `npx tsc -p bench/tsconfig.json`).
  console.log(await runEndToEndBench());
}
