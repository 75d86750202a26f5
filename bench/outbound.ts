import { readdirSync, readFileSync } from 'node:fs';
import type { OutboundTaskConfig } from './outbound-child.js';
import { type BenchChild, type BenchDbKind, benchPrefix, createBenchDb, deletePrefix, forkBench } from './support.js';

/** The receiver child: a URL to POST to, and the arrival time of the n-th request. */
export interface ReceiverHandle {
  url: string;
  /** Resets the count; the returned promise resolves when `n` requests have arrived. */
  expect(n: number, timeoutMs: number): Promise<{ at: number; firstAt: number }>;
  stop(): Promise<void>;
}

export async function startReceiver(): Promise<ReceiverHandle> {
  const child = forkBench('receiver', {});
  const { port } = await child.ask<{ port: number }>({}, 'ready', 10_000);
  return {
    url: `http://127.0.0.1:${port}/hook`,
    async expect(n, timeoutMs) {
      await child.ask({ cmd: 'reset' }, 'reset', 5_000);
      const reached = child.ask<{ at: number; firstAt: number }>({ cmd: 'expect', n }, 'reached', timeoutMs);
      // IPC is ordered: once this answers, the receiver holds the expectation.
      await child.ask({ cmd: 'count' }, 'count', 5_000);
      return reached;
    },
    stop: () => child.exit(),
  };
}

interface Latencies {
  cpuMs: number;
  startedAt: number;
  endedAt: number;
  p50: number;
  p99: number;
  max: number;
}
interface Drain {
  /** CPU time of the worker process over the drain. */
  cpuMs: number;
  startedAt: number;
  endedAt: number;
  peakRss: number;
  bootMemory: { rss: number; heapUsed: number };
  checkpoints: MemoryCheckpoint[];
  failed: number;
}

/** The worker's memory when `delivered` deliveries had succeeded: as read, then after a full GC. */
export interface MemoryCheckpoint {
  delivered: number;
  rss: number;
  heapUsed: number;
  /** Absent when the child runs without --expose-gc. */
  rssAfterGc?: number;
  heapUsedAfterGc?: number;
  at: number;
}

/** One measured run: N jobs enqueued while the queue is paused, then drained. */
export interface OutboundRun {
  label: string;
  n: number;
  concurrency: number;
  enqueue: Latencies;
  drain: Drain;
  /** When the receiver had its first and its N-th request. */
  received: { firstAt: number; at: number };
  /** PostgreSQL only: CPU ms of the server processes serving this run's database, per phase. */
  pgCpuMs?: { enqueue: number; drain: number };
}

/** Seconds of the drain: from resume until the receiver had N requests. */
export const drainSeconds = (r: OutboundRun) => (r.received.at - r.drain.startedAt) / 1000;
export const drainRate = (r: OutboundRun) => r.n / drainSeconds(r);
export const enqueueSeconds = (r: OutboundRun) => (r.enqueue.endedAt - r.enqueue.startedAt) / 1000;
/** Enqueue and drain back to back (worker boot between them excluded). */
export const endToEndRate = (r: OutboundRun) => r.n / (enqueueSeconds(r) + drainSeconds(r));

async function runTask<T>(config: OutboundTaskConfig, args: string[] = []): Promise<T> {
  const child: BenchChild = forkBench('outbound-child', config, args);
  try {
    return await child.ask<T>({}, 'result', config.deadlineMs + 60_000);
  } finally {
    await child.exit();
  }
}

/**
 * Samples, every 100 ms, the CPU time of the PostgreSQL server processes serving the database at
 * `url` (from /proc; a process keeps its last reading after it exits). `read()` is the total.
 */
function pgServerCpu(url: string): { read(): number; stop(): void } {
  const db = ` ${new URL(url).pathname.slice(1)} `;
  const seen = new Map<string, number>();
  const sample = () => {
    for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
      try {
        if (!readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(db)) continue;
        const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
        seen.set(pid, (Number(fields[11]) + Number(fields[12])) * 10); // utime + stime, USER_HZ 100
      } catch {
        // the process ended between readdir and read
      }
    }
  };
  const timer = setInterval(sample, 100);
  return {
    read: () => (sample(), [...seen.values()].reduce((a, b) => a + b, 0)),
    stop: () => clearInterval(timer),
  };
}

/** How long a phase of `n` jobs may take before the run is abandoned. */
const deadlineFor = (n: number) => 60_000 + n * 20;

/** What the soak asks of the worker's drain: memory readings, forced collections, Node flags. */
export interface DrainOptions {
  /** Delivered counts at which the worker reads its memory. */
  checkpoints?: number[];
  /** Force a full collection at each reading and read again. */
  forceGc?: boolean;
  /** Flags for the worker's Node (`--max-old-space-size=256`). */
  workerArgs?: string[];
}

