import { execSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg, totalmem } from 'node:os';
import { runEndToEndBench } from './end-to-end.js';
import { entitySection, type EntityRun, runEntityBench } from './entity.js';
import { runInboundBench } from './inbound.js';
import { outboundSection, type OutboundRun, runCeiling, runPipeline, startReceiver } from './outbound.js';
import { runSoak, SOAK_RESULTS } from './soak.js';
import { type BenchDbKind, CONCURRENCY } from './support.js';

/**
 * Runs every benchmark and writes bench/RESULTS.md (keeping what stands below its marker line). Knobs (environment): BENCH_N (20000),
 * BENCH_ENTITY_N (5000), BENCH_DBS (sqlite,postgres), BENCH_CONCURRENCY (the module's default),
 * BENCH_SOAK=1 to run the 100k soak too (several minutes), BENCH_PARTS (outbound,entity,inbound,e2e)
 * to run only some sections (for a partial run the results are printed, RESULTS.md is left alone),
 * BENCH_OTEL=1 to register an OpenTelemetry SDK in the app processes (see otel.ts).
 */
const N = Number(process.env.BENCH_N ?? 20_000);
const ENTITY_N = Number(process.env.BENCH_ENTITY_N ?? 5_000);
const DBS = (process.env.BENCH_DBS ?? 'sqlite,postgres').split(',').map((s) => s.trim()) as BenchDbKind[];
const ALL_PARTS = ['outbound', 'entity', 'inbound', 'e2e'];
const PARTS = new Set((process.env.BENCH_PARTS ?? ALL_PARTS.join(',')).split(',').map((s) => s.trim()));
const PARTIAL = ALL_PARTS.some((p) => !PARTS.has(p));
const RESULTS = new URL('../../bench/RESULTS.md', import.meta.url);
const KEPT_MARKER = '<!-- Below: earlier runs and comparisons, kept when npm run bench rewrites the run above. -->';

