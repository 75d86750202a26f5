import { type MigrationInterface, type QueryRunner, TableColumn } from 'typeorm';

/**
 * Each attempt's headers as they went out (with that attempt's timestamp and signature) and as the
 * receiver answered, as JSON text. Rows written before stay NULL.
 */
export class AddAttemptHeaders1766000000000 implements MigrationInterface {
  name = 'AddAttemptHeaders1766000000000';

  async up(q: QueryRunner): Promise<void> {
    await q.addColumns('webhook_attempts', [
      new TableColumn({ name: 'request_headers', type: 'text', isNullable: true }),
      new TableColumn({ name: 'response_headers', type: 'text', isNullable: true }),
    ]);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.dropColumns('webhook_attempts', ['request_headers', 'response_headers']);
  }
}
