import { afterEach, describe, expect, it } from '@jest/globals';
import { DataSource } from 'typeorm';
import { WEBHOOK_ENTITIES } from '../../src/database/entities/index.js';
import { WEBHOOK_MIGRATIONS } from '../../src/database/migrations/index.js';
import { forDriver } from '../../src/database/sql.js';
import { createTestDatabase, testDatabases, type TestDatabase } from '../support/databases.js';

/**
 * The migrations that add a column keep every row, up and down, in each of TypeORM's
 * transaction modes. On SQLite, TypeORM's addColumn / dropColumn rebuild the table (copy, drop,
 * rename); dropping webhook_messages that way cascaded to every delivery and attempt whenever
 * foreign keys were on: a revert (they are switched off only inside its transaction, where SQLite
 * ignores it), or a run with `transaction: 'none'`.
 */
describe.each(testDatabases())('migrations keep the log on %s', (kind) => {
  let db: TestDatabase | undefined;
  let ds: DataSource | undefined;
  afterEach(async () => {
    if (ds?.isInitialized) await ds.destroy();
    await db?.drop();
  });

  const t = Date.now();
  const seed = async () => {
    const q = (sql: string, params: unknown[]) => ds!.query(forDriver(sql, kind !== 'postgres'), params);
    await q(
      `INSERT INTO webhook_endpoints (id, url, secret, enabled, consecutive_failures, created_at, updated_at)
       VALUES (?, ?, ?, ?, 0, ?, ?)`,
      ['ep_1', 'https://e.example.com/h', 'whsec_x', kind === 'postgres' ? true : 1, t, t],
    );
    for (let i = 0; i < 3; i++) {
      await q(`INSERT INTO webhook_messages (id, type, body, created_at) VALUES (?, ?, ?, ?)`, [
        `msg_${i}`,
        'a.b',
        '{}',
        t,
      ]);
      await q(
        `INSERT INTO webhook_deliveries (id, message_id, endpoint_id, status, attempts, created_at, updated_at)
         VALUES (?, ?, ?, 'failed', 1, ?, ?)`,
        [`dlv_${i}`, `msg_${i}`, 'ep_1', t, t],
      );
      await q(
        `INSERT INTO webhook_attempts (id, delivery_id, number, status_code, duration_ms, trigger, created_at)
         VALUES (?, ?, 1, 500, 3, 'scheduled', ?)`,
        [`atm_${i}`, `dlv_${i}`, t],
      );
    }
  };
  const counts = async () => {
    const out: number[] = [];
    for (const table of ['webhook_messages', 'webhook_deliveries', 'webhook_attempts'])
      out.push(Number((await ds!.query(`SELECT COUNT(*) AS n FROM ${table}`))[0].n));
    return out;
  };

  it.each(['all', 'each', 'none'] as const)(
    'reverts the column migrations and runs them again with transaction %s, every row kept',
    async (transaction) => {
      db = await createTestDatabase(kind);
      ds = new DataSource({ ...db.options, entities: WEBHOOK_ENTITIES, migrations: WEBHOOK_MIGRATIONS } as any);
      await ds.initialize();
      await ds.runMigrations({ transaction });
      await seed();
      expect(await counts()).toEqual([3, 3, 3]);
      // Back to before AddAttemptHeaders1766000000000, then up again.
      for (let i = 0; i < 3; i++) {
        await ds.undoLastMigration({ transaction });
        expect(await counts()).toEqual([3, 3, 3]);
      }
      await ds.runMigrations({ transaction });
      expect(await counts()).toEqual([3, 3, 3]);
      expect(await ds.query('SELECT endpoint_id FROM webhook_messages')).toHaveLength(3);
      // The schema is the entities' exactly, as after a first run.
      expect((await ds.driver.createSchemaBuilder().log()).upQueries.map((u) => u.query)).toEqual([]);
    },
  );
});
