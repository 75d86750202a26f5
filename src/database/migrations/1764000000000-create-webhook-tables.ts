import { type MigrationInterface, type QueryRunner, Table, type TableColumnOptions } from 'typeorm';

const id = (name = 'id'): TableColumnOptions => ({ name, type: 'varchar', length: '40', isPrimary: name === 'id' });
const time = (name: string, isNullable = false): TableColumnOptions => ({ name, type: 'bigint', isNullable });
const varchar = (name: string, length: number, isNullable = false): TableColumnOptions => ({
  name,
  type: 'varchar',
  length: String(length),
  isNullable,
});
const text = (name: string, isNullable = false): TableColumnOptions => ({ name, type: 'text', isNullable });
const integer = (name: string, isNullable = false, def?: number): TableColumnOptions => ({
  name,
  type: 'integer',
  isNullable,
  default: def,
});

/** Creates the endpoint, message, delivery, attempt and inbox tables (SQLite and PostgreSQL). */
export class CreateWebhookTables1764000000000 implements MigrationInterface {
  name = 'CreateWebhookTables1764000000000';

  async up(q: QueryRunner): Promise<void> {
    // SQLite stores booleans as integers; TypeORM compares its default as `1`, PostgreSQL as `true`.
    const yes = ['postgres', 'cockroachdb'].includes(q.connection.driver.options.type) ? true : 1;
    await q.createTable(
      new Table({
        name: 'webhook_endpoints',
        columns: [
          id(),
          varchar('url', 2048),
          text('description', true),
          varchar('customer_id', 255, true),
          text('event_types', true),
          varchar('secret', 255),
          varchar('previous_secret', 255, true),
          time('previous_secret_expires_at', true),
          text('headers', true),
          { name: 'enabled', type: 'boolean', default: yes },
          varchar('disabled_reason', 255, true),
          time('failing_since', true),
          integer('consecutive_failures', false, 0),
          time('created_at'),
          time('updated_at'),
        ],
        indices: [{ name: 'idx_webhook_endpoints_customer', columnNames: ['customer_id'] }],
      }),
    );
    await q.createTable(
      new Table({
        name: 'webhook_messages',
        columns: [
          id(),
          varchar('type', 255),
          varchar('customer_id', 255, true),
          varchar('idempotency_key', 255, true),
          varchar('idempotency_scope', 600, true),
          text('body'),
          time('created_at'),
        ],
        indices: [
          { name: 'idx_webhook_messages_customer_created', columnNames: ['customer_id', 'created_at'] },
          // Partial: most messages have no key, and an index entry per NULL would slow every insert (bench/NOTES.md).
          {
            name: 'uq_webhook_messages_idempotency',
            columnNames: ['idempotency_scope'],
            isUnique: true,
            where: 'idempotency_scope IS NOT NULL',
          },
        ],
      }),
    );
    await q.createTable(
      new Table({
        name: 'webhook_deliveries',
        columns: [
          id(),
          id('message_id'),
          id('endpoint_id'),
          varchar('status', 16),
          integer('attempts', false, 0),
          time('next_attempt_at', true),
          integer('last_status_code', true),
          varchar('last_error', 500, true),
          time('enqueued_at', true),
          time('created_at'),
          time('updated_at'),
        ],
        indices: [
          { name: 'idx_webhook_deliveries_message', columnNames: ['message_id'] },
          { name: 'idx_webhook_deliveries_endpoint', columnNames: ['endpoint_id', 'created_at'] },
          { name: 'idx_webhook_deliveries_status', columnNames: ['status', 'enqueued_at'] },
        ],
        foreignKeys: [
          {
            columnNames: ['message_id'],
            referencedTableName: 'webhook_messages',
            referencedColumnNames: ['id'],
            onDelete: 'CASCADE',
          },
          {
            columnNames: ['endpoint_id'],
            referencedTableName: 'webhook_endpoints',
            referencedColumnNames: ['id'],
            onDelete: 'CASCADE',
          },
        ],
      }),
    );
    await q.createTable(
      new Table({
        name: 'webhook_attempts',
        columns: [
          id(),
          id('delivery_id'),
          integer('number'),
          integer('status_code', true),
          integer('duration_ms'),
          text('response_body', true),
          varchar('error_class', 16, true),
          varchar('error_message', 500, true),
          varchar('trigger', 16),
          time('created_at'),
        ],
        indices: [{ name: 'idx_webhook_attempts_delivery', columnNames: ['delivery_id', 'number'] }],
        foreignKeys: [
          {
            columnNames: ['delivery_id'],
            referencedTableName: 'webhook_deliveries',
            referencedColumnNames: ['id'],
            onDelete: 'CASCADE',
          },
        ],
      }),
    );
    await q.createTable(
      new Table({
        name: 'webhook_inbox',
        columns: [
          id(),
          varchar('source', 64),
          varchar('event_id', 255),
          varchar('type', 255),
          text('raw_body'),
          text('headers', true),
          varchar('status', 16),
          integer('attempts', false, 0),
          varchar('last_error', 500, true),
          time('received_at'),
          time('processed_at', true),
          time('updated_at'),
        ],
        indices: [{ name: 'uq_webhook_inbox_source_event', columnNames: ['source', 'event_id'], isUnique: true }],
      }),
    );
  }

  async down(q: QueryRunner): Promise<void> {
    for (const table of [
      'webhook_inbox',
      'webhook_attempts',
      'webhook_deliveries',
      'webhook_messages',
      'webhook_endpoints',
    ]) {
      await q.dropTable(table, true);
    }
  }
}
