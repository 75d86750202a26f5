import { Column, Entity, Index, PrimaryColumn } from 'typeorm';
import { TimeColumn } from './columns.js';

/**
 * What a portal session may do: `read` the log, or also `manage` endpoints, secrets and replays.
 * @publicApi
 */
export type PortalScope = 'read' | 'manage';

/**
 * A customer portal session: the token's secret half is kept only as its SHA-256.
 * @publicApi
 */
@Entity('webhook_portal_sessions')
@Index('idx_webhook_portal_sessions_customer', ['customerId'])
export class WebhookPortalSession {
  /** `ps_…`, the first half of the token. */
  @PrimaryColumn({ type: 'varchar', length: 40 })
  id: string;

  @Column({ name: 'customer_id', type: 'varchar', length: 255 })
  customerId: string;

  /** SHA-256 (hex) of the token's secret half. */
  @Column({ name: 'token_hash', type: 'varchar', length: 64, select: false })
  tokenHash: string;

  @Column({ type: 'varchar', length: 16 })
  scope: PortalScope;

  /** Null: never expires (until revoked). */
  @TimeColumn('expires_at', { nullable: true })
  expiresAt: Date | null;

  @TimeColumn('revoked_at', { nullable: true })
  revokedAt: Date | null;

  @TimeColumn('created_at')
  createdAt: Date;
}
