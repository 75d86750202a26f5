import Bull from 'bull';
import type { EntitySubscriberInterface, InsertEvent, Repository } from 'typeorm';
import { DataSource } from 'typeorm';
import { CommitHook } from '../src/outbound/commit.hook.js';
import { WebhookService } from '../src/outbound/webhook.service.js';
import { BenchOrder, BenchPlain, BenchRecipe } from './entities.js';
import { bootApp, type BenchDbSpec, childMain, percentile, REDIS_URL } from './support.js';

/** Configuration of the entity insert benchmark. */
export interface EntityTaskConfig {
  db: BenchDbSpec;
  prefix: string;
  /** Measured inserts of each entity. */
  n: number;
  /** The inserts alternate between the two entities in this many rounds, so drift hits both alike. */
  rounds: number;
  warmup: number;
  logging?: boolean;
}

type Row = Omit<BenchPlain, 'id'>;
const row = (i: number): Row => ({
  userId: `usr_${i % 1000}`,
  organizationId: 'org_bench',
  status: 'pending',
  total: '129.90',
  completedAt: null,
});

/** Sequential awaited `repo.save()` of new rows; returns each call's milliseconds. */
async function insert(repo: Repository<Row>, count: number, into: number[]): Promise<number> {
  const started = performance.now();
  for (let i = 0; i < count; i++) {
    const t = performance.now();
    await repo.save(repo.create(row(i)));
    into.push(performance.now() - t);
  }
  return performance.now() - started;
}

/**
 * The seed's recipe, as a user writes it without the module: a TypeORM subscriber whose
 * `afterInsert` awaits a Bull `add` (the post_save + `.delay()` of the seed). It runs inside the
 * transaction, before the commit: no outbox row, nothing ties the job to the commit.
 */
class RecipeSubscriber implements EntitySubscriberInterface<BenchRecipe> {
  constructor(private readonly queue: Bull.Queue) {}

  listenTo() {
    return BenchRecipe;
  }

  async afterInsert(event: InsertEvent<BenchRecipe>): Promise<void> {
    const o = event.entity;
    await this.queue.add('bench.order.created', {
      type: 'bench.order.created',
      data: { order_id: String(o.id), user_id: o.userId, status: o.status, total: o.total },
    });
  }
}

/**
 * An emitter app (role `emitter`: the jobs go to Redis, no worker consumes them) with one
 * endpoint listening to `bench.*`; inserts BenchPlain, BenchRecipe and BenchOrder rows in alternating rounds.
 */
async function run(c: EntityTaskConfig) {
  const app = await bootApp({
    db: c.db,
    prefix: c.prefix,
    role: 'emitter',
    entities: [BenchOrder, BenchPlain, BenchRecipe],
    logging: c.logging,
  });
  // The recipe's own queue, on the same Redis and prefix; nothing consumes it.
  const queue = new Bull('bench-recipe', REDIS_URL, { prefix: c.prefix });
  try {
    // Nothing is delivered in this benchmark (no worker); the URL only has to be allowed.
    await app.get(WebhookService).createEndpoint({ url: 'http://127.0.0.1:9/bench', eventTypes: ['bench.*'] });
    const ds = app.get(DataSource);
    const plain = ds.getRepository(BenchPlain) as Repository<Row>;
    const order = ds.getRepository(BenchOrder) as Repository<Row>;
    const recipe = ds.getRepository(BenchRecipe) as Repository<Row>;
    ds.subscribers.push(new RecipeSubscriber(queue));
    await insert(plain, c.warmup, []);
    await insert(recipe, c.warmup, []);
    await insert(order, c.warmup, []);
    const hook = app.get(CommitHook);
    const lat = { plain: [] as number[], recipe: [] as number[], order: [] as number[] };
    const ms = { plain: 0, recipe: 0, order: 0, orderSaves: 0 };
    const perRound = Math.ceil(c.n / c.rounds);
    for (let r = 0; r < c.rounds; r++) {
      ms.plain += await insert(plain, perRound, lat.plain);
      ms.recipe += await insert(recipe, perRound, lat.recipe);
      // The recipe's save returns with its job in Redis; the module's jobs follow its commits.
      // Its round ends when they are there too, so that their addBulks (which the saves of a
      // round on SQLite, never yielding to the event loop, leave for later) count in its own time.
      const started = performance.now();
      const saves = await insert(order, perRound, lat.order);
      await hook.drain();
      ms.orderSaves += saves;
      ms.order += performance.now() - started;
    }
    const [[{ messages }], jobs, pragma] = await Promise.all([
      ds.query(`SELECT COUNT(*) AS messages FROM webhook_messages`),
      queue.count(),
      c.db.kind === 'sqlite' ? ds.query('PRAGMA synchronous') : ds.query('SHOW synchronous_commit'),
    ]);
    const summary = (l: number[], total: number) => {
      const sorted = l.sort((a, b) => a - b);
      return {
        inserts: l.length,
        seconds: total / 1000,
        perSecond: (l.length * 1000) / total,
        p50: percentile(sorted, 50),
        p99: percentile(sorted, 99),
      };
    };
    return {
      plain: summary(lat.plain, ms.plain),
      recipe: summary(lat.recipe, ms.recipe),
      order: summary(lat.order, ms.order),
      orderSavesPerSecond: (lat.order.length * 1000) / ms.orderSaves,
      messages: Number(messages),
      recipeJobs: jobs,
      durability: JSON.stringify(pragma),
    };
  } finally {
    await queue.close();
    await app.close();
  }
}

childMain(run);