function sh(cmd: string): string {
  try {
    return execSync(cmd, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return 'unknown';
  }
}

function machine(): string {
  const changed = sh('git status --porcelain src | cut -c4-');
  const cpu = /model name\s*:\s*(.*)/.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? 'unknown';
  return [
    `- CPU: ${cpu}; \`nproc\` ${sh('nproc')} (Node sees ${availableParallelism()})`,
    `- Memory: ${(totalmem() / 1024 ** 3).toFixed(1)} GiB`,
    `- Node ${process.version}; Redis ${sh('redis-cli -h 127.0.0.1 INFO server | grep redis_version | cut -d: -f2')}; ` +
      `PostgreSQL ${sh("psql -h 127.0.0.1 -U postgres -tAc 'SHOW server_version'")}`,
    `- OpenTelemetry: ${process.env.BENCH_OTEL === '1' ? `an SDK registered in the app processes (BENCH_OTEL=1: spans batched${process.env.BENCH_OTEL_RATIO === undefined ? '' : `, traces sampled at ${process.env.BENCH_OTEL_RATIO}`}, metrics read every 10 s, exporters that drop)` : 'no SDK (the API is a no-op)'}`,
    `- Everything on this one machine: Redis, PostgreSQL, the receiver child, the emitter/worker children.`,
    `- Load average (1 min) at start ${startLoad.toFixed(2)}, at end ${loadavg()[0].toFixed(2)}: other sessions' tests may share the two cores, so compare the ratios (same run) more than the absolute rates.`,
    `- Source: ${sh('git rev-parse --short HEAD')}${changed ? ` with uncommitted changes (others' work in progress) in ${changed.split('\n').join(', ')}` : ''}`,
  ].join('\n');
}

const log = (msg: string) => console.log(`[bench ${new Date().toISOString().slice(11, 19)}] ${msg}`);

const startLoad = loadavg()[0];
const KNOBS = [
  'BENCH_PARTS',
  'BENCH_N',
  'BENCH_ENTITY_N',
  'BENCH_E2E_N',
  'BENCH_DBS',
  'BENCH_CONCURRENCY',
  'BENCH_SOAK',
  'BENCH_SOAK_N',
  'BENCH_SOAK_RUNS',
  'BENCH_SOAK_HEAP_MB',
  'BENCH_OTEL',
];
const command = KNOBS.filter((k) => process.env[k])
  .map((k) => `${k}=${process.env[k]}`)
  .concat('npm run bench')
  .join(' ');
const sections: string[] = [];
const receiver = await startReceiver();
const outbound: { ceiling: OutboundRun; pipeline: OutboundRun }[] = [];
const entity: EntityRun[] = [];
try {
  for (const kind of PARTS.has('outbound') ? DBS : []) {
    log(`outbound ${kind}: ceiling, ${N} jobs`);
    const ceiling = await runCeiling(receiver, N, CONCURRENCY);
    log(`outbound ${kind}: pipeline, ${N} sends then deliveries`);
    outbound.push({ ceiling, pipeline: await runPipeline(kind, receiver, N, CONCURRENCY) });
  }
} finally {
  await receiver.stop();
}
for (const kind of PARTS.has('entity') ? DBS : []) {
  log(`entity inserts ${kind}: ${ENTITY_N} of each`);
  entity.push(await runEntityBench(kind, ENTITY_N));
}

sections.push(`## 1. Outbound pipeline against the bare ceiling\n\n${outboundSection(outbound, 0.5)}`);
sections.push(`## 2. Entity inserts: @EmitsWebhook against the seed's recipe\n\n${entitySection(entity, 0.5)}`);

if (process.env.BENCH_SOAK === '1') {
  log('soak: 100k deliveries on SQLite');
  await runSoak(CONCURRENCY, command);
}
// The soak keeps its own file (it also runs alone), so its figures are written once.
sections.push(
  existsSync(SOAK_RESULTS)
    ? '## 3. Memory soak\n\nIn [RESULTS-soak.md](RESULTS-soak.md), with its own date and command (`npm run bench:soak`, or `BENCH_SOAK=1` here).'
    : '## 3. Memory soak\n\nNot run (BENCH_SOAK=1 or `npm run bench:soak`).',
);

if (!PARTS.has('inbound')) {
  sections.push('## 4. Inbound\n\nNot run by this invocation.');
} else {
  log('inbound');
  sections.push(`## 4. Inbound: the module's route against the seed's recipe\n\n${await runInboundBench()}`);
}

if (!PARTS.has('e2e')) {
  sections.push('## 5. End to end, outbound\n\nNot run by this invocation.');
} else {
  log('end to end, outbound');
  sections.push(
    `## 5. End to end, outbound: send() to the receiver against Bull + undici\n\n${await runEndToEndBench()}`,
  );
}

const header = [
  '# Benchmark results',
  '',
  'How each figure is measured: [DEFINITIONS.md](DEFINITIONS.md). Where the time goes and what was tried: [NOTES.md](NOTES.md).',
  '',
  `Date: ${new Date().toISOString()}  `,
  `Command: \`${command}\`  `,
  `Concurrency: ${CONCURRENCY} (the module's default \`outbound.concurrency\`) for the pipeline and the ceiling alike.`,
  '',
  machine(),
].join('\n');
if (PARTIAL) {
  console.log([header, ...sections.filter((s) => !s.includes('Not run'))].join('\n\n'));
  process.exit(0);
}
// Sections below the marker (earlier runs, one-off comparisons) are kept; the run above it is replaced.
const previous = existsSync(RESULTS) ? readFileSync(RESULTS, 'utf8') : '';
const kept = previous.includes(KEPT_MARKER) ? previous.slice(previous.indexOf(KEPT_MARKER)) : `${KEPT_MARKER}\n`;
writeFileSync(RESULTS, `${header}\n\n${sections.join('\n\n')}\n\n${kept}`);
log(`wrote ${RESULTS.pathname}`);
