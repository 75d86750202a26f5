import { BullModule } from '@nestjs/bull';
import {
  Body,
  Controller,
  Headers,
  HttpCode,
  Injectable,
  Module,
  Post,
  Req,
  UnauthorizedException,
  type INestApplication,
  type RawBodyRequest,
} from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { InjectDataSource, TypeOrmModule } from '@nestjs/typeorm';
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { pathToFileURL } from 'node:url';
import { DataSource } from 'typeorm';
import { Agent, request } from 'undici';
import { OnWebhook } from '../src/decorators/on-webhook.decorator.js';
import { InboxStore } from '../src/inbound/inbox.store.js';
import { generateSecret, secretKey, signStandard } from '../src/signing/standard-webhooks.js';
import { WebhooksModule } from '../src/webhooks.module.js';
import { runInboxWal } from './inbox-wal.js';
import { benchOtel } from './otel.js';
import {
  benchPrefix,
  createBenchDb,
  dataSourceOptions,
  deletePrefix,
  forkBench,
  percentile,
  REDIS_URL,
} from './support.js';

/**
 * Inbound benchmark: requests/s of a verified, inbox-recorded, dispatched webhook against the
 * hand-written recipe (verify, unique insert, handler) and a bare POST route of the same Nest
 * app, same run, same 1 KiB body and headers, on SQLite (WAL), on Express and Fastify. The load comes from a child process (undici, keep-alive, 127.0.0.1),
 * each phase bounded in time and in count. Knobs: BENCH_INBOUND_MS (per phase, 3000),
 * BENCH_INBOUND_CONNECTIONS (16), BENCH_INBOUND_ROUNDS (3), BENCH_INBOUND_ADAPTERS
 * (express,fastify), BENCH_INBOUND_SYNCHRONOUS (SQLite's `synchronous` with WAL: NORMAL, the
 * setting WAL is meant to run with, or FULL), BENCH_INBOUND_CHECKPOINT (the module's `sqliteCheckpoint`:
 * background, or inline for SQLite's own checkpoints). After the rounds it also measures the inbox alone
 * (InboxStore without HTTP) and the inbox's writes at their floor (bench/inbox-wal.ts).
 */
const PHASE_MS = Number(process.env.BENCH_INBOUND_MS ?? 3_000);
const WARMUP_MS = 1_000;
const CONNECTIONS = Number(process.env.BENCH_INBOUND_CONNECTIONS ?? 16);
const ROUNDS = Number(process.env.BENCH_INBOUND_ROUNDS ?? 3);
const MAX_REQUESTS = 200_000;
const INBOX_ALONE_MS = 2_000;
const BODY_BYTES = 1024;
const TARGET = 0.75;
const SYNCHRONOUS = (process.env.BENCH_INBOUND_SYNCHRONOUS ?? 'NORMAL').toUpperCase() === 'FULL' ? 'FULL' : 'NORMAL';
const CHECKPOINT = process.env.BENCH_INBOUND_CHECKPOINT === 'inline' ? 'inline' : 'background';

/** Opens the SQLite file in WAL mode with the given `synchronous`. */
function walWith(synchronous: 'NORMAL' | 'FULL') {
  return (db: { pragma(sql: string): unknown }) => {
    db.pragma('journal_mode = WAL');
    db.pragma(`synchronous = ${synchronous}`);
  };
}
type Adapter = 'express' | 'fastify';
const ADAPTERS = (process.env.BENCH_INBOUND_ADAPTERS ?? 'express,fastify').split(',').map((a) => a.trim()) as Adapter[];

/** One timed phase of the load child against one path. */
interface Phase {
  type: 'phase';
  url: string;
  secret: string;
  ms: number;
}
interface PhaseResult {
  type: 'phase-done';
  ok: number;
  failed: number;
  seconds: number;
  p50: number;
  p99: number;
  /** Server (this process) CPU per answered request, µs: steadier than req/s on a shared machine. */
  cpuUs?: number;
  /**
   * Time the server's event loop was busy per answered request, µs: its CPU on the main thread
   * plus the time it sat blocked in a system call (an fsync), which caps what one loop can serve.
   */
  loopUs?: number;
}

