import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { CLAIM_INSERT, MARK_PROCESSED } from '../src/inbound/inbox.store.js';
import { forDriver } from '../src/database/sql.js';
import { BACKLOG_SQL } from '../src/observability/webhooks.probe.js';
import { createBenchDb, type BenchDbKind } from './support.js';

const require = createRequire(import.meta.url);

/**
 * What the inbox's index of open rows (`idx_webhook_inbox_open`, `received` / `failed` rows) costs
 * and buys, on both databases, in one run: with the index dropped and with it, alternating.
 * - Cost: the module's claim INSERT and processed UPDATE per call, sequential, on the migrated
 *   schema without Nest or HTTP (PostgreSQL through `pg`, one statement each as the module runs
 *   them; SQLite through better-sqlite3, 16 calls a transaction as the inbox groups them).
 * - Gain: at BENCH_INBOX_INDEX_ROWS rows (1,000,000; 0.1 % failed, 0.001 % received), the health
 *   check's backlog statement and a page of `failed` rows, and what building the index takes (the
 *   migration on an existing inbox).
 * Run alone: `node build/bench/inbox-index.js` (after `npx tsc -p bench/tsconfig.json`); knobs
 * BENCH_INBOX_INDEX_CALLS (10000 per phase), BENCH_INBOX_INDEX_ROUNDS (3), BENCH_INBOX_INDEX_ROWS,
 * BENCH_DBS (sqlite,postgres).
 */
const CALLS = Number(process.env.BENCH_INBOX_INDEX_CALLS ?? 10_000);
const ROUNDS = Number(process.env.BENCH_INBOX_INDEX_ROUNDS ?? 3);
const ROWS = Number(process.env.BENCH_INBOX_INDEX_ROWS ?? 1_000_000);
const DBS = (process.env.BENCH_DBS ?? 'sqlite,postgres').split(',').map((d) => d.trim()) as BenchDbKind[];
const GROUP = 16;
const BODY = JSON.stringify({ type: 'bench.event', data: { n: 0, pad: 'x'.repeat(980) } });
const HEADERS = JSON.stringify({
  'webhook-id': 'msg_x',
  'webhook-timestamp': '1',
  'webhook-signature': 'v1,' + 'x'.repeat(44),
});
const CREATE_INDEX = `CREATE INDEX idx_webhook_inbox_open ON webhook_inbox (id) WHERE status = 'received' OR status = 'failed'`;
const DROP_INDEX = 'DROP INDEX idx_webhook_inbox_open';
const FAILED_PAGE = `SELECT * FROM webhook_inbox WHERE status = ? ORDER BY id DESC LIMIT 51`;

/** One database as the bench drives it: `?` placeholders on both. */
interface Db {
  exec(sql: string, params?: unknown[]): Promise<unknown[]>;
  /** Runs `calls` inbound calls (claim, then processed mark) as the module writes them; µs per call. */
  calls(from: number, calls: number): Promise<number>;
  /** Loads `rows` old rows in bulk. */
  load(rows: number): Promise<void>;
  close(): Promise<void>;
}

const claimParams = (i: number) => [
  `in_${String(i).padStart(20, '0')}`,
  'bench',
  `ev_${i}`,
  'bench.event',
  BODY,
  HEADERS,
  'received',
  i,
  i,
];
const markParams = (i: number) => ['processed', 1, i, i, `in_${String(i).padStart(20, '0')}`];

async function openPostgres(url: string): Promise<Db> {
  const { Client } = require('pg') as {
    Client: new (o: { connectionString: string }) => {
      connect(): Promise<void>;
      query(
        q: string | { name?: string; text: string; values?: unknown[] },
        values?: unknown[],
      ): Promise<{ rows: unknown[] }>;
      end(): Promise<void>;
    };
  };
  const client = new Client({ connectionString: url });
  await client.connect();
  const pgSql = (sql: string) => forDriver(sql, false);
  const claim = { name: 'claim', text: pgSql(CLAIM_INSERT) };
  const mark = { name: 'mark', text: pgSql(MARK_PROCESSED) };
  return {
    exec: async (sql, params = []) => (await client.query(pgSql(sql), params)).rows,
    async calls(from, calls) {
      const started = process.hrtime.bigint();
      for (let i = from; i < from + calls; i++) {
        await client.query({ ...claim, values: claimParams(i) });
        await client.query({ ...mark, values: markParams(i) });
      }
      return Number(process.hrtime.bigint() - started) / 1000 / calls;
    },
    async load(rows) {
      await client.query(
        `INSERT INTO webhook_inbox (id, source, event_id, type, raw_body, headers, status, attempts, received_at, updated_at)
         SELECT 'in_0' || lpad(g::text, 19, '0'), 'old', 'ev_' || g, 'bench.event', $1, $2,
           CASE WHEN g % 100000 = 7 THEN 'received' WHEN g % 1000 = 9 THEN 'failed' ELSE 'processed' END, 1, g, g
         FROM generate_series(1, ${rows}) g`,
        [BODY, HEADERS],
      );
      await client.query('VACUUM ANALYZE webhook_inbox');
    },
    close: () => client.end(),
  };
}

