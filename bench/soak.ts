import { writeFileSync } from 'node:fs';
import { drainRate, drainSeconds, runPipeline, startReceiver, type OutboundRun } from './outbound.js';
import { CONCURRENCY } from './support.js';

/** The soak's size and the two points whose RSS it compares. */
const N = Number(process.env.BENCH_SOAK_N ?? 100_000);
const EARLY = Math.min(10_000, N);
const LIMIT = 0.2;
/** The old-generation cap of the capped run, MB. */
const HEAP_MB = Number(process.env.BENCH_SOAK_HEAP_MB ?? 256);
export const SOAK_RESULTS = new URL('../../bench/RESULTS-soak.md', import.meta.url);

/** One way of running the worker. */
interface SoakConfig {
  name: string;
  title: string;
  forceGc: boolean;
  workerArgs: string[];
  /** What its readings mean. */
  reading: string;
}

const CONFIGS: SoakConfig[] = [
  {
    name: 'gc',
    title: "Node's defaults, a full collection forced at each reading",
    forceGc: true,
    workerArgs: [],
    reading:
      'At each reading the worker reads `process.memoryUsage()` as it is, then forces a full collection (`gc()`, the child runs with ' +
      '--expose-gc) and reads it again: the second reading is what the worker still holds. The forced collections also keep the ' +
      'heap from growing between readings, so its as-read column is not that of a run without them.',
  },
  {
    name: 'defaults',
    title: "Node's defaults, no collection forced (RSS as an app sees it)",
    forceGc: false,
    workerArgs: [],
    reading:
      "The worker reads `process.memoryUsage()` as it is. V8 sizes its heap limit from the machine's memory and, under a high " +
      'allocation rate, lets the heap grow before it collects.',
  },
  {
    name: 'capped',
    title: `Old generation capped at ${HEAP_MB} MB (\`--max-old-space-size=${HEAP_MB}\`), no collection forced`,
    forceGc: false,
    workerArgs: [`--max-old-space-size=${HEAP_MB}`],
    reading: `The worker runs with \`--max-old-space-size=${HEAP_MB}\` and reads \`process.memoryUsage()\` as it is.`,
  },
];
/** BENCH_SOAK_RUNS picks some of them (gc,defaults,capped). */
const RUNS = (process.env.BENCH_SOAK_RUNS ?? CONFIGS.map((c) => c.name).join(',')).split(',').map((s) => s.trim());

const mb = (x: number | undefined) => (x === undefined ? '–' : x.toFixed(1));
const count = (n: number) => n.toLocaleString('en');
const verdict = (g: number) => `**${Math.abs(g) < LIMIT ? 'yes' : 'no'}**`;
const pct = (g: number) => `${(g * 100).toFixed(1)} %`;

/** The markdown of one run, and its two differences. */
function report(config: SoakConfig, run: OutboundRun): { md: string; growth: number; growthAfterGc?: number } {
  const points = run.drain.checkpoints;
  const early = points.find((p) => p.delivered === EARLY)!;
  const late = points.find((p) => p.delivered === N)!;
  const growth = (late.rss - early.rss) / early.rss;
  const collected = early.rssAfterGc !== undefined && late.rssAfterGc !== undefined;
  const growthAfterGc = collected ? (late.rssAfterGc! - early.rssAfterGc!) / early.rssAfterGc! : undefined;
  const md = [
    `### ${config.title}`,
    '',
    `Drained at ${drainRate(run).toFixed(0)} deliveries/s (${drainSeconds(run).toFixed(0)} s). ${config.reading}`,
    '',
    `| delivered | worker RSS MB | heap used MB | RSS after full GC MB | heap used after full GC MB |`,
    '|---:|---:|---:|---:|---:|',
    ...points.map(
      (p) =>
        `| ${count(p.delivered)} | ${mb(p.rss)} | ${mb(p.heapUsed)} | ${mb(p.rssAfterGc)} | ${mb(p.heapUsedAfterGc)} |`,
    ),
    '',
    `RSS as read at ${count(EARLY)}: ${mb(early.rss)} MB; at ${count(N)}: ${mb(late.rss)} MB; difference ${pct(growth)} ` +
      `(under ${LIMIT * 100} %: ${verdict(growth)}).`,
    growthAfterGc === undefined
      ? null
      : `RSS after a full GC at ${count(EARLY)}: ${mb(early.rssAfterGc)} MB; at ${count(N)}: ${mb(late.rssAfterGc)} MB; ` +
        `difference ${pct(growthAfterGc)} (under ${LIMIT * 100} %: ${verdict(growthAfterGc)}).`,
    `Peak RSS ${mb(run.drain.peakRss)} MB; RSS after boot ${mb(run.drain.bootMemory.rss)} MB.`,
  ]
    .filter((line) => line !== null)
    .join('\n');
  return { md, growth, growthAfterGc };
}

/**
 * 100,000 deliveries through the pipeline on SQLite (WAL), once per worker configuration: the
 * worker process records its RSS and heap at every 10,000 delivered; RSS at 10k and at 100k must
 * differ by under 20 %. Writes bench/RESULTS-soak.md and returns the same markdown.
 */
export async function runSoak(concurrency: number, command = 'npm run bench:soak'): Promise<string> {
  const receiver = await startReceiver();
  const checkpoints = Array.from({ length: Math.floor(N / 10_000) }, (_, i) => (i + 1) * 10_000);
  const sections: string[] = [];
  const summary: string[] = [];
  try {
    for (const config of CONFIGS.filter((c) => RUNS.includes(c.name))) {
      const run = await runPipeline('sqlite', receiver, N, concurrency, {
        checkpoints: checkpoints.length ? checkpoints : [N],
        forceGc: config.forceGc,
        workerArgs: config.workerArgs,
      });
      const { md, growth, growthAfterGc } = report(config, run);
      sections.push(md);
      summary.push(
        `| ${config.title} | ${pct(growth)} | ${verdict(growth)} | ` +
          `${growthAfterGc === undefined ? '–' : `${pct(growthAfterGc)} (${verdict(growthAfterGc)})`} | ${drainRate(run).toFixed(0)} |`,
      );
    }
  } finally {
    await receiver.stop();
  }
  const md = [
    `Run ${new Date().toISOString()}: ${count(N)} deliveries on SQLite (WAL), concurrency ${concurrency}, enqueued first (queue ` +
      `paused), then drained by a worker process (role \`worker\`), once per way of running the worker. The worker reads its ` +
      `memory at every ${count(10_000)} delivered.`,
    '',
    `| worker | RSS 10k → ${count(N)}, as read | under ${LIMIT * 100} %? | after a full GC | deliveries/s |`,
    '|---|---:|:---:|---:|---:|',
    ...summary,
    '',
    ...sections.flatMap((s) => [s, '']),
  ]
    .join('\n')
    .trim();
  writeFileSync(SOAK_RESULTS, `# Soak benchmark\n\nCommand: \`${command}\`\n\n${md}\n`);
  return md;
}

if (process.argv[1] && new URL(import.meta.url).pathname === process.argv[1]) {
  console.log(await runSoak(CONCURRENCY));
}
