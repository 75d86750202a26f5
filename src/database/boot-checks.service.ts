import { InjectQueue } from '@nestjs/bull';
import { Inject, Injectable, Logger, type OnApplicationBootstrap, type OnModuleInit } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { Queue } from 'bull';
import type { DataSource } from 'typeorm';
import type { ResolvedWebhooksOptions } from '../interfaces/webhooks-options.interface.js';
import { WEBHOOKS_OPTIONS, WEBHOOKS_QUEUE } from '../webhooks.constants.js';
import { messages } from '../webhooks.messages.js';
import { SQLITE } from './sql.js';

/** The module's tables, which its migrations create. */
export const WEBHOOK_TABLES = [
  'webhook_endpoints',
  'webhook_messages',
  'webhook_deliveries',
  'webhook_attempts',
  'webhook_inbox',
];

/** Columns added to those tables by later migrations (named), newest last. */
export const LATER_COLUMNS: readonly [table: string, column: string, migration: string][] = [
  ['webhook_attempts', 'response_headers', 'AddAttemptHeaders1766000000000'],
  ['webhook_messages', 'endpoint_id', 'AddMessageEndpoint1768000000000'],
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
      for (const [table, column, migration] of LATER_COLUMNS) {
        if (!(await runner.hasColumn(table, column))) throw new Error(messages.columnMissing(table, column, migration));
      }
      // The module's own SQL names its tables without a schema: in a schema of the DataSource's
      // (`schema: 'app'`), found by TypeORM above, they must be on the connection's search_path too.
      if (!SQLITE.has(this.dataSource.options.type)) {
        const reachable = await runner.query('SELECT 1 FROM webhook_messages WHERE 1 = 0').then(
          () => true,
          () => false,
        );
        const schema = (this.dataSource.options as { schema?: string }).schema;
        if (!reachable) throw new Error(messages.schemaNotOnPath(schema ?? 'public'));
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
    const { client } = this.queue;
    // An app that boots while Redis is away works on (its sends wait in the database), in silence
    // until the first delivery is due: said once, if Redis has not answered in a while.
    const silent = setTimeout(() => {
      if (client.status !== 'ready') this.logger.warn(messages.redisNotAnswering(redisAddress(client.options)));
    }, REDIS_SILENCE_MS);
    silent.unref();
    try {
      const [, policy] = (await client.config('GET', 'maxmemory-policy')) as [string, string];
      if (policy && policy !== 'noeviction') this.logger.warn(messages.evictingRedis(policy));
    } catch (err) {
      // Managed Redis often disables CONFIG; the check is advice, not a requirement.
      this.logger.debug(`Could not read maxmemory-policy: ${(err as Error).message}`);
    } finally {
      clearTimeout(silent);
    }
  }
}

/** How long Redis may stay silent after boot before the warning (ioredis reconnects meanwhile). */
const REDIS_SILENCE_MS = 3_000;

function redisAddress(o: { host?: string; port?: number; path?: string }): string {
  return o.path ?? `${o.host ?? '127.0.0.1'}:${o.port ?? 6379}`;
}
