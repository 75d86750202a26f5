import { Column, Entity, Index, JoinColumn, ManyToOne, PrimaryColumn } from 'typeorm';
import { TimeColumn } from './columns.js';
import { WebhookDelivery } from './webhook-delivery.entity.js';

/**
 * Why an attempt failed, when it did.
 * @publicApi
 */
export type AttemptErrorClass = 'timeout' | 'refused' | 'dns' | 'tls' | 'http' | 'blocked' | 'network';

/**
 * One HTTP attempt of a delivery, as the log shows it.
 * @publicApi
 */
@Entity('webhook_attempts')
@Index('idx_webhook_attempts_delivery', ['deliveryId', 'number'])
export class WebhookAttempt {
  /** `atm_…` */
  @PrimaryColumn({ type: 'varchar', length: 40 })
  id: string;

  @Column({ name: 'delivery_id', type: 'varchar', length: 40 })
  deliveryId: string;

  @ManyToOne(() => WebhookDelivery, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'delivery_id' })
  delivery?: WebhookDelivery;

  /** 1 for the first attempt of the delivery. */
  @Column({ type: 'integer' })
  number: number;

  @Column({ name: 'status_code', type: 'integer', nullable: true })
  statusCode: number | null;

  @Column({ name: 'duration_ms', type: 'integer' })
  durationMs: number;

  /**
   * The headers this attempt sent, its `webhook-timestamp` and `webhook-signature` included (never
   * a secret); null on attempts recorded before the column existed.
   */
  @Column({ name: 'request_headers', type: 'simple-json', nullable: true })
  requestHeaders: Record<string, string> | null;

  /**
   * The receiver's response headers, bounded (at most 50 headers, 4 KiB of JSON; repeated
   * headers joined with `, `); null when no response came or on attempts recorded before.
   */
  @Column({ name: 'response_headers', type: 'simple-json', nullable: true })
  responseHeaders: Record<string, string> | null;

  /** The first `outbound.maxResponseBodyBytes` of the response. */
  @Column({ name: 'response_body', type: 'text', nullable: true })
  responseBody: string | null;

  @Column({ name: 'error_class', type: 'varchar', length: 16, nullable: true })
  errorClass: AttemptErrorClass | null;

  @Column({ name: 'error_message', type: 'varchar', length: 500, nullable: true })
  errorMessage: string | null;

  @Column({ type: 'varchar', length: 16 })
  trigger: 'scheduled' | 'manual';

  @TimeColumn('created_at')
  createdAt: Date;
}