function openSqlite(file: string): Db {
  interface Statement {
    reader: boolean;
    all(...params: unknown[]): unknown[];
    run(...params: unknown[]): unknown;
  }
  const Database = require('better-sqlite3') as new (file: string) => {
    pragma(sql: string): unknown;
    prepare(sql: string): Statement;
    transaction(work: () => void): () => void;
    close(): void;
  };
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  const claim = db.prepare(CLAIM_INSERT);
  const mark = db.prepare(MARK_PROCESSED);
  return {
    exec: async (sql, params = []) => {
      const statement = db.prepare(sql);
      if (statement.reader) return statement.all(...params);
      statement.run(...params);
      return [];
    },
    async calls(from, calls) {
      const started = process.hrtime.bigint();
      // As the inbox groups them: a commit holds a group's claims and the previous group's marks.
      for (let i = from; i < from + calls; i += GROUP) {
        db.transaction(() => {
          for (let j = i; j < i + GROUP; j++) claim.run(...claimParams(j));
          for (let j = i - GROUP; j < i && j >= from; j++) mark.run(...markParams(j));
        })();
      }
      db.transaction(() => {
        for (let j = from + calls - GROUP; j < from + calls; j++) mark.run(...markParams(j));
      })();
      return Number(process.hrtime.bigint() - started) / 1000 / calls;
    },
    async load(rows) {
      const insert = db.prepare(
        `INSERT INTO webhook_inbox (id, source, event_id, type, raw_body, headers, status, attempts, received_at, updated_at)
         VALUES (?, 'old', ?, 'bench.event', ?, ?, ?, 1, ?, ?)`,
      );
      db.transaction(() => {
        for (let g = 1; g <= rows; g++) {
          const status = g % 100_000 === 7 ? 'received' : g % 1000 === 9 ? 'failed' : 'processed';
          insert.run(`in_0${String(g).padStart(19, '0')}`, `ev_${g}`, BODY, HEADERS, status, g, g);
        }
      })();
    },
    close: async () => void db.close(),
  };
}

async function timed<T>(work: () => Promise<T>): Promise<[number, T]> {
  const started = process.hrtime.bigint();
  const result = await work();
  return [Number(process.hrtime.bigint() - started) / 1e6, result];
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function benchDb(kind: BenchDbKind): Promise<string[]> {
  const created = await createBenchDb(kind);
  const db = kind === 'postgres' ? await openPostgres(created.spec.location) : openSqlite(created.spec.location);
  try {
    // Cost: alternate without / with, from a table that already holds calls.
    const cost: Record<'without' | 'with', number[]> = { without: [], with: [] };
    let next = 1_000_000_000;
    await db.calls(next, CALLS);
    next += CALLS;
    let indexed = true;
    for (let round = 0; round < ROUNDS; round++) {
      for (const variant of ['without', 'with'] as const) {
        if (indexed !== (variant === 'with')) await db.exec(indexed ? DROP_INDEX : CREATE_INDEX);
        indexed = variant === 'with';
        cost[variant].push(await db.calls(next, CALLS));
        next += CALLS;
      }
    }
    // Gain: the same statements at ROWS rows.
    await db.exec(DROP_INDEX);
    await db.load(ROWS);
    const read = async () => {
      const now = Date.now();
      const backlog: number[] = [];
      const failed: number[] = [];
      for (let i = 0; i < 3; i++) {
        backlog.push((await timed(() => db.exec(BACKLOG_SQL, [now, now])))[0]);
        failed.push((await timed(() => db.exec(FAILED_PAGE, ['failed'])))[0]);
      }
      return { backlog: median(backlog), failed: median(failed) };
    };
    const before = await read();
    const [build] = await timed(() => db.exec(CREATE_INDEX));
    if (kind === 'postgres') await db.exec('ANALYZE webhook_inbox');
    const after = await read();
    const fmt = (xs: number[]) => `${median(xs).toFixed(0)} (${xs.map((x) => x.toFixed(0)).join(', ')})`;
    return [
      `| ${kind} | ${fmt(cost.without)} | ${fmt(cost.with)} | ${(median(cost.with) / median(cost.without)).toFixed(2)} | ` +
        `${before.backlog.toFixed(1)} → ${after.backlog.toFixed(1)} | ${before.failed.toFixed(1)} → ${after.failed.toFixed(1)} | ${build.toFixed(0)} |`,
    ];
  } finally {
    await db.close();
    await created.drop();
  }
}

export async function runInboxIndexBench(): Promise<string> {
  const lines = [
    `Inbox index of open rows: µs per inbound call's inbox writes (claim + processed mark, ${CALLS} calls a phase, ${ROUNDS} rounds` +
      ` alternating; median (each round)), and at ${ROWS.toLocaleString('en')} rows the health check's backlog statement and a page` +
      ` of failed rows (ms, median of 3, without → with the index), and the index build (ms).`,
    '',
    '| database | µs/call without | µs/call with | with ÷ without | backlog statement ms | failed page ms | CREATE INDEX ms |',
    '| --- | --- | --- | --- | --- | --- | --- |',
  ];
  for (const kind of DBS) lines.push(...(await benchDb(kind)));
  return lines.join('\n');
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  runInboxIndexBench().then(
    (text) => {
      console.log(text);
      process.exit(0);
    },
    (err) => {
      console.error(err);
      process.exit(1);
    },
  );
}
