import { AsyncLocalStorage } from 'node:async_hooks';
import { Inject, Injectable, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource, EntityManager, EntitySubscriberInterface } from 'typeorm';
import type { ResolvedWebhooksOptions } from '../interfaces/webhooks-options.interface.js';
import { SQLITE } from './sql.js';
import { attachSubscriber, detachSubscriber } from './subscribers.js';
import { WEBHOOKS_OPTIONS } from '../webhooks.constants.js';
import { messages } from '../webhooks.messages.js';

/** The module's transaction open on the shared SQLite connection, and when it ends. */
interface OpenTransaction {
  token: object;
  ended: Promise<void>;
}

/**
 * Runs the module's own write transactions. TypeORM's SQLite drivers share one connection, on
 * which concurrent transactions would nest as savepoints: so on SQLite the module's transactions
 * run one at a time, after any transaction the app has open (waiting at most `sqliteWaitMs`).
 * While one is open, anything else on the connection waits for it: the transaction spans the
 * awaits of its work, and a query issued meanwhile would run inside it, reading rows that may
 * still roll back.
 */
@Injectable()
export class TransactionRunner implements EntitySubscriberInterface, OnModuleInit, OnApplicationShutdown {
  readonly isSqlite: boolean;
  private tail: Promise<unknown> = Promise.resolve();
  private readonly context = new AsyncLocalStorage<object>();
  private open: OpenTransaction | null = null;
  /** App transactions held in {@link beforeTransactionStart}: the connection is not idle. */
  private starting = 0;

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    @Inject(WEBHOOKS_OPTIONS) private readonly options: ResolvedWebhooksOptions,
  ) {
    this.isSqlite = SQLITE.has(dataSource.options.type);
  }

  onModuleInit(): void {
    if (this.isSqlite) attachSubscriber(this.dataSource, this);
  }

  onApplicationShutdown(): void {
    detachSubscriber(this.dataSource, this);
  }

  /** Runs `work` in a transaction of its own and returns its result. */
  run<T>(work: (manager: EntityManager) => Promise<T>): Promise<T> {
    if (!this.dataSource.isInitialized) return this.refuseClosed();
    if (!this.isSqlite) return this.dataSource.transaction(work);
    return this.inTurn(() => this.isolated(() => this.dataSource.transaction(work)));
  }

  /**
   * Runs a single write statement outside any transaction: on PostgreSQL at once, on SQLite in
   * turn with the module's transactions and never inside a transaction the app left open.
   */
  write<T>(work: (manager: EntityManager) => Promise<T>): Promise<T> {
    if (!this.dataSource.isInitialized) return this.refuseClosed();
    if (!this.isSqlite) return work(this.dataSource.manager);
    return this.inTurn(() => work(this.dataSource.manager));
  }

  /**
   * Queries from outside the module's open transaction wait for it to end. A TypeORM hook; the
   * module's statements that skip TypeORM (runSql on better-sqlite3) call it themselves.
   */
  beforeQuery(): Promise<void> | void {
    if (this.outside()) return this.waitOutside();
  }

  /**
   * A transaction the app starts meanwhile waits too. TypeORM marks the shared runner active
   * before asking subscribers, and the module's commit cleared that mark: set it again.
   */
  beforeTransactionStart(event: { queryRunner: object }): Promise<void> | void {
    if (!this.outside()) return;
    this.starting++;
    return this.waitOutside().then(() => {
      (event.queryRunner as { isTransactionActive: boolean }).isTransactionActive = true;
      this.starting--;
    });
  }

  /**
   * The refusal of a write once the DataSource is closed. TypeORM fails each call its own way, and
   * on SQLite a failed BEGIN left its runner marked in a transaction, so that every later write
   * waited `sqliteWaitMs` for it before failing with advice that did not apply.
   */
  refuseClosed(): Promise<never> {
    return Promise.reject(new Error(messages.dataSourceClosed()));
  }

  private inTurn<T>(work: () => Promise<T>): Promise<T> {
    const result = this.tail.then(async () => {
      await this.connectionIdle();
      return work();
    });
    this.tail = result.catch(() => undefined);
    return result;
  }

  /** Runs `transaction` as the module's open transaction (see {@link beforeQuery}). */
  private async isolated<T>(transaction: () => Promise<T>): Promise<T> {
    let end!: () => void;
    const open: OpenTransaction = { token: {}, ended: new Promise<void>((resolve) => (end = resolve)) };
    this.open = open;
    try {
      return await this.context.run(open.token, transaction);
    } finally {
      this.open = null;
      end();
    }
  }

  private outside(): boolean {
    return this.open !== null && this.context.getStore() !== this.open.token;
  }

  private async waitOutside(): Promise<void> {
    while (this.outside()) await this.open!.ended;
  }

  /**
   * Waits for a transaction the app holds open on the shared connection to end. One that is
   * still open after `sqliteWaitMs` is most likely the caller's own (a send without `manager`
   * inside `dataSource.transaction`), which can only end after this call: fail, saying so.
   */
  private async connectionIdle(): Promise<void> {
    const runner = this.dataSource.createQueryRunner();
    const limit = this.options.sqliteWaitMs;
    const until = Date.now() + limit;
    while (runner.isTransactionActive || this.starting > 0) {
      if (Date.now() >= until) throw new Error(messages.sqliteTransactionOpen(limit));
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
  }
}
