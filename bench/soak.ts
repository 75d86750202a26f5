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
 * and heap at every 10,000 delivered; RSS at 10k and at 100k must differ by under 20 %. No GC is
 * forced. Writes bench/RESULTS-soak.md and returns the same markdown.
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
    const md = [
      `Run ${new Date().toISOString()}: ${N.toLocaleString('en')} deliveries on SQLite (WAL), concurrency ${concurrency}, ` +
        `enqueued first (queue paused), then drained by a worker process (role \`worker\`) at ${drainRate(run).toFixed(0)} deliveries/s ` +
        `(${drainSeconds(run).toFixed(0)} s). RSS and heap used are read with \`process.memoryUsage()\` in the worker, no GC forced.`,
      '',
      `| delivered | worker RSS MB | heap used MB |`,
      '|---:|---:|---:|',
      ...points.map((p) => `| ${p.delivered.toLocaleString('en')} | ${p.rss.toFixed(1)} | ${p.heapUsed.toFixed(1)} |`),
      '',
      `RSS at ${EARLY.toLocaleString('en')}: ${early.rss.toFixed(1)} MB; at ${N.toLocaleString('en')}: ${late.rss.toFixed(1)} MB; ` +
        `difference ${(growth * 100).toFixed(1)} % (target under ${LIMIT * 100} %: **${Math.abs(growth) < LIMIT ? 'yes' : 'no'}**). ` +
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
