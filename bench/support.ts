import { BullModule } from '@nestjs/bull';
import { Module, type INestApplicationContext } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { TypeOrmModule } from '@nestjs/typeorm';
import { type ChildProcess, fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import type { DataSourceOptions } from 'typeorm';
import type { WebhooksModuleOptions, WebhooksRole } from '../src/interfaces/webhooks-options.interface.js';
import { WebhooksModule } from '../src/webhooks.module.js';
import { resolveWebhooksOptions } from '../src/webhooks.options.js';
import { migrate } from '../test/support/app.js';
import { createTestDatabase } from '../test/support/databases.js';
import { deletePrefix, REDIS_URL } from '../test/support/redis.js';
import { benchOtel } from './otel.js';

export { deletePrefix, REDIS_URL };

/** Database kinds the benchmarks run on. */
export type BenchDbKind = 'sqlite' | 'postgres';

/** A benchmark's own database, described so that it can cross to a child process. */
export interface BenchDbSpec {
  kind: BenchDbKind;
  /** The SQLite file, or the PostgreSQL URL. */
  location: string;
}

/** Creates a database of the benchmark's own (a fresh WAL SQLite file or PostgreSQL database), migrated. */
export async function createBenchDb(kind: BenchDbKind): Promise<{ spec: BenchDbSpec; drop(): Promise<void> }> {
  const db = await createTestDatabase(kind);
  await migrate(db);
  const o = db.options as { url?: string; database?: string };
  return { spec: { kind, location: kind === 'postgres' ? o.url! : String(o.database) }, drop: () => db.drop() };
}

/** TypeORM options of a {@link BenchDbSpec}; SQLite is opened with journal_mode=WAL. */
export function dataSourceOptions(spec: BenchDbSpec): DataSourceOptions {
  if (spec.kind === 'postgres') return { type: 'postgres', url: spec.location };
  return {
    type: 'better-sqlite3',
    database: spec.location,
    prepareDatabase: (db: any) => db.pragma('journal_mode = WAL'),
  };
}

/** Deliveries at once: the module's default, unless BENCH_CONCURRENCY says otherwise. */
export const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? resolveWebhooksOptions().outbound.concurrency);

/** A Bull key prefix of the benchmark's own. */
export function benchPrefix(): string {
  return `wh-bench-${randomBytes(5).toString('hex')}`;
}

/** What a benchmark app needs to boot. */
export interface BenchAppOptions {
  db: BenchDbSpec;
  prefix: string;
  role: WebhooksRole;
  concurrency?: number;
  /** Entities of the app (created with synchronize); the module's tables come from migrations. */
  entities?: Function[];
  /** Set to log every SQL statement (short runs only). */
  logging?: boolean;
}

/**
 * Boots a Nest application context as an app would: TypeOrmModule and BullModule at the root,
 * WebhooksModule with loopback allowed. Default concurrency unless `concurrency` is given.
 */
export async function bootApp(opts: BenchAppOptions): Promise<INestApplicationContext> {
  const webhooks: WebhooksModuleOptions = {
    role: opts.role,
    outbound: { network: { allow: ['127.0.0.1/32'] }, ...(opts.concurrency ? { concurrency: opts.concurrency } : {}) },
  };
  const entities = opts.entities ?? [];

  @Module({
    imports: [
      TypeOrmModule.forRoot({
        ...dataSourceOptions(opts.db),
        autoLoadEntities: true,
        entities,
        synchronize: entities.length > 0,
        logging: opts.logging ? ['query'] : false,
      } as any),
      BullModule.forRoot({ redis: REDIS_URL, prefix: opts.prefix }),
      WebhooksModule.forRoot(webhooks),
    ],
  })
  class BenchAppModule {}

  await benchOtel();
  return NestFactory.createApplicationContext(BenchAppModule, { logger: ['error', 'warn'] });
}

/** The webhook's data: a demo order, as the app would send it. */
export function benchPayload(i: number) {
  return { order_id: String(i), user_id: `usr_${i % 1000}`, total: '129.90', completed_at: new Date().toISOString() };
}

/** Wall-clock milliseconds with sub-millisecond resolution, comparable across processes. */
export function wallMs(): number {
  return performance.timeOrigin + performance.now();
}

/** The `p`-th percentile (0–100) of ascending `sorted`, nearest rank. */
export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

/** Samples this process's RSS every `everyMs` and keeps the peak. */
export function rssSampler(everyMs = 100): { peak(): number; stop(): void } {
  let peak = process.memoryUsage.rss();
  const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage.rss())), everyMs);
  return { peak: () => Math.max(peak, process.memoryUsage.rss()), stop: () => clearInterval(timer) };
}

export const MB = 1024 * 1024;

/** A forked benchmark script that answers requests over IPC. */
export interface BenchChild {
  process: ChildProcess;
  /** Sends `msg` and resolves with the next reply whose `type` is `reply` (rejects if the child dies or errors). */
  ask<T = any>(msg: object, reply: string, timeoutMs: number): Promise<T>;
  exit(): Promise<void>;
}

/**
 * Forks a compiled bench script (`build/bench/<name>.js`) with `config` in BENCH_CONFIG; `args`
 * go to its Node (after BENCH_CHILD_ARGS, so that they win).
 */
export function forkBench(name: string, config: object, args: string[] = []): BenchChild {
  const child = fork(new URL(`./${name}.js`, import.meta.url), [], {
    env: { ...process.env, BENCH_CONFIG: JSON.stringify(config) },
    // --expose-gc lets the soak read memory after a full collection too; it changes nothing else.
    execArgv: ['--expose-gc', ...(process.env.BENCH_CHILD_ARGS?.split(' ').filter(Boolean) ?? []), ...args],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    process: child,
    ask(msg, reply, timeoutMs) {
      return new Promise((resolve, reject) => {
        const done = (fn: () => void) => (
          clearTimeout(timer),
          child.off('message', onMessage),
          child.off('exit', onExit),
          fn()
        );
        const onMessage = (m: any) => {
          if (m?.type === 'error') done(() => reject(new Error(`${name}: ${m.message}`)));
          else if (m?.type === reply) done(() => resolve(m));
        };
        const onExit = (code: number | null) =>
          done(() => reject(new Error(`${name} exited (${code}) before "${reply}"`)));
        const timer = setTimeout(
          () => done(() => reject(new Error(`${name}: no "${reply}" within ${timeoutMs} ms`))),
          timeoutMs,
        );
        child.on('message', onMessage);
        child.once('exit', onExit);
        if (Object.keys(msg).length) child.send(msg);
      });
    },
    async exit() {
      // A child that has answered exits by itself (and writes its --cpu-prof); stop it otherwise.
      const stop = setTimeout(() => child.kill('SIGTERM'), 5_000);
      if (child.exitCode === null && child.signalCode === null) await exited;
      clearTimeout(stop);
    },
  };
}

/** Runs `task` as a child script's body: replies with its result, or with the error, then exits. */
export function childMain(task: (config: any, reply: (msg: object) => void) => Promise<object>): void {
  const config = JSON.parse(process.env.BENCH_CONFIG ?? '{}');
  const reply = (msg: object) => process.send!(msg);
  task(config, reply).then(
    (result) => process.send!({ type: 'result', ...result }, () => process.exit(0)),
    (err: Error) => process.send!({ type: 'error', message: err.stack ?? String(err) }, () => process.exit(1)),
  );
}
