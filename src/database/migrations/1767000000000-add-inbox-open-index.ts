import { type MigrationInterface, type QueryRunner, TableIndex } from 'typeorm';

/**
 * Indexes the inbox rows still open (`received`, `failed`), which are few: the health check's
 * stuck count and the inbox lists by those statuses read them instead of the whole table.
 */
export class AddInboxOpenIndex1767000000000 implements MigrationInterface {
  name = 'AddInboxOpenIndex1767000000000';

  async up(q: QueryRunner): Promise<void> {
    await q.createIndex(
      'webhook_inbox',
      new TableIndex({
        name: 'idx_webhook_inbox_open',
        columnNames: ['id'],
        where: "status = 'received' OR status = 'failed'",
      }),
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.dropIndex('webhook_inbox', 'idx_webhook_inbox_open');
  }
}
