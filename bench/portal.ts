// The portal's reads on a big log: 10,000 endpoints of 1,000 customers, 500,000 messages (one
// delivery each, spread over 7 days), 1,000,000 attempts, seeded with SQL on SQLite and
// PostgreSQL. Measures, through HTTP on a real app, the p50/p95 of the message list, a delivery
// with its attempts, and 7-day endpoint statistics. `npm run bench:portal` (BENCH_PORTAL_DBS=sqlite
// to run one database); writes nothing itself: copy the table into RESULTS.md.
import { BullModule } from '@nestjs/bull';
import { Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { TypeOrmModule } from '@nestjs/typeorm';
import type { AddressInfo } from 'node:net';
import { DataSource } from 'typeorm';
import { request } from 'undici';
import { PortalService } from '../src/portal/portal.service.js';
import { WebhooksModule } from '../src/webhooks.module.js';
import {
  benchPrefix,
  type BenchDbKind,
  type BenchDbSpec,
  createBenchDb,
  dataSourceOptions,
  deletePrefix,
  percentile,
  REDIS_URL,
} from './support.js';

const ENDPOINTS = 10_000;
const CUSTOMERS = 1_000;
const MESSAGES = 500_000;
const ATTEMPTS_PER_DELIVERY = 2;
const SAMPLES = Number(process.env.BENCH_PORTAL_SAMPLES ?? 300);
const DAY = 86_400_000;

/** The seed, as SQL of each database: `seq` counts, `now` is the newest message's time. */
function seedSql(kind: BenchDbKind, now: number): string[] {
  const pad = (expr: string, n: number) =>
    kind === 'sqlite' ? `printf('%0${n}d', ${expr})` : `lpad(CAST(${expr} AS text), ${n}, '0')`;
  const seq = (n: number) =>
    kind === 'sqlite'
      ? `WITH RECURSIVE seq(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM seq WHERE n < ${n - 1}) SELECT n FROM seq`
      : `SELECT n FROM generate_series(CAST(0 AS bigint), ${n - 1}) AS n`;
  const div = (a: string, b: number) => `(${a} / ${b})`;
  const start = now - 7 * DAY;
  const step = Math.floor((7 * DAY) / MESSAGES);
  const msgTime = `(${start} + n * ${step})`;
  const msgId = `'msg_' || ${pad(msgTime, 13)} || ${pad('n', 7)}`;
  const endpointOf = `'ep_' || ${pad(`(n % ${CUSTOMERS}) * 10 + ${div('n', CUSTOMERS)} % 10`, 6)}`;
  const yes = kind === 'sqlite' ? '1' : 'TRUE';
  return [
    `INSERT INTO webhook_endpoints (id, url, description, customer_id, event_types, secret, headers, enabled,
       consecutive_failures, created_at, updated_at)
     SELECT 'ep_' || ${pad('n', 6)}, 'https://hooks.example.com/' || n, NULL, 'cust_' || ${pad(div('n', 10), 4)},
       NULL, 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', NULL, ${yes}, 0, ${start}, ${start}
     FROM (${seq(ENDPOINTS)}) s`,
    `INSERT INTO webhook_messages (id, type, customer_id, body, created_at)
     SELECT ${msgId}, 'order.e' || (n % 5), 'cust_' || ${pad(`n % ${CUSTOMERS}`, 4)},
       '{"type":"order.e' || (n % 5) || '","timestamp":"2026-12-01T00:00:00.000Z","data":{"n":' || n || '}}', ${msgTime}
     FROM (${seq(MESSAGES)}) s`,
    `INSERT INTO webhook_deliveries (id, message_id, endpoint_id, status, attempts, next_attempt_at, last_status_code,
       enqueued_at, created_at, updated_at)
     SELECT 'dlv_' || ${pad(msgTime, 13)} || ${pad('n', 7)}, ${msgId}, ${endpointOf},
       CASE WHEN n % 20 = 0 THEN 'failed' ELSE 'succeeded' END, ${ATTEMPTS_PER_DELIVERY}, NULL,
       CASE WHEN n % 20 = 0 THEN 500 ELSE 200 END, ${msgTime}, ${msgTime}, ${msgTime}
     FROM (${seq(MESSAGES)}) s`,
    ...Array.from(
      { length: ATTEMPTS_PER_DELIVERY },
      (_, i) => `INSERT INTO webhook_attempts (id, delivery_id, number, status_code, duration_ms, response_body,
       error_class, error_message, trigger, created_at)
     SELECT 'atm_' || ${pad(msgTime, 13)} || ${pad('n', 7)} || '${i + 1}', 'dlv_' || ${pad(msgTime, 13)} || ${pad('n', 7)},
       ${i + 1}, CASE WHEN ${i + 1} = ${ATTEMPTS_PER_DELIVERY} AND n % 20 <> 0 THEN 200 ELSE 500 END,
       20 + (n * 7919 + ${i * 104729}) % 900, 'ok', NULL, NULL, 'scheduled', ${msgTime} + ${(i + 1) * 1000}
     FROM (${seq(MESSAGES)}) s`,
    ),
  ];
}

async function seed(spec: BenchDbSpec, now: number): Promise<number> {
  const ds = await new DataSource(dataSourceOptions(spec)).initialize();
  const t0 = performance.now();
  try {
    for (const statement of seedSql(spec.kind, now)) await ds.query(statement);
    await ds.query('ANALYZE');
  } finally {
    await ds.destroy();
  }
  return performance.now() - t0;
}

/** p50 / p95 / max ms of `SAMPLES` sequential GETs, the i-th of `path(i)` with the i-th token. */
async function timeGets(base: string, tokens: string[], path: (i: number) => string) {
  const times: number[] = [];
  for (let i = 0; i < SAMPLES; i++) {
    const t0 = performance.now();
    const res = await request(base + path(i), { headers: { authorization: `Bearer ${tokens[i]}` } });
    const text = await res.body.text();
    if (res.statusCode !== 200) throw new Error(`${path(i)}: ${res.statusCode} ${text}`);
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  return { p50: percentile(times, 50), p95: percentile(times, 95), max: times[times.length - 1] };
}

/** The SQL of the requests while `on`, to show its plans after the timings. */
const capture = {
  on: false,
  queries: [] as { query: string; parameters?: unknown[] }[],
  logQuery(query: string, parameters?: unknown[]) {
    if (this.on) this.queries.push({ query, parameters });
  },
  logQueryError() {},
  logQuerySlow() {},
  logSchemaBuild() {},
  logMigration() {},
  log() {},
};

/** Each captured statement with its plan (EXPLAIN ANALYZE on PostgreSQL, EXPLAIN QUERY PLAN on SQLite). */
async function plans(ds: DataSource, kind: BenchDbKind): Promise<string> {
  const out: string[] = [];
  for (const { query, parameters } of capture.queries) {
    if (!/^\s*SELECT/i.test(query)) continue;
    const explain = kind === 'postgres' ? 'EXPLAIN ANALYZE ' : 'EXPLAIN QUERY PLAN ';
    const rows: Record<string, unknown>[] = await ds.query(explain + query, parameters);
    const lines = rows.map((r) => String(r['QUERY PLAN'] ?? r.detail));
    out.push(query.replace(/\s+/g, ' ').slice(0, 300), ...lines.map((l) => `    ${l}`), '');
  }
  return out.join('\n');
}

async function run(kind: BenchDbKind) {
  const db = await createBenchDb(kind);
  const prefix = benchPrefix();
  const now = Date.now();
  const seedMs = await seed(db.spec, now);
  @Module({
    imports: [
      TypeOrmModule.forRoot({
        ...dataSourceOptions(db.spec),
        autoLoadEntities: true,
        logging: ['query'],
        logger: capture,
      } as any),
      BullModule.forRoot({ redis: REDIS_URL, prefix }),
      WebhooksModule.forRoot({ role: 'emitter', portal: {} }),
    ],
  })
  class PortalBenchModule {}
  const app = await NestFactory.create(PortalBenchModule, { logger: ['error', 'warn'] });
  await app.listen(0, '127.0.0.1');
  const base = `http://127.0.0.1:${(app.getHttpServer().address() as AddressInfo).port}/webhooks/portal/api`;
  try {
    const portal = app.get(PortalService);
    // One customer per sample: their data is spread over the whole table.
    const customer = (i: number) => (i * 7919) % CUSTOMERS;
    const tokens: string[] = [];
    for (let i = 0; i < SAMPLES; i++) {
      const customerId = `cust_${String(customer(i)).padStart(4, '0')}`;
      tokens.push((await portal.createSession({ customerId })).token);
    }
    const ds = app.get(DataSource);
    const deliveries: { id: string; customer_id: string }[] = await ds.query(
      `SELECT d.id, e.customer_id FROM webhook_deliveries d JOIN webhook_endpoints e ON e.id = d.endpoint_id
       WHERE d.id IN (SELECT id FROM webhook_deliveries ORDER BY id LIMIT ${SAMPLES * 50}) ORDER BY d.id`,
    );
    const results: Record<string, { p50: number; p95: number; max: number }> = {};
    const each = (path: (n: number) => string) => timeGets(base, tokens, path);
    const ownDelivery = (n: number) => {
      const want = `cust_${String(customer(n)).padStart(4, '0')}`;
      return deliveries.find((d) => d.customer_id === want)?.id ?? deliveries[0].id;
    };
    const ownEndpoint = (n: number) => `ep_${String(customer(n) * 10 + (n % 10)).padStart(6, '0')}`;
    results['message list (50, newest first)'] = await each(() => '/messages?limit=50');
    results['message list, status=failed'] = await each(() => '/messages?limit=50&status=failed');
    results['delivery with its attempts'] = await each((n) => `/deliveries/${ownDelivery(n)}`);
    results['endpoint stats, 7d'] = await each((n) => `/endpoints/${ownEndpoint(n)}/stats?window=7d`);
    results['endpoint stats, 24h'] = await each((n) => `/endpoints/${ownEndpoint(n)}/stats?window=24h`);
    let explained = '';
    if (process.env.BENCH_PORTAL_EXPLAIN === '1') {
      capture.queries = [];
      capture.on = true;
      for (const path of [
        '/messages?limit=50',
        `/deliveries/${ownDelivery(1)}`,
        `/endpoints/${ownEndpoint(1)}/stats?window=7d`,
      ])
        await (await request(base + path, { headers: { authorization: `Bearer ${tokens[1]}` } })).body.text();
      capture.on = false;
      explained = await plans(ds, kind);
    }
    return { kind, seedMs, results, explained };
  } finally {
    await app.close();
    await deletePrefix(prefix, REDIS_URL);
    await db.drop();
  }
}

async function main() {
  const kinds = (process.env.BENCH_PORTAL_DBS ?? 'sqlite,postgres').split(',') as BenchDbKind[];
  const lines = [
    `Portal reads (${SAMPLES} requests each, one customer's session per request, HTTP on 127.0.0.1); ` +
      `${ENDPOINTS} endpoints, ${CUSTOMERS} customers, ${MESSAGES} messages, ${MESSAGES} deliveries, ` +
      `${MESSAGES * ATTEMPTS_PER_DELIVERY} attempts over 7 days.`,
    '',
    '| database | seed | request | p50 ms | p95 ms | max ms | < 100 ms? |',
    '| --- | ---: | --- | ---: | ---: | ---: | :---: |',
  ];
  const explained: string[] = [];
  for (const kind of kinds) {
    const { seedMs, results, explained: plan } = await run(kind);
    if (plan) explained.push(`## ${kind}`, plan);
    for (const [name, r] of Object.entries(results)) {
      lines.push(
        `| ${kind} | ${(seedMs / 1000).toFixed(0)} s | ${name} | ${r.p50.toFixed(1)} | ${r.p95.toFixed(1)} | ${r.max.toFixed(1)} | ${r.p95 < 100 ? 'yes' : '**no**'} |`,
      );
    }
  }
  console.log(lines.join('\n'));
  if (explained.length > 0) console.log(['', ...explained].join('\n'));
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