/** The 1 KiB body both routes receive, a fresh id inside so no two are alike. */
function body(n: number): string {
  const head = JSON.stringify({ type: 'bench.event', data: { n, pad: '' } });
  return head.replace('"pad":""', `"pad":"${'x'.repeat(BODY_BYTES - Buffer.byteLength(head))}"`);
}

@Injectable()
class BenchHandler {
  handled = 0;
  @OnWebhook('bench.event')
  handle() {
    this.handled++;
  }
}

@Controller('bare')
class BareController {
  @Post()
  @HttpCode(200)
  receive(@Body() _body: unknown) {
    return { received: true };
  }
}

/** The secret the recipe route checks; set before the app boots. */
const recipeAuth: { key: Buffer; toleranceS: number } = { key: Buffer.alloc(0), toleranceS: 300 };
/** The recipe's table: the event id under a unique index, nothing else. */
const RECIPE_TABLE = 'bench_recipe_events';

/**
 * What a user writes instead of the module (the seed's recipe): the raw body, a constant-time
 * HMAC-SHA256 check of the Standard Webhooks signature and timestamp, the event id inserted
 * under a unique index through the app's DataSource (a duplicate answers 200 without running the
 * handler), then the handler.
 */
@Controller('recipe')
class RecipeController {
  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly handler: BenchHandler,
  ) {}

  @Post()
  @HttpCode(200)
  async receive(@Req() req: RawBodyRequest<{ body: unknown }>, @Headers() headers: Record<string, string>) {
    const id = headers['webhook-id'];
    const timestamp = Number(headers['webhook-timestamp']);
    const raw = req.rawBody;
    if (!id || !raw || !Number.isInteger(timestamp)) throw new UnauthorizedException();
    if (Math.abs(Date.now() / 1000 - timestamp) > recipeAuth.toleranceS) throw new UnauthorizedException();
    const expected = createHmac('sha256', recipeAuth.key).update(`${id}.${timestamp}.`).update(raw).digest();
    const matches = (headers['webhook-signature'] ?? '').split(' ').some((sig) => {
      const given = Buffer.from(sig.replace(/^v1,/, ''), 'base64');
      return given.length === expected.length && timingSafeEqual(given, expected);
    });
    if (!matches) throw new UnauthorizedException();
    const postgres = this.dataSource.options.type === 'postgres';
    try {
      await this.dataSource.query(
        `INSERT INTO ${RECIPE_TABLE} (event_id, received_at) VALUES (${postgres ? '$1, $2' : '?, ?'})`,
        [id, Date.now()],
      );
    } catch (err) {
      const code = String((err as { code?: unknown }).code ?? '');
      if (code === '23505' || code.startsWith('SQLITE_CONSTRAINT')) return { duplicate: true };
      throw err;
    }
    this.handler.handle();
    return { received: true };
  }
}