/**
 * The whole pipeline on `kind`: an emitter process awaits N `send()` calls (queue paused), then
 * a worker process (role `worker`) resumes the queue and delivers to the receiver child.
 */
export async function runPipeline(
  kind: BenchDbKind,
  receiver: ReceiverHandle,
  n: number,
  concurrency: number,
  { checkpoints = [], forceGc = false, workerArgs = [] }: DrainOptions = {},
): Promise<OutboundRun> {
  const db = await createBenchDb(kind);
  const prefix = benchPrefix();
  const base = { prefix, n, url: receiver.url, db: db.spec, concurrency, deadlineMs: deadlineFor(n) };
  const pg = kind === 'postgres' ? pgServerCpu(db.spec.location) : null;
  try {
    const enqueue = await runTask<Latencies>({ ...base, task: 'emit' });
    const afterEnqueue = pg?.read() ?? 0;
    const received = receiver.expect(n, base.deadlineMs);
    const drain = await runTask<Drain>({ ...base, task: 'deliver', checkpoints, forceGc }, workerArgs);
    const pgCpuMs = pg ? { enqueue: afterEnqueue, drain: pg.read() - afterEnqueue } : undefined;
    const label = `pipeline, ${kind === 'sqlite' ? 'SQLite (WAL)' : 'PostgreSQL'}`;
    return { label, n, concurrency, enqueue, drain, received: await received, pgCpuMs };
  } finally {
    pg?.stop();
    await deletePrefix(prefix);
    await db.drop();
  }
}

/** The bare ceiling: the same N jobs through a Bull queue whose processor only POSTs (no database). */
export async function runCeiling(receiver: ReceiverHandle, n: number, concurrency: number): Promise<OutboundRun> {
  const prefix = benchPrefix();
  const base = { prefix, n, url: receiver.url, concurrency, deadlineMs: deadlineFor(n) };
  try {
    const enqueue = await runTask<Latencies>({ ...base, task: 'ceiling-fill' });
    const received = receiver.expect(n, base.deadlineMs);
    const drain = await runTask<Drain>({ ...base, task: 'ceiling-drain' });
    return { label: 'ceiling (Bull + undici, no database)', n, concurrency, enqueue, drain, received: await received };
  } finally {
    await deletePrefix(prefix);
  }
}

const f0 = (x: number) => x.toFixed(0);
const f1 = (x: number) => x.toFixed(1);
const f2 = (x: number) => x.toFixed(2);

/** Markdown of the outbound benchmark: each pipeline run beside the ceiling run just before it. */
export function outboundSection(pairs: { ceiling: OutboundRun; pipeline: OutboundRun }[], target: number): string {
  const rows = pairs.flatMap(({ ceiling, pipeline }) =>
    [ceiling, pipeline].map((r) => {
      const isPipeline = r === pipeline;
      const ratio = drainRate(r) / drainRate(ceiling);
      return [
        r.label,
        f0(r.n),
        `${f1(enqueueSeconds(r))} s (${f0(r.n / enqueueSeconds(r))}/s)`,
        `${f2(r.enqueue.p50)} / ${f2(r.enqueue.p99)}`,
        f1(drainSeconds(r)) + ' s',
        `**${f0(drainRate(r))}**`,
        isPipeline ? `**${f2(ratio)}**` : '1',
        isPipeline ? (ratio >= target ? 'yes' : '**no**') : '',
        `${f0(endToEndRate(r))} (${f2(endToEndRate(r) / endToEndRate(ceiling))})`,
        `${f0(r.drain.bootMemory.rss)} → ${f0(r.drain.peakRss)}`,
        [r.enqueue.cpuMs, r.drain.cpuMs].map((ms) => f0((ms * 1000) / r.n)).join(' / ') +
          (r.pgCpuMs
            ? ` (PostgreSQL server: ${f0((r.pgCpuMs.enqueue * 1000) / r.n)} / ${f0((r.pgCpuMs.drain * 1000) / r.n)})`
            : ''),
      ];
    }),
  );
  return [
    `| run | N | enqueue: time (rate) | enqueue call p50 / p99 ms | drain | deliveries/s (drain) | ratio to ceiling | ≥ ${target}? | enqueue+drain/s (ratio) | worker RSS MB: booted → peak | CPU µs per job: enqueuing process / worker |`,
    '|---|---:|---:|---:|---:|---:|---:|:---:|---:|---:|---:|',
    ...rows.map((cells) => `| ${cells.join(' | ')} |`),
  ].join('\n');
}
