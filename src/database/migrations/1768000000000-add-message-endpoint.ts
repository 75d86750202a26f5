import { type MigrationInterface, type QueryRunner, TableColumn } from 'typeorm';

/**
 * The endpoint a message was sent to alone (`send()` with `endpointId`: a test event), or NULL for
 * a message fanned out by its type. `replayMissing` leaves such messages out: they were never
 * meant for the other endpoints. Rows written before stay NULL.
 */
export class AddMessageEndpoint1768000000000 implements MigrationInterface {
  name = 'AddMessageEndpoint1768000000000';

  async up(q: QueryRunner): Promise<void> {
    await q.addColumn(
      'webhook_messages',
      new TableColumn({ name: 'endpoint_id', type: 'varchar', length: '40', isNullable: true }),
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.dropColumn('webhook_messages', 'endpoint_id');
  }
}