async function startApp(
  adapter: Adapter,
  db: Awaited<ReturnType<typeof createBenchDb>>,
  prefix: string,
  secret: string,
) {
  @Module({
    imports: [
      TypeOrmModule.forRoot({
        ...dataSourceOptions(db.spec),
        prepareDatabase: walWith(SYNCHRONOUS),
        autoLoadEntities: true,
        logging: false,
      } as any),
      BullModule.forRoot({ redis: REDIS_URL, prefix }),
      // `emitter`: no delivery worker; sync-mode receiving runs in the request either way.
      WebhooksModule.forRoot({
        role: 'emitter',
        sqliteCheckpoint: CHECKPOINT,
        inbound: { sources: { bench: { scheme: 'standard', secrets: [secret] } } },
      }),
    ],
    controllers: [BareController, RecipeController],
    providers: [BenchHandler],
  })
  class InboundBenchModule {}

  await benchOtel();
  const options = { rawBody: true, logger: ['error', 'warn'] as const };
  let app: INestApplication;
  if (adapter === 'fastify') {
    const { FastifyAdapter } = await import('@nestjs/platform-fastify');
    app = await NestFactory.create(InboundBenchModule, new FastifyAdapter() as any, {
      ...options,
      logger: [...options.logger],
    });
  } else {
    app = await NestFactory.create(InboundBenchModule, { ...options, logger: [...options.logger] });
  }
  recipeAuth.key = secretKey(secret);
  await app
    .get(DataSource)
    .query(`CREATE TABLE ${RECIPE_TABLE} (event_id varchar(255) NOT NULL, received_at bigint NOT NULL)`);
  await app.get(DataSource).query(`CREATE UNIQUE INDEX uq_${RECIPE_TABLE} ON ${RECIPE_TABLE} (event_id)`);
  await app.listen(0, '127.0.0.1');
  const port = (app.getHttpServer().address() as AddressInfo).port;
  return { app, base: `http://127.0.0.1:${port}` };
}

/**
 * The inbox's share of a webhook call, measured without HTTP in the same app after the rounds:
 * {@link CONNECTIONS} loops at once, each claiming a fresh event id with the same 1 KiB body and
 * signed headers a call keeps, then marking it processed, as the controller does. Its event-loop
 * time per call is the SQLite work the webhook route carries on top of verifying and answering.
 */
async function inboxAlone(
  app: INestApplication,
  secret: string,
  ms: number,
): Promise<{ calls: number; loopUs: number; perSecond: number }> {
  const inbox = app.get(InboxStore);
  const rawBody = body(0);
  const timestamp = Math.floor(Date.now() / 1000);
  const headers = {
    'webhook-id': 'msg_alone_0',
    'webhook-timestamp': String(timestamp),
    'webhook-signature': signStandard(secret, 'msg_alone_0', timestamp, rawBody),
  };
  let calls = 0;
  const started = performance.now();
  const until = started + ms;
  const loopBefore = performance.eventLoopUtilization();
  const loop = async () => {
    while (performance.now() < until) {
      const eventId = `msg_alone_${process.pid}_${++calls}`;
      const claim = await inbox.claim({
        source: 'bench',
        eventId,
        type: 'bench.event',
        rawBody,
        headers: { ...headers, 'webhook-id': eventId },
        status: 'received',
      });
      if (!claim) throw new Error(`inbox-alone: ${eventId} was taken for a duplicate`);
      await inbox.markProcessed(claim.id, 1);
    }
  };
  await Promise.all(Array.from({ length: CONNECTIONS }, loop));
  const loopUse = performance.eventLoopUtilization(loopBefore);
  return { calls, loopUs: (loopUse.active * 1000) / calls, perSecond: calls / ((performance.now() - started) / 1000) };
}

