import { type BeforeApplicationShutdown, Inject, Injectable, Logger, type OnModuleInit } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { Worker } from 'node:worker_threads';
import type { DataSource } from 'typeorm';
import type { ResolvedWebhooksOptions } from '../interfaces/webhooks-options.interface.js';
import { resolveFromPackage } from '../utils/package-root.js';
import { RepeatedFailureLog } from '../utils/repeated-failure-log.js';
import { settleWithin } from '../utils/settle.js';
import { sqliteConnection } from './sql.js';
import { WEBHOOKS_OPTIONS } from '../webhooks.constants.js';

/** How often the background thread checkpoints. */
const CHECKPOINT_INTERVAL_MS = 100;
/** How long shutdown waits for the thread to close its connection. */
const STOP_WAIT_MS = 2_000;
/**
 * The app's connection keeps SQLite's own checkpoint at this WAL size (~16 MB) as a backstop.
 * Only the writer can make the WAL start over, and only when its transaction began with every
 * frame copied: the thread's passes alone never see that on a busy app, whose WAL would grow
 * without end. The thread has copied most frames by then, so the backstop has little to do.
 */
export const BACKSTOP_FRAMES = 4000;
/** SQLite's own `wal_autocheckpoint`: the only value the module takes over from. */
const SQLITE_DEFAULT_AUTOCHECKPOINT = 1000;

/**
 * The checkpoint thread (CommonJS source, run with `eval`, so it needs no file of its own next to
 * the compiled or the TypeScript sources). It opens the database with its own connection and runs
 * a PASSIVE checkpoint (the kind SQLite's auto-checkpoint runs: it never waits for a lock, so the
 * app's reads and writes go on) every `intervalMs`; one with nothing new to copy returns at once.
 * It reports {@link CheckpointReport}s: `ready` once its connection is open, each failed pass, and
 * the first pass that works after failures. Any message from the main thread stops it.
 */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
const db = new Database(workerData.file, { fileMustExist: true });
let failing = false;
const timer = setInterval(() => {
  try {
    db.pragma('wal_checkpoint(PASSIVE)');
    if (failing) parentPort.postMessage({ type: 'recovered' });
    failing = false;
  } catch (err) {
    failing = true;
    parentPort.postMessage({ type: 'failed', error: String((err && err.message) || err) });
  }
}, workerData.intervalMs);
parentPort.once('message', () => { clearInterval(timer); db.close(); parentPort.close(); });
parentPort.postMessage({ type: 'ready' });
`;

/** What the checkpoint thread tells the main thread. */
export type CheckpointReport = { type: 'ready' } | { type: 'recovered' } | { type: 'failed'; error: string };

/** The part of a better-sqlite3 connection used here. */
interface WalConnection {
  readonly name: string;
  readonly memory: boolean;
  readonly open: boolean;
  pragma(source: string, options?: { simple: boolean }): unknown;
}

/**
 * `sqliteCheckpoint: 'background'` (the default): a worker thread with its own connection runs
 * the PASSIVE checkpoints that SQLite would otherwise run inside a commit, on the event loop; the
 * app's connection keeps only the {@link BACKSTOP_FRAMES} backstop. Durability is unchanged.
 * Taken over only from SQLite's default `wal_autocheckpoint`, once the thread is ready; put back
 * at shutdown, and at once if the thread fails (docs/operations.md, bench/NOTES.md).
 */
@Injectable()
export class SqliteCheckpointer implements OnModuleInit, BeforeApplicationShutdown {
  private readonly logger = new Logger(SqliteCheckpointer.name);
  private worker: Worker | null = null;
  private restore: (() => void) | null = null;

  constructor(
    @Inject(WEBHOOKS_OPTIONS) private readonly options: ResolvedWebhooksOptions,
    @InjectDataSource() private readonly dataSource: DataSource,
  ) {}

  /** True while the background thread does the checkpoints. */
  get running(): boolean {
    return this.worker !== null;
  }

  onModuleInit(): void {
    if (this.options.sqliteCheckpoint !== 'background') return;
    const db = sqliteConnection(this.dataSource) as unknown as WalConnection | null;
    if (!db || db.memory || !db.name || String(db.pragma('journal_mode', { simple: true })).toLowerCase() !== 'wal')
      return;
    // An app that set its own value manages its checkpoints itself.
    if (Number(db.pragma('wal_autocheckpoint', { simple: true })) !== SQLITE_DEFAULT_AUTOCHECKPOINT) return;
    const driver = resolveFromPackage('better-sqlite3');
    const worker = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: { driver, file: db.name, intervalMs: CHECKPOINT_INTERVAL_MS },
    });
    worker.unref();
    this.worker = worker;
    let tookOver = false;
    this.restore = () => {
      if (tookOver && db.open) db.pragma(`wal_autocheckpoint = ${SQLITE_DEFAULT_AUTOCHECKPOINT}`);
      tookOver = false;
    };
    const failures = new RepeatedFailureLog(this.logger, {
      failed: (error, repeats) =>
        `Background SQLite checkpoints fail${repeats ? ` (${repeats} failed passes since the last report)` : ''}: ${error}`,
      recovered: (failures) => `Background SQLite checkpoints work again, after ${failures} failed passes.`,
    });
    // The app's connection stops checkpointing only once the thread's connection is open.
    worker.on('message', (report: CheckpointReport) => {
      if (report.type === 'failed') return failures.failed(report.error);
      if (report.type === 'recovered') return failures.recovered();
      if (this.worker !== worker || !db.open) return;
      db.pragma(`wal_autocheckpoint = ${BACKSTOP_FRAMES}`);
      tookOver = true;
    });
    const fallBack = (reason: string) => {
      if (this.worker !== worker) return;
      this.worker = null;
      this.restore?.();
      this.logger.warn(`The SQLite checkpoint thread stopped (${reason}); SQLite checkpoints at commit again.`);
    };
    worker.on('error', (err) => fallBack(err.message));
    worker.on('exit', (code) => fallBack(`exit code ${code}`));
  }

  /** Stops the thread before the app's DataSource closes, and gives the setting back. */
  async beforeApplicationShutdown(): Promise<void> {
    const worker = this.worker;
    this.worker = null;
    if (!worker) return;
    const exited = new Promise((resolve) => worker.once('exit', resolve));
    worker.postMessage('stop');
    if ((await settleWithin(exited, STOP_WAIT_MS)) === 'late') {
      void worker.terminate();
      await exited;
    }
    this.restore?.();
  }
}
