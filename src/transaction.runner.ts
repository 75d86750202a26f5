import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource, EntityManager } from 'typeorm';

const SQLITE_TYPES = ['sqlite', 'better-sqlite3', 'capacitor', 'cordova', 'expo', 'nativescript', 'react-native', 'sqljs'];

/**
 * Runs the module's own write transactions. TypeORM's SQLite drivers share one connection, and
 * two transactions started concurrently on it nest into each other as savepoints; so on SQLite
 * the module's transactions run one at a time and wait for any transaction already open on the
 * connection (the app's own) to end first.
 */
@Injectable()
export class TransactionRunner {
  readonly isSqlite: boolean;
  private tail: Promise<unknown> = Promise.resolve();

  constructor(@InjectDataSource() private readonly dataSource: DataSource) {
    this.isSqlite = SQLITE_TYPES.includes(dataSource.options.type);
  }

  /** Runs `work` in a transaction of its own and returns its result. */
  run<T>(work: (manager: EntityManager) => Promise<T>): Promise<T> {
    if (!this.isSqlite) return this.dataSource.transaction(work);
    const result = this.tail.then(async () => {
      await this.connectionIdle();
      return this.dataSource.transaction(work);
    });
    this.tail = result.catch(() => undefined);
    return result;
  }

  /**
   * Runs a single write statement outside any transaction: on PostgreSQL at once, on SQLite in
   * turn with the module's transactions and never inside a transaction the app left open.
   */
  write<T>(work: (manager: EntityManager) => Promise<T>): Promise<T> {
    if (!this.isSqlite) return work(this.dataSource.manager);
    const result = this.tail.then(async () => {
      await this.connectionIdle();
      return work(this.dataSource.manager);
    });
    this.tail = result.catch(() => undefined);
    return result;
  }

  private async connectionIdle(): Promise<void> {
    const runner = this.dataSource.createQueryRunner();
    while (runner.isTransactionActive) await new Promise((resolve) => setTimeout(resolve, 1));
  }
}