/** Runs the phases of one adapter; each round measures the bare route, then the webhook route. */
async function benchAdapter(adapter: Adapter) {
  const db = await createBenchDb('sqlite');
  const prefix = benchPrefix();
  const secret = generateSecret();
  const { app, base } = await startApp(adapter, db, prefix, secret);
  const load = forkBench('inbound', { task: 'inbound-load' });
  const run = async (path: string, ms: number) => {
    const before = process.cpuUsage();
    const loopBefore = performance.eventLoopUtilization();
    const result = await load.ask<PhaseResult>(
      { type: 'phase', url: `${base}${path}`, secret, ms } satisfies Phase,
      'phase-done',
      ms + 30_000,
    );
    const cpu = process.cpuUsage(before);
    const loop = performance.eventLoopUtilization(loopBefore);
    const answered = Math.max(1, result.ok + result.failed);
    return { ...result, cpuUs: (cpu.user + cpu.system) / answered, loopUs: (loop.active * 1000) / answered };
  };
  try {
    await run('/bare', WARMUP_MS);
    await run('/recipe', WARMUP_MS);
    await run('/webhooks/bench', WARMUP_MS);
    const bare: PhaseResult[] = [];
    const recipe: PhaseResult[] = [];
    const hook: PhaseResult[] = [];
    for (let i = 0; i < ROUNDS; i++) {
      bare.push(await run('/bare', PHASE_MS));
      recipe.push(await run('/recipe', PHASE_MS));
      hook.push(await run('/webhooks/bench', PHASE_MS));
    }
    const ds = app.get(DataSource);
    const [[inboxRows], [recipeRows]] = await Promise.all([
      ds.query('SELECT COUNT(*) AS n FROM webhook_inbox'),
      ds.query(`SELECT COUNT(*) AS n FROM ${RECIPE_TABLE}`),
    ]);
    const handled = app.get(BenchHandler).handled;
    const inbox = await inboxAlone(app, secret, INBOX_ALONE_MS);
    return { adapter, bare, recipe, hook, rows: Number(inboxRows.n) + Number(recipeRows.n), handled, inbox };
  } finally {
    await load.ask({ type: 'stop' }, 'stopped', 10_000).catch(() => undefined);
    await load.exit();
    await app.close();
    await deletePrefix(prefix);
    await db.drop();
  }
}

const rate = (phases: PhaseResult[]) =>
  phases.reduce((s, p) => s + p.ok, 0) / phases.reduce((s, p) => s + p.seconds, 0);
const worst = (phases: PhaseResult[], key: 'p50' | 'p99') => Math.max(...phases.map((p) => p[key])).toFixed(2);
const mean = (phases: PhaseResult[], key: 'cpuUs' | 'loopUs') =>
  (phases.reduce((s, p) => s + (p[key] ?? 0), 0) / phases.length).toFixed(0);

/** Runs the inbound benchmark on both adapters and returns its markdown section. */
export async function runInboundBench(): Promise<string> {
  const results = [];
  for (const adapter of ADAPTERS) results.push(await benchAdapter(adapter));
  const lines = [
    `Requests/s of \`POST /webhooks/:source\` (Standard Webhooks signature verified, the call claimed in the inbox, one` +
      ` \`@OnWebhook\` handler run, the row marked processed) against, in the same app and the same run: the seed's recipe` +
      ` (\`POST /recipe\`: raw body, the same signature and timestamp checked with HMAC-SHA256 and crypto.timingSafeEqual,` +
      ` the event id inserted into a table of its own under a UNIQUE index through the same TypeORM DataSource, then the` +
      ` same handler), and a bare \`@Post()\` route that returns a constant. Body ${BODY_BYTES} bytes of JSON and the same` +
      ` signed headers on every route; SQLite (better-sqlite3, journal_mode=WAL, synchronous=${SYNCHRONOUS}, checkpoints:` +
      ` ${CHECKPOINT}); sync mode. Load: a child process, undici with ${CONNECTIONS} keep-alive connections to 127.0.0.1;` +
      ` ${ROUNDS} rounds of ${PHASE_MS / 1000} s per route (bare, recipe, webhook in turn) after a ${WARMUP_MS / 1000} s` +
      ` warm-up each (every phase also capped at ${MAX_REQUESTS} requests). The headline is webhook ÷ recipe; webhook ÷` +
      ` bare has a target of ≥ ${TARGET}.`,
    '',
    '| adapter | recipe req/s | webhook req/s | **webhook ÷ recipe** | bare req/s | webhook ÷ bare (target) | server CPU µs/req bare / recipe / webhook | server loop µs/req bare / recipe / webhook | inbox alone: loop µs/call (calls/s) | recipe p50 / p99 ms | webhook p50 / p99 ms | non-2xx | stored rows = handler runs |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
  ];
  for (const r of results) {
    const toRecipe = rate(r.hook) / rate(r.recipe);
    const toBare = rate(r.hook) / rate(r.bare);
    const all = [r.bare, r.recipe, r.hook];
    const failed = all.flat().reduce((s, p) => s + p.failed, 0);
    lines.push(
      `| ${r.adapter} | ${rate(r.recipe).toFixed(0)} | ${rate(r.hook).toFixed(0)} | **${toRecipe.toFixed(2)}** | ` +
        `${rate(r.bare).toFixed(0)} | ${toBare.toFixed(2)} (${toBare >= TARGET ? 'met' : 'MISSED'}) | ` +
        `${all.map((p) => mean(p, 'cpuUs')).join(' / ')} | ${all.map((p) => mean(p, 'loopUs')).join(' / ')} | ` +
        `${r.inbox.loopUs.toFixed(0)} (${r.inbox.perSecond.toFixed(0)}) | ` +
        `${worst(r.recipe, 'p50')} / ${worst(r.recipe, 'p99')} | ${worst(r.hook, 'p50')} / ${worst(r.hook, 'p99')} | ${failed} | ` +
        `${r.rows} = ${r.handled} |`,
    );
  }
  lines.push(
    '',
    "Latencies are the worst round's. Rates are totals over all measured rounds. Server CPU counts every thread of the" +
      ' server process; server loop is the time its event loop was busy (CPU on the main thread, or blocked in a system call).' +
      ` Inbox alone: after the rounds, in the same app and without HTTP, ${CONNECTIONS} loops at once each claim a fresh event id` +
      ` (the same body and kept headers) and mark it processed, through the module's InboxStore, for ${INBOX_ALONE_MS / 1000} s:` +
      ' the SQLite work a webhook call carries, as event-loop time per call.',
    '',
    "### The inbox's writes at their floor",
    '',
    await runInboxWal(),
  );
  return lines.join('\n');
}

