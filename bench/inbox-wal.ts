import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { CLAIM_INSERT, MARK_PROCESSED } from '../src/inbound/inbox.store.js';
import type { SqliteConnection } from '../src/database/sql.js';
import { createBenchDb } from './support.js';

/** The part of a better-sqlite3 connection this probe uses. */
interface Connection extends SqliteConnection {
  pragma(source: string, options?: { simple: boolean }): unknown;
  close(): void;
}
const Database = createRequire(import.meta.url)('better-sqlite3') as new (file: string) => Connection;

/**
 * What the inbox's SQLite writes cost at their floor: the module's claim INSERT and processed
 * UPDATE, on the module's migrated schema, straight on better-sqlite3 (no HTTP, no Nest, no
 * TypeORM), one transaction per group of calls as the inbox groups them. A group commits G
 * claims and the processed marks of the previous group's G calls (a call's mark can never share
 * its claim's commit: the claim is committed before the handlers run). Reports µs per call
 * (claim, mark, commit) and the WAL frames per commit, split by the b-tree each frame belongs
 * to. Run alone: `node build/bench/inbox-wal.js` (after `npx tsc -p bench/tsconfig.json`);
 * knobs BENCH_INBOX_WAL_CALLS (16000 per row of the table), BENCH_INBOX_WAL_GROUPS (1,4,8,16,32).
 * Body 1 KiB and the kept Standard Webhooks headers, as in the inbound benchmark.
 */
const CALLS = Number(process.env.BENCH_INBOX_WAL_CALLS ?? 16_000);
const GROUPS = (process.env.BENCH_INBOX_WAL_GROUPS ?? '1,4,8,16,32').split(',').map(Number);
const BODY = JSON.stringify({ type: 'bench.event', data: { n: 0, pad: 'x'.repeat(980) } });
const FRAME_HEADER = 24;
const WAL_HEADER = 32;
/** Commits whose frames are sorted by b-tree (the last ones of a run, in steady state). */
const SPLIT_COMMITS = 200;

interface Row {
  group: number;
  marks: boolean;
  claimUs: number;
  markUs: number;
  commitUs: number;
  framesPerCommit: number;
  byTree: Map<string, number>;
}

async function measure(group: number, marks: boolean): Promise<Row> {
  const created = await createBenchDb('sqlite');
  const file = created.spec.location;
  const db = new Database(file);
  try {
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    // Every frame stays in the WAL, to be counted and sorted afterwards.
    db.pragma('wal_autocheckpoint = 0');
    db.pragma('wal_checkpoint(TRUNCATE)');
    const claim = db.prepare(CLAIM_INSERT);
    const mark = db.prepare(MARK_PROCESSED);
    const begin = db.prepare('BEGIN');
    const commit = db.prepare('COMMIT');
    const headers = JSON.stringify({
      'webhook-id': 'msg_wal_0000000',
      'webhook-timestamp': '1764300000',
      'webhook-signature': `v1,${'A'.repeat(44)}`,
    });
    let claimMs = 0;
    let markMs = 0;
    let commitMs = 0;
    let previous: string[] = [];
    let n = 0;
    const commits = Math.ceil(CALLS / group);
    for (let c = 0; c < commits; c++) {
      begin.run();
      const t0 = performance.now();
      const current: string[] = [];
      for (let i = 0; i < group; i++) {
        const id = `in_wal_${String(++n).padStart(10, '0')}`;
        const now = Date.now();
        claim.run(id, 'bench', `msg_wal_${n}`, 'bench.event', BODY, headers, 'received', now, now);
        current.push(id);
      }
      const t1 = performance.now();
      if (marks) for (const id of previous) mark.run('processed', 1, Date.now(), Date.now(), id);
      const t2 = performance.now();
      commit.run();
      const t3 = performance.now();
      claimMs += t1 - t0;
      markMs += t2 - t1;
      commitMs += t3 - t2;
      previous = current;
    }
    const { framesPerCommit, byTree } = walFrames(db, file);
    const us = (ms: number) => (ms * 1000) / n;
    return { group, marks, claimUs: us(claimMs), markUs: us(markMs), commitUs: us(commitMs), framesPerCommit, byTree };
  } finally {
    db.close();
    await created.drop();
  }
}

/** Frames per commit over the whole WAL, and the last commits' frames by the b-tree they hold. */
function walFrames(db: Connection, file: string): { framesPerCommit: number; byTree: Map<string, number> } {
  const pageSize = Number(db.pragma('page_size', { simple: true }));
  const wal = readFileSync(`${file}-wal`);
  const owner = new Map<number, string>();
  for (const r of db.prepare('SELECT name, pageno, pagetype FROM dbstat').all() as {
    name: string;
    pageno: number;
    pagetype: string;
  }[]) {
    owner.set(r.pageno, r.pageno === 1 ? 'page 1 (header)' : `${r.name} ${r.pagetype}`);
  }
  const commits: number[][] = [];
  let current: number[] = [];
  for (let off = WAL_HEADER; off + FRAME_HEADER + pageSize <= wal.length; off += FRAME_HEADER + pageSize) {
    current.push(wal.readUInt32BE(off));
    if (wal.readUInt32BE(off + 4) !== 0) {
      commits.push(current);
      current = [];
    }
  }
  const last = commits.slice(-SPLIT_COMMITS);
  const byTree = new Map<string, number>();
  for (const frames of last) {
    for (const page of frames) {
      const tree = owner.get(page) ?? 'other';
      byTree.set(tree, (byTree.get(tree) ?? 0) + 1 / last.length);
    }
  }
  const frames = commits.reduce((s, c) => s + c.length, 0);
  return { framesPerCommit: frames / commits.length, byTree };
}

export async function runInboxWal(): Promise<string> {
  const rows: Row[] = [];
  for (const group of GROUPS) for (const marks of [true, false]) rows.push(await measure(group, marks));
  const lines = [
    `The inbox's SQLite writes alone: ${CALLS} calls per row, 1 KiB body, the module's claim INSERT and processed UPDATE on its` +
      ' migrated schema, better-sqlite3 straight (journal_mode=WAL, synchronous=NORMAL), one transaction per group. "claim + mark":' +
      ' each commit holds a group\'s claims and the previous group\'s processed marks; "claim only": no marks (what a single write' +
      ' per call would cost).',
    '',
    '| calls per commit | writes | claim µs/call | mark µs/call | commit µs/call | total µs/call | WAL frames per commit | frames per commit by b-tree (last 200 commits) |',
    '| ---: | --- | ---: | ---: | ---: | ---: | ---: | --- |',
  ];
  for (const r of rows) {
    const trees = [...r.byTree]
      .sort((a, b) => b[1] - a[1])
      .map(([name, n]) => `${name} ${n.toFixed(2)}`)
      .join('; ');
    lines.push(
      `| ${r.group} | ${r.marks ? 'claim + mark' : 'claim only'} | ${r.claimUs.toFixed(1)} | ${r.markUs.toFixed(1)} | ${r.commitUs.toFixed(1)} | ` +
        `${(r.claimUs + r.markUs + r.commitUs).toFixed(1)} | ${r.framesPerCommit.toFixed(1)} | ${trees} |`,
    );
  }
  return lines.join('\n');
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  console.log(await runInboxWal());
}
