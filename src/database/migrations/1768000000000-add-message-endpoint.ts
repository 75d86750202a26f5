import { type MigrationInterface, type QueryRunner, TableColumn } from 'typeorm';
import { SQLITE } from '../sql.js';

/**
 * The endpoint a message was sent to alone (`send()` with `endpointId`: a test event), or NULL for
 * a message fanned out by its type. `replayMissing` leaves such messages out: they were never
 * meant for the other endpoints. Rows written before stay NULL.
 *
 * On SQLite, `ALTER TABLE` in place: TypeORM's addColumn / dropColumn rebuild the table, and
 * dropping the old `webhook_messages` cascades to every delivery and attempt whenever foreign keys
 * are on (a revert, or a run with `transaction: 'none'`).
 */
export class AddMessageEndpoint1768000000000 implements MigrationInterface {
  name = 'AddMessageEndpoint1768000000000';

  async up(q: QueryRunner): Promise<void> {
    if (SQLITE.has(q.connection.options.type)) {
      await q.query(`ALTER TABLE "webhook_messages" ADD COLUMN "endpoint_id" varchar(40)`);
      return;
    }
    await q.addColumn(
      'webhook_messages',
      new TableColumn({ name: 'endpoint_id', type: 'varchar', length: '40', isNullable: true }),
    );
  }

  async down(q: QueryRunner): Promise<void> {
    if (SQLITE.has(q.connection.options.type)) {
      await q.query(`ALTER TABLE "webhook_messages" DROP COLUMN "endpoint_id"`);
      return;
    }
    await q.dropColumn('webhook_messages', 'endpoint_id');
  }
}
