import { getQueueToken } from '@nestjs/bull';
import Bull, { type Queue } from 'bull';
import { Agent, request } from 'undici';
import { WebhookService } from '../src/outbound/webhook.service.js';
import { WebhookEvents } from '../src/webhook.events.js';
import { WEBHOOKS_QUEUE } from '../src/webhooks.constants.js';
import type { MemoryCheckpoint } from './outbound.js';
import {
  benchPayload,
  bootApp,
  type BenchDbSpec,
  childMain,
  MB,
  percentile,
  REDIS_URL,
  rssSampler,
  wallMs,
} from './support.js';

/** Configuration of one outbound phase, run in a process of its own. */
export interface OutboundTaskConfig {
  task: 'emit' | 'deliver' | 'ceiling-fill' | 'ceiling-drain';
  prefix: string;
  n: number;
  /** Receiver URL (emit: the endpoint's; ceiling-drain: where to POST). */
  url: string;
  db?: BenchDbSpec;
  concurrency: number;
  /** deliver: delivered counts at which to record RSS and heap. */
  checkpoints?: number[];
  /** deliver: at each checkpoint, also force a full collection and read memory again. */
  forceGc?: boolean;
  deadlineMs: number;
}

/** Latency summary of awaited calls, in milliseconds. */
function summarise(lat: Float64Array, startedAt: number, endedAt: number) {
  const sorted = Array.from(lat).sort((a, b) => a - b);
  return {
    startedAt,
    endedAt,
    p50: percentile(sorted, 50),
    p99: percentile(sorted, 99),
    max: sorted[sorted.length - 1],
  };
}

/** User + system CPU milliseconds of this process since `since`. */
function cpuMs(since: NodeJS.CpuUsage): number {
  const d = process.cpuUsage(since);
  return (d.user + d.system) / 1000;
}

function memory() {
  const m = process.memoryUsage();
  return { rss: m.rss / MB, heapUsed: m.heapUsed / MB };
}

/**
 * RSS and heap as they are, then, when `forceGc`, again after a full collection (bench children
 * run with --expose-gc).
 */
function memoryWithGc(forceGc: boolean) {
  const asRead = memory();
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc || !forceGc) return asRead;
  gc();
  const after = memory();
  return { ...asRead, rssAfterGc: after.rss, heapUsedAfterGc: after.heapUsed };
}

/** Emitter app: creates the endpoint, pauses the queue (so nothing is delivered yet), awaits N send() calls one by one. */
async function emit(c: OutboundTaskConfig) {
  const app = await bootApp({ db: c.db!, prefix: c.prefix, role: 'emitter' });
  try {
    await app.get<Queue>(getQueueToken(WEBHOOKS_QUEUE)).pause();
    const webhooks = app.get(WebhookService);
    await webhooks.createEndpoint({ url: c.url, eventTypes: ['bench.*'] });
    const lat = new Float64Array(c.n);
    const startedAt = wallMs();
    const cpu = process.cpuUsage();
    for (let i = 0; i < c.n; i++) {
      const t = performance.now();
      await webhooks.send('bench.delivered', benchPayload(i));
      lat[i] = performance.now() - t;
    }
    return { ...summarise(lat, startedAt, wallMs()), cpuMs: cpuMs(cpu) };
  } finally {
    await app.close();
  }
}

/**
 * Worker app (role `worker`, the module's default concurrency unless told): resumes the queue
 * and waits until N `delivery.succeeded` events; samples its own RSS all along.
 */
