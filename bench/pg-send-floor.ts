import Bull from 'bull';
import { DataSource } from 'typeorm';
import { idTimePrefix, newId } from '../src/database/ids.js';
import { DELIVERY_IDS_MADE, pgSend } from '../src/outbound/message.store.js';
import { filtersMatching } from '../src/utils/event-types.js';
import { benchPrefix, createBenchDb, dataSourceOptions, deletePrefix, percentile, REDIS_URL } from './support.js';

/** The pg client under a TypeORM query runner, used raw. */
interface PgClient {
  query(q: string | { name?: string; text: string; values?: unknown[] }): Promise<{ rows: any[] }>;
}

/**
 * The floor under the PostgreSQL entity ratio (issue 21, point 1): what the save's own path
 * costs when the outbox is written at all, with TypeORM, Nest and the module's after-commit work
 * taken away. One pg connection on the module's migrated schema runs sequential awaited
 * transactions (BEGIN, the order's INSERT … RETURNING, one step, COMMIT), the steps in alternating
 * rounds:
 * - plain: no step;
 * - recipe: the seed's Bull `add` of the order's job (one Redis round trip);
 * - round trip: `SELECT 1` as a named statement (what any statement costs beyond its work);
 * - message only: the message row alone, as a named INSERT;
 * - endpoint known: the message and its delivery row in one statement, no endpoint matched;
 * - send: the module's own send statement (`webhooks_send_v1`: message, endpoint match, delivery).
 * Run alone: `npx tsc -p bench/tsconfig.json && node build/bench/pg-send-floor.js`
 * (BENCH_N saves per round, BENCH_ROUNDS rounds).
 */
const N = Number(process.env.BENCH_N ?? 300);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 10);
const TYPE = 'bench.order.created';

const db = await createBenchDb('postgres');
const prefix = benchPrefix();
const ds = new DataSource(dataSourceOptions(db.spec));
const queue = new Bull('bench-floor', REDIS_URL, { prefix });
try {
  await ds.initialize();
  const runner = ds.createQueryRunner();
  const client = (await runner.connect()) as PgClient;
  await client.query(`CREATE TABLE bench_floor_orders (id serial PRIMARY KEY, user_id varchar(64) NOT NULL,
    organization_id varchar(64) NOT NULL, status varchar(16) NOT NULL, total numeric(10, 2) NOT NULL)`);
  await client.query(`INSERT INTO webhook_endpoints (id, url, secret, enabled, event_types, created_at, updated_at)
    VALUES ('ep_bench', 'http://127.0.0.1:9/bench', 'whsec_bench', TRUE, '["bench.*"]', 0, 0)`);
  await queue.isReady();

  const order = {
    name: 'bench_floor_order',
    text: `INSERT INTO bench_floor_orders (user_id, organization_id, status, total) VALUES ($1, $2, $3, $4) RETURNING id`,
  };
  const roundTrip = { name: 'bench_floor_round_trip', text: 'SELECT 1' };
  const messageOnly = {
    name: 'bench_floor_message',
    text: `INSERT INTO webhook_messages (id, type, customer_id, idempotency_key, idempotency_scope, body, created_at)
      VALUES ($1, $2, NULL, NULL, NULL, $3, $4)`,
  };
  const endpointKnown = {
    name: 'bench_floor_known',
    text: `WITH inserted AS (${messageOnly.text})
      INSERT INTO webhook_deliveries (id, message_id, endpoint_id, status, attempts, next_attempt_at, created_at, updated_at)
      VALUES ($5, $1, 'ep_bench', 'pending', 0, $4, $4, $4) RETURNING id`,
  };
  const data = (id: number) => ({ order_id: String(id), user_id: 'usr_1', status: 'pending', total: '129.90' });
  const body = (id: number, t: number) =>
    JSON.stringify({ type: TYPE, timestamp: new Date(t).toISOString(), data: data(id) });

  const steps: Record<string, (id: number) => Promise<unknown>> = {
    plain: async () => undefined,
    recipe: (id) => queue.add(TYPE, { type: TYPE, data: data(id) }),
    'round trip': () => client.query(roundTrip),
    'message only': (id) => {
      const t = Date.now();
      return client.query({ ...messageOnly, values: [newId('msg', t), TYPE, body(id, t), t] });
    },
    'endpoint known': (id) => {
      const t = Date.now();
      return client.query({ ...endpointKnown, values: [newId('msg', t), TYPE, body(id, t), t, newId('dlv', t)] });
    },
    send: (id) => {
      const t = Date.now();
      const made = Array.from({ length: DELIVERY_IDS_MADE }, () => newId('dlv', t));
      const values = [newId('msg', t), TYPE, null, body(id, t), t, filtersMatching(TYPE), made, idTimePrefix('dlv', t)];
      return client.query({ ...pgSend(false), values });
    },
  };
  const names = Object.keys(steps);
  const spent = Object.fromEntries(names.map((k) => [k, { ms: 0, lat: [] as number[] }]));
  const round = async (name: string, n: number, keep: boolean) => {
    const step = steps[name];
    const started = performance.now();
    for (let i = 0; i < n; i++) {
      const t = performance.now();
      await client.query('BEGIN');
      const { rows } = await client.query({ ...order, values: ['usr_1', 'org_bench', 'pending', '129.90'] });
      await step(rows[0].id);
      await client.query('COMMIT');
      if (keep) spent[name].lat.push(performance.now() - t);
    }
    if (keep) spent[name].ms += performance.now() - started;
  };
  for (const name of names) await round(name, 100, false);
  for (let r = 0; r < ROUNDS; r++) for (const name of r % 2 ? [...names].reverse() : names) await round(name, N, true);

  const recipeUs = (spent.recipe.ms * 1000) / spent.recipe.lat.length;
  console.log(`PostgreSQL, one connection, ${ROUNDS} rounds of ${N} saves per step, alternating.\n`);
  console.log('| step inside the save | saves/s | mean µs | p50 / p99 µs | over plain µs | ÷ recipe (rate) |');
  console.log('| --- | ---: | ---: | --- | ---: | ---: |');
  const plainUs = (spent.plain.ms * 1000) / spent.plain.lat.length;
  for (const name of names) {
    const { ms, lat } = spent[name];
    const us = (ms * 1000) / lat.length;
    const sorted = lat.sort((a, b) => a - b);
    const p = (q: number) => Math.round(percentile(sorted, q) * 1000);
    console.log(
      `| ${name} | ${Math.round((lat.length * 1000) / ms)} | ${Math.round(us)} | ${p(50)} / ${p(99)} | ${Math.round(us - plainUs)} | ${(recipeUs / us).toFixed(2)} |`,
    );
  }
} finally {
  await queue.close();
  if (ds.isInitialized) await ds.destroy();
  await deletePrefix(prefix);
  await db.drop();
}
