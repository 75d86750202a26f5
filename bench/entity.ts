import type { EntityTaskConfig } from './entity-child.js';
import { type BenchDbKind, benchPrefix, createBenchDb, deletePrefix, forkBench } from './support.js';

interface InsertSummary {
  inserts: number;
  seconds: number;
  perSecond: number;
  p50: number;
  p99: number;
}

/** Inserts/s of an entity emitting one webhook against the same inserts with none, one run. */
export interface EntityRun {
  kind: BenchDbKind;
  plain: InsertSummary;
  order: InsertSummary;
  /** webhook_messages rows at the end: warm-up and measured BenchOrder inserts, one each. */
  messages: number;
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
  return [
    `| database | inserts each | BenchPlain inserts/s (p50 / p99 ms) | BenchOrder + webhook inserts/s (p50 / p99 ms) | ratio | ≥ ${target}? | durability setting |`,
    '|---|---:|---:|---:|---:|:---:|---|',
    ...runs.map((r) => {
      const ratio = r.order.perSecond / r.plain.perSecond;
      return `| ${r.kind === 'sqlite' ? 'SQLite (WAL)' : 'PostgreSQL'} | ${r.order.inserts} | ${f(r.plain.perSecond)} (${f(r.plain.p50, 2)} / ${f(r.plain.p99, 2)}) | ${f(r.order.perSecond)} (${f(r.order.p50, 2)} / ${f(r.order.p99, 2)}) | **${f(ratio, 2)}** | ${ratio >= target ? 'yes' : '**no**'} | \`${r.durability}\` |`;
    }),
  ].join('\n');
}
