import type { DataSource } from 'typeorm';

/** The part of a better-sqlite3 connection the lock uses. */
interface LockConnection {
  exec(sql: string): unknown;
  prepare(sql: string): { get(): unknown };
  pragma(sql: string): unknown;
  close(): unknown;
}

/** How long taking the shared lock waits for another process's boot to end its exclusive section. */
const SHARED_WAIT_MS = 5_000;

/**
 * Tells whether other live processes receive on the same SQLite database, through a lock file
 * beside it (`<database>-webhooks-lock`, an empty SQLite database of its own, in rollback-journal
 * mode). Each process holds a shared lock on it while it runs. The operating system drops the
 * locks of a process however it ends (SIGKILL too), so no stale lock can outlive a process.
 */
export class SqliteProcessLock {
  private constructor(private readonly db: LockConnection) {}

  /**
   * Opens the lock of the DataSource's database; null for another driver than better-sqlite3 or
   * an in-memory database (which no other process can open).
   */
  static open(dataSource: DataSource): SqliteProcessLock | null {
    const driver = dataSource.driver as unknown as {
      options: { type: string; database?: string };
      sqlite?: new (file: string, options: object) => LockConnection;
    };
    const { type, database } = driver.options;
    if (type !== 'better-sqlite3' || !driver.sqlite || !database || database === ':memory:') return null;
    return new SqliteProcessLock(new driver.sqlite(`${database}-webhooks-lock`, { timeout: 0 }));
  }

  /**
   * Runs `work` when no other process holds the lock, under an exclusive lock (a process booting
   * meanwhile waits for it); resolves to false, without running it, when another does. Either
   * way this process holds the shared lock afterwards, until {@link close}.
   */
  async whenAlone(work: () => Promise<void>): Promise<boolean> {
    try {
      this.db.exec('BEGIN EXCLUSIVE');
    } catch (err) {
      if ((err as { code?: string }).code !== 'SQLITE_BUSY') throw err;
      this.holdShared();
      return false;
    }
    try {
      await work();
    } finally {
      this.db.exec('COMMIT');
      this.holdShared();
    }
    return true;
  }

  /** Lets go of the lock (at shutdown). */
  close(): void {
    this.db.close();
  }

  private holdShared(): void {
    this.db.pragma(`busy_timeout = ${SHARED_WAIT_MS}`);
    // A read inside an open transaction keeps the shared lock until the transaction ends.
    this.db.exec('BEGIN');
    this.db.prepare('SELECT count(*) FROM sqlite_master').get();
  }
}
