import type { MigrationInterface, QueryRunner } from 'typeorm';
import { Table } from 'typeorm';

/** The demo app's own tables; the webhook tables come from WEBHOOK_MIGRATIONS. */
export class CreateDemoTables1764000000001 implements MigrationInterface {
  async up(q: QueryRunner): Promise<void> {
    const common = [
      { name: 'id', type: 'integer', isPrimary: true, isGenerated: true, generationStrategy: 'increment' as const },
      { name: 'user_id', type: 'varchar', length: '64' },
      { name: 'organization_id', type: 'varchar', length: '64' },
    ];
    await q.createTable(
      new Table({
        name: 'orders',
        columns: [
          ...common,
          { name: 'status', type: 'varchar', length: '16', default: "'pending'" },
          { name: 'total', type: 'varchar', length: '32' },
          { name: 'completed_at', type: 'bigint', isNullable: true },
        ],
      }),
    );
    await q.createTable(
      new Table({
        name: 'subscriptions',
        columns: [
          ...common,
          { name: 'plan', type: 'varchar', length: '64' },
          { name: 'status', type: 'varchar', length: '16' },
        ],
      }),
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.dropTable('subscriptions');
    await q.dropTable('orders');
  }
}
