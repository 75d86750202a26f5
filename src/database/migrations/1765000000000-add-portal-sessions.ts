import { type MigrationInterface, type QueryRunner, Table, TableIndex } from 'typeorm';

/**
 * The customer portal: its session table, and the indexes its scoped reads page through
 * (a customer's messages newest first, an endpoint's deliveries by message).
 */
export class AddPortalSessions1765000000000 implements MigrationInterface {
  name = 'AddPortalSessions1765000000000';

  async up(q: QueryRunner): Promise<void> {
    await q.createTable(
      new Table({
        name: 'webhook_portal_sessions',
        columns: [
          { name: 'id', type: 'varchar', length: '40', isPrimary: true },
          { name: 'customer_id', type: 'varchar', length: '255' },
          { name: 'token_hash', type: 'varchar', length: '64' },
          { name: 'scope', type: 'varchar', length: '16' },
          { name: 'expires_at', type: 'bigint', isNullable: true },
          { name: 'revoked_at', type: 'bigint', isNullable: true },
          { name: 'created_at', type: 'bigint' },
        ],
        indices: [{ name: 'idx_webhook_portal_sessions_customer', columnNames: ['customer_id'] }],
      }),
    );
    await q.createIndex(
      'webhook_messages',
      new TableIndex({ name: 'idx_webhook_messages_customer_id', columnNames: ['customer_id', 'id'] }),
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.dropIndex('webhook_messages', 'idx_webhook_messages_customer_id');
    await q.dropTable('webhook_portal_sessions', true);
  }
}
