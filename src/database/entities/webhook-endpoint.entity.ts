import { Column, Entity, Index, PrimaryColumn } from 'typeorm';
import { TimeColumn } from './columns.js';

/**
 * A subscriber URL with its event filters, tenant, secrets and health.
 * @publicApi
 */
@Entity('webhook_endpoints')
@Index('idx_webhook_endpoints_customer', ['customerId'])
export class WebhookEndpoint {
  /** `ep_…` */
  @PrimaryColumn({ type: 'varchar', length: 40 })
  id: string;

  @Column({ type: 'varchar', length: 2048 })
  url: string;

  @Column({ type: 'text', nullable: true })
  description: string | null;

  /** Tenant; a message reaches only endpoints of its own customer (or, without one, none). */
  @Column({ name: 'customer_id', type: 'varchar', length: 255, nullable: true })
  customerId: string | null;

  /** Exact types, `prefix.*` or `*`; null means every event. */
  @Column({ name: 'event_types', type: 'simple-json', nullable: true })
  eventTypes: string[] | null;

  /** Current signing secret, `whsec_…`. */
  @Column({ type: 'varchar', length: 255 })
  secret: string;

  /** The secret before the last rotation, still signed with until its expiry. */
  @Column({ name: 'previous_secret', type: 'varchar', length: 255, nullable: true })
  previousSecret: string | null;

  @TimeColumn('previous_secret_expires_at', { nullable: true })
  previousSecretExpiresAt: Date | null;

  @Column({ type: 'simple-json', nullable: true })
  headers: Record<string, string> | null;

  @Column({ type: 'boolean', default: true })
  enabled: boolean;

  @Column({ name: 'disabled_reason', type: 'varchar', length: 255, nullable: true })
  disabledReason: string | null;

  /** Start of the current run of failures with no success; null while healthy. */
  @TimeColumn('failing_since', { nullable: true })
  failingSince: Date | null;

  @Column({ name: 'consecutive_failures', type: 'integer', default: 0 })
  consecutiveFailures: number;

  @TimeColumn('created_at')
  createdAt: Date;

  @TimeColumn('updated_at')
  updatedAt: Date;
}
