import { Column, Entity, Index, JoinColumn, ManyToOne, PrimaryColumn } from 'typeorm';
import { TimeColumn } from './columns.js';
import { WebhookEndpoint } from './webhook-endpoint.entity.js';
import { WebhookMessage } from './webhook-message.entity.js';

/**
 * Lifecycle of one message × endpoint.
 * @publicApi
 */
export type DeliveryStatus = 'pending' | 'succeeded' | 'failed' | 'discarded';

/** Every {@link DeliveryStatus}, for checking a filter. */
export const DELIVERY_STATUSES: readonly DeliveryStatus[] = ['pending', 'succeeded', 'failed', 'discarded'];

/**
 * One message on its way to one endpoint; its id is the Bull `jobId`.
 * @publicApi
 */
@Entity('webhook_deliveries')
@Index('idx_webhook_deliveries_message', ['messageId'])
@Index('idx_webhook_deliveries_endpoint', ['endpointId', 'createdAt'])
@Index('idx_webhook_deliveries_status', ['status', 'enqueuedAt'])
export class WebhookDelivery {
  /** `dlv_…` */
  @PrimaryColumn({ type: 'varchar', length: 40 })
  id: string;

  @Column({ name: 'message_id', type: 'varchar', length: 40 })
  messageId: string;

  @ManyToOne(() => WebhookMessage, { onDelete: 'CASCADE', createForeignKeyConstraints: true })
  @JoinColumn({ name: 'message_id' })
  message?: WebhookMessage;

  @Column({ name: 'endpoint_id', type: 'varchar', length: 40 })
  endpointId: string;

  @ManyToOne(() => WebhookEndpoint, { onDelete: 'CASCADE', createForeignKeyConstraints: true })
  @JoinColumn({ name: 'endpoint_id' })
  endpoint?: WebhookEndpoint;

  @Column({ type: 'varchar', length: 16 })
  status: DeliveryStatus;

  /** Attempts made so far, manual ones included. */
  @Column({ type: 'integer', default: 0 })
  attempts: number;

  @TimeColumn('next_attempt_at', { nullable: true })
  nextAttemptAt: Date | null;

  @Column({ name: 'last_status_code', type: 'integer', nullable: true })
  lastStatusCode: number | null;

  @Column({ name: 'last_error', type: 'varchar', length: 500, nullable: true })
  lastError: string | null;

  /** When the Bull job was added; null until then (the relay looks for those). */
  @TimeColumn('enqueued_at', { nullable: true })
  enqueuedAt: Date | null;

  @TimeColumn('created_at')
  createdAt: Date;

  @TimeColumn('updated_at')
  updatedAt: Date;
}
