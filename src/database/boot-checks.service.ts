import { InjectQueue } from '@nestjs/bull';
import { Inject, Injectable, Logger, type OnApplicationBootstrap, type OnModuleInit } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { Queue } from 'bull';
import type { DataSource } from 'typeorm';
import type { ResolvedWebhooksOptions } from '../interfaces/webhooks-options.interface.js';
import { WEBHOOKS_OPTIONS, WEBHOOKS_QUEUE } from '../webhooks.constants.js';
import { messages } from '../webhooks.messages.js';

/** The module's tables, which its migrations create. */
export const WEBHOOK_TABLES = [
  'webhook_endpoints',
  'webhook_messages',
  'webhook_deliveries',
  'webhook_attempts',
  'webhook_inbox',
];

/** Columns added to those tables by later migrations, newest last. */
export const LATER_COLUMNS: readonly [table: string, column: string][] = [
  ['webhook_attempts', 'response_headers'],
  ['webhook_messages', 'endpoint_id'],
];

/**
 * Checks at boot what would otherwise fail later and quietly: the module's tables must exist
 * (fail), and Redis must not evict keys (warn: an evicted job is a delivery only the
 * reconciler can bring back).
 */
@Injectable()
export class BootChecks implements OnModuleInit, OnApplicationBootstrap {
  private readonly logger = new Logger(BootChecks.name);

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    @InjectQueue(WEBHOOKS_QUEUE) private readonly queue: Queue,
    @Inject(WEBHOOKS_OPTIONS) private readonly options: ResolvedWebhooksOptions,
  ) {}

  async onModuleInit(): Promise<void> {
    const runner = this.dataSource.createQueryRunner();
    try {
      // The portal's table is needed only with the portal (an app may upgrade before migrating).
      const tables = this.options.portal ? [...WEBHOOK_TABLES, 'webhook_portal_sessions'] : WEBHOOK_TABLES;
      for (const table of tables) {
        if (!(await runner.hasTable(table))) throw new Error(messages.migrationsMissing(table));
      }
      // Added by later migrations: an app upgraded without migrating could not record attempts or read messages.
      for (const [table, column] of LATER_COLUMNS) {
        if (!(await runner.hasColumn(table, column))) throw new Error(messages.columnMissing(table, column));
      }
    } finally {
      await runner.release();
    }
  }

  /**
   * Not awaited: the check is advice, and an app that boots while Redis is away (the outbox
   * keeps its sends until Redis is back) must not wait for it: ioredis holds the command until it
   * reconnects.
   */
  onApplicationBootstrap(): void {
    this.evictionChecked = this.checkEviction();
  }

  /** Settles (never rejects) once the eviction check has run (tests wait for it). */
  evictionChecked: Promise<void> = Promise.resolve();

  private async checkEviction(): Promise<void> {
    try {
      const [, policy] = (await this.queue.client.config('GET', 'maxmemory-policy')) as [string, string];
      if (policy && policy !== 'noeviction') this.logger.warn(messages.evictingRedis(policy));
    } catch (err) {
      // Managed Redis often disables CONFIG; the check is advice, not a requirement.
      this.logger.debug(`Could not read maxmemory-policy: ${(err as Error).message}`);
    }
  }
}