/** The load child: runs phases on request over keep-alive connections, then stops. */
function loadChild(): void {
  const agent = new Agent({ connections: CONNECTIONS, keepAliveTimeout: 30_000, pipelining: 1 });
  let n = 0;
  const phase = async ({ url, secret, ms }: Phase): Promise<PhaseResult> => {
    const until = performance.now() + ms;
    const latencies: number[] = [];
    let ok = 0;
    let failed = 0;
    const started = performance.now();
    const worker = async () => {
      while (performance.now() < until && ok + failed < MAX_REQUESTS) {
        const id = `msg_bench_${process.pid}_${++n}`;
        const payload = body(n);
        const timestamp = Math.floor(Date.now() / 1000);
        const headers = {
          'content-type': 'application/json',
          'webhook-id': id,
          'webhook-timestamp': String(timestamp),
          'webhook-signature': signStandard(secret, id, timestamp, payload),
        };
        const t0 = performance.now();
        const res = await request(url, { method: 'POST', headers, body: payload, dispatcher: agent });
        await res.body.dump();
        latencies.push(performance.now() - t0);
        if (res.statusCode >= 200 && res.statusCode < 300) ok++;
        else failed++;
      }
    };
    await Promise.all(Array.from({ length: CONNECTIONS }, worker));
    const seconds = (performance.now() - started) / 1000;
    latencies.sort((a, b) => a - b);
    return { type: 'phase-done', ok, failed, seconds, p50: percentile(latencies, 50), p99: percentile(latencies, 99) };
  };
  process.on('message', (msg: Phase | { type: 'stop' }) => {
    if (msg.type === 'stop') {
      void agent.close().then(() => process.send!({ type: 'stopped' }, () => process.exit(0)));
      return;
    }
    phase(msg).then(
      (result) => process.send!(result),
      (err: Error) => process.send!({ type: 'error', message: err.stack ?? String(err) }),
    );
  });
}

const config = JSON.parse(process.env.BENCH_CONFIG ?? '{}') as { task?: string };
if (process.send && config.task === 'inbound-load') {
  loadChild();
} else if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  // Run alone: `node build/bench/inbound.js` (after `npx tsc -p bench/tsconfig.json`).
  console.log(await runInboundBench());
}
