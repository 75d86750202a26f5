import { Column, Entity, Index, PrimaryColumn } from 'typeorm';
import { TimeColumn } from './columns.js';

/** Characters of `idempotency_scope` (as in the migration): the JSON of `[customerId, idempotencyKey]`. */
export const IDEMPOTENCY_SCOPE_LENGTH = 600;

/**
 * One event as sent: its id is the `webhook-id` of every attempt, its body never changes.
 * @publicApi
 */
@Entity('webhook_messages')
@Index('idx_webhook_messages_customer_created', ['customerId', 'createdAt'])
// The portal's message log pages one customer's messages by id (migration AddPortalSessions).
@Index('idx_webhook_messages_customer_id', ['customerId', 'id'])
export class WebhookMessage {
  /** `msg_…`, sortable by creation time. */
  @PrimaryColumn({ type: 'varchar', length: 40 })
  id: string;

  @Column({ type: 'varchar', length: 255 })
  type: string;

  @Column({ name: 'customer_id', type: 'varchar', length: 255, nullable: true })
  customerId: string | null;

  @Column({ name: 'idempotency_key', type: 'varchar', length: 255, nullable: true })
  idempotencyKey: string | null;

  /** `[customerId, idempotencyKey]` as JSON: unique, so a key is unique per customer (NULL: no key, not indexed). */
  @Index('uq_webhook_messages_idempotency', { unique: true, where: 'idempotency_scope IS NOT NULL' })
  @Column({
    name: 'idempotency_scope',
    type: 'varchar',
    length: IDEMPOTENCY_SCOPE_LENGTH,
    nullable: true,
    select: false,
  })
  idempotencyScope: string | null;

  /** The exact request body: `{"type","timestamp","data"}`. */
  @Column({ type: 'text' })
  body: string;

  @TimeColumn('created_at')
  createdAt: Date;

  /**
   * The endpoint it was sent to alone (`send()` with `endpointId`: a test event, as the portal
   * sends), whatever its filters; null for a message sent to every matching endpoint.
   */
  @Column({ name: 'endpoint_id', type: 'varchar', length: 40, nullable: true })
  endpointId: string | null;
}