async function deliver(c: OutboundTaskConfig) {
  const app = await bootApp({ db: c.db!, prefix: c.prefix, role: 'worker', concurrency: c.concurrency });
  const sampler = rssSampler();
  try {
    const events = app.get(WebhookEvents);
    const checkpoints: MemoryCheckpoint[] = [];
    const wanted = new Set(c.checkpoints ?? []);
    let succeeded = 0;
    let failed = 0;
    const bootMemory = memory();
    const done = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () =>
          reject(
            new Error(
              `deliver: ${succeeded} of ${c.n} succeeded (${failed} failed attempts) within ${c.deadlineMs} ms`,
            ),
          ),
        c.deadlineMs,
      );
      events.on('delivery.succeeded', () => {
        if (wanted.has(++succeeded))
          checkpoints.push({ delivered: succeeded, ...memoryWithGc(c.forceGc ?? false), at: wallMs() });
        if (succeeded === c.n) resolve(clearTimeout(timer));
      });
      events.on('delivery.failed', () => failed++);
      events.on('delivery.exhausted', () => failed++);
    });
    const startedAt = wallMs();
    const cpu = process.cpuUsage();
    await app.get<Queue>(getQueueToken(WEBHOOKS_QUEUE)).resume();
    await done;
    return {
      startedAt,
      endedAt: wallMs(),
      cpuMs: cpuMs(cpu),
      peakRss: sampler.peak() / MB,
      bootMemory,
      checkpoints,
      failed,
    };
  } finally {
    sampler.stop();
    await app.close();
  }
}

/** The ceiling's producer: the same jobs (id, data, attempts) added one by one to a paused queue. */
async function ceilingFill(c: OutboundTaskConfig) {
  const queue = new Bull(WEBHOOKS_QUEUE, { redis: REDIS_URL, prefix: c.prefix });
  try {
    await queue.pause();
    const lat = new Float64Array(c.n);
    const startedAt = wallMs();
    const cpu = process.cpuUsage();
    for (let i = 0; i < c.n; i++) {
      const t = performance.now();
      const deliveryId = `dlv_ceiling_${i}`;
      await queue.add(
        'deliver',
        { deliveryId, trigger: 'scheduled' },
        { jobId: deliveryId, attempts: 8, removeOnComplete: true },
      );
      lat[i] = performance.now() - t;
    }
    return { ...summarise(lat, startedAt, wallMs()), cpuMs: cpuMs(cpu) };
  } finally {
    await queue.close();
  }
}

/** The ceiling's worker: a Bull processor at the same concurrency that only POSTs with undici. */
async function ceilingDrain(c: OutboundTaskConfig) {
  const queue = new Bull(WEBHOOKS_QUEUE, { redis: REDIS_URL, prefix: c.prefix });
  const agent = new Agent({ keepAliveTimeout: 10_000, connections: 128 });
  const sampler = rssSampler();
  try {
    const bootMemory = memory();
    let succeeded = 0;
    const done = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`ceiling: ${succeeded} of ${c.n} within ${c.deadlineMs} ms`)),
        c.deadlineMs,
      );
      queue
        .process('deliver', c.concurrency, async (job) => {
          const body = JSON.stringify({
            type: 'bench.delivered',
            timestamp: new Date().toISOString(),
            data: benchPayload(succeeded),
          });
          const headers = {
            'content-type': 'application/json',
            'webhook-id': String(job.id),
            'webhook-timestamp': String(Math.floor(Date.now() / 1000)),
          };
          const res = await request(c.url, {
            method: 'POST',
            headers,
            body,
            dispatcher: agent,
            signal: AbortSignal.timeout(15_000),
          });
          await res.body.text();
          if (res.statusCode !== 200) throw new Error(`HTTP ${res.statusCode}`);
          if (++succeeded === c.n) resolve(clearTimeout(timer));
        })
        .catch(reject);
    });
    const startedAt = wallMs();
    const cpu = process.cpuUsage();
    await queue.resume();
    await done;
    return {
      startedAt,
      endedAt: wallMs(),
      cpuMs: cpuMs(cpu),
      peakRss: sampler.peak() / MB,
      bootMemory,
      checkpoints: [],
      failed: 0,
    };
  } finally {
    sampler.stop();
    await queue.close();
    await agent.close();
  }
}

const TASKS = { emit, deliver, 'ceiling-fill': ceilingFill, 'ceiling-drain': ceilingDrain };

childMain((c: OutboundTaskConfig) => TASKS[c.task](c));
