import { writeFileSync } from 'node:fs';
import { drainRate, drainSeconds, runPipeline, startReceiver } from './outbound.js';
import { CONCURRENCY } from './support.js';

/** The soak's size and the two points whose RSS it compares. */
const N = Number(process.env.BENCH_SOAK_N ?? 100_000);
const EARLY = Math.min(10_000, N);
const LIMIT = 0.2;
export const SOAK_RESULTS = new URL('../../bench/RESULTS-soak.md', import.meta.url);

/**
 * 100,000 deliveries through the pipeline on SQLite (WAL): the worker process records its RSS
 * and heap at every 10,000 delivered, as read and again after a forced full GC (BENCH_SOAK_GC=0:
 * no GC forced); RSS at 10k and at 100k must differ by under 20 %. Writes bench/RESULTS-soak.md
 * and returns the same markdown.
 */
export async function runSoak(concurrency: number, command = 'npm run bench:soak'): Promise<string> {
  const receiver = await startReceiver();
  try {
    const checkpoints = Array.from({ length: Math.floor(N / 10_000) }, (_, i) => (i + 1) * 10_000);
    const run = await runPipeline('sqlite', receiver, N, concurrency, checkpoints.length ? checkpoints : [N]);
    const points = run.drain.checkpoints;
    const early = points.find((p) => p.delivered === EARLY)!;
    const late = points.find((p) => p.delivered === N)!;
    const growth = (late.rss - early.rss) / early.rss;
    const collected = early.rssAfterGc !== undefined && late.rssAfterGc !== undefined;
    const growthAfterGc = collected ? (late.rssAfterGc! - early.rssAfterGc!) / early.rssAfterGc! : NaN;
    const verdict = (g: number) => `**${Math.abs(g) < LIMIT ? 'yes' : 'no'}**`;
    const mb = (x: number | undefined) => (x === undefined ? '–' : x.toFixed(1));
    const md = [
      `Run ${new Date().toISOString()}: ${N.toLocaleString('en')} deliveries on SQLite (WAL), concurrency ${concurrency}, ` +
        `enqueued first (queue paused), then drained by a worker process (role \`worker\`) at ${drainRate(run).toFixed(0)} deliveries/s ` +
        `(${drainSeconds(run).toFixed(0)} s). At every ${(10_000).toLocaleString('en')} delivered the worker reads \`process.memoryUsage()\` ` +
        (collected
          ? `as it is, then forces a full collection (\`gc()\`, the child runs with --expose-gc) and reads it again: the first reading ` +
            `includes garbage V8 has not collected yet, the second is what the worker still holds. The forced collections also keep ` +
            `the heap from growing between readings, so the as-read column is not a run without them (\`BENCH_SOAK_GC=0\` gives that).`
          : 'as it is; no collection is forced (`BENCH_SOAK_GC=0`).'),
      '',
      `| delivered | worker RSS MB | heap used MB | RSS after full GC MB | heap used after full GC MB |`,
      '|---:|---:|---:|---:|---:|',
      ...points.map((p) => `| ${p.delivered.toLocaleString('en')} | ${mb(p.rss)} | ${mb(p.heapUsed)} | ${mb(p.rssAfterGc)} | ${mb(p.heapUsedAfterGc)} |`),
      '',
      `RSS as read at ${EARLY.toLocaleString('en')}: ${early.rss.toFixed(1)} MB; at ${N.toLocaleString('en')}: ${late.rss.toFixed(1)} MB; ` +
        `difference ${(growth * 100).toFixed(1)} % (under ${LIMIT * 100} %: ${verdict(growth)}).`,
      collected
        ? `RSS after a full GC at ${EARLY.toLocaleString('en')}: ${mb(early.rssAfterGc)} MB; at ${N.toLocaleString('en')}: ${mb(late.rssAfterGc)} MB; ` +
          `difference ${(growthAfterGc * 100).toFixed(1)} % (under ${LIMIT * 100} %: ${verdict(growthAfterGc)}).`
        : 'No reading after a full GC in this run.',
      `Peak RSS ${run.drain.peakRss.toFixed(1)} MB; RSS after boot ${run.drain.bootMemory.rss.toFixed(1)} MB.`,
    ].join('\n');
    writeFileSync(SOAK_RESULTS, `# Soak benchmark\n\nCommand: \`${command}\`\n\n${md}\n`);
    return md;
  } finally {
    await receiver.stop();
  }
}

if (process.argv[1] && new URL(import.meta.url).pathname === process.argv[1]) {
  console.log(await runSoak(CONCURRENCY));
}
