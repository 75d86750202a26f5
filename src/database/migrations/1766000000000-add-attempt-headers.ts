import { type MigrationInterface, type QueryRunner, TableColumn } from 'typeorm';
import { SQLITE } from '../sql.js';

const COLUMNS = ['request_headers', 'response_headers'];

/**
 * Each attempt's headers as they went out (with that attempt's timestamp and signature) and as the
 * receiver answered, as JSON text. Rows written before stay NULL.
 *
 * On SQLite, `ALTER TABLE` in place rather than TypeORM's rebuild of the table (a copy of the
 * whole attempt log).
 */
export class AddAttemptHeaders1766000000000 implements MigrationInterface {
  name = 'AddAttemptHeaders1766000000000';

  async up(q: QueryRunner): Promise<void> {
    if (SQLITE.has(q.connection.options.type)) {
      for (const column of COLUMNS) await q.query(`ALTER TABLE "webhook_attempts" ADD COLUMN "${column}" text`);
      return;
    }
    await q.addColumns(
      'webhook_attempts',
      COLUMNS.map((name) => new TableColumn({ name, type: 'text', isNullable: true })),
    );
  }

  async down(q: QueryRunner): Promise<void> {
    if (SQLITE.has(q.connection.options.type)) {
      for (const column of COLUMNS) await q.query(`ALTER TABLE "webhook_attempts" DROP COLUMN "${column}"`);
      return;
    }
    await q.dropColumns('webhook_attempts', COLUMNS);
  }
}
