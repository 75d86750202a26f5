import type { EntityTaskConfig } from './entity-child.js';
import { type BenchDbKind, benchPrefix, createBenchDb, deletePrefix, forkBench } from './support.js';

interface InsertSummary {
  inserts: number;
  seconds: number;
  perSecond: number;
  p50: number;
  p99: number;
}

/** Inserts/s of an entity emitting one webhook against the seed's recipe and against no emission, one run. */
export interface EntityRun {
  kind: BenchDbKind;
  plain: InsertSummary;
  recipe: InsertSummary;
  /** BenchOrder: each round timed until its jobs are in Redis (the commit hook drained). */
  order: InsertSummary;
  /** BenchOrder inserts/s over the saves alone, the commit hook's backlog left to drain after. */
  orderSavesPerSecond: number;
  /** webhook_messages rows at the end: warm-up and measured BenchOrder inserts, one each. */
  messages: number;
  /** Jobs in the recipe's Bull queue at the end: warm-up and measured BenchRecipe inserts, one each. */
  recipeJobs: number;
  durability: string;
}

export async function runEntityBench(
  kind: BenchDbKind,
  n: number,
  opts: { logging?: boolean; warmup?: number } = {},
): Promise<EntityRun> {
  const db = await createBenchDb(kind);
  const prefix = benchPrefix();
  const config: EntityTaskConfig = {
    db: db.spec,
    prefix,
    n,
    rounds: 5,
    warmup: opts.warmup ?? 200,
    logging: opts.logging,
  };
  const child = forkBench('entity-child', config);
  try {
    return { kind, ...(await child.ask<Omit<EntityRun, 'kind'>>({}, 'result', 120_000 + n * 20)) };
  } finally {
    await child.exit();
    await deletePrefix(prefix);
    await db.drop();
  }
}

/** Markdown table of the entity insert benchmark. */
export function entitySection(runs: EntityRun[], target: number): string {
  const f = (x: number, d = 0) => x.toFixed(d);
  const cell = (x: InsertSummary) => `${f(x.perSecond)} (${f(x.p50, 2)} / ${f(x.p99, 2)})`;
  return [
    `| database | inserts each | recipe: subscriber awaiting Bull \`add\` inserts/s (p50 / p99 ms) | BenchOrder + \`@EmitsWebhook\` inserts/s, jobs in Redis (p50 / p99 ms) | **ratio to recipe** | the saves alone: inserts/s (ratio) | BenchPlain inserts/s (p50 / p99 ms) | ratio to plain (≥ ${target}?) | rows = jobs / messages | durability setting |`,
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---|',
    ...runs.map((r) => {
      const toRecipe = r.order.perSecond / r.recipe.perSecond;
      const toPlain = r.order.perSecond / r.plain.perSecond;
      const rows = `${r.recipeJobs} / ${r.messages}`;
      const saves = `${f(r.orderSavesPerSecond)} (${f(r.orderSavesPerSecond / r.recipe.perSecond, 2)})`;
      return `| ${r.kind === 'sqlite' ? 'SQLite (WAL)' : 'PostgreSQL'} | ${r.order.inserts} | ${cell(r.recipe)} | ${cell(r.order)} | **${f(toRecipe, 2)}** | ${saves} | ${cell(r.plain)} | ${f(toPlain, 2)} (${toPlain >= target ? 'yes' : '**no**'}) | ${rows} | \`${r.durability}\` |`;
    }),
  ].join('\n');
}
