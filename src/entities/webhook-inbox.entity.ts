import { Column, Entity, Index, PrimaryColumn } from 'typeorm';
import { TimeColumn } from './columns.js';

/** Processing state of a received webhook. */
export type InboxStatus = 'received' | 'processed' | 'failed' | 'ignored';

/** A verified inbound call; `(source, eventId)` is claimed once, so handlers run once. */
@Entity('webhook_inbox')
@Index('uq_webhook_inbox_source_event', ['source', 'eventId'], { unique: true })
export class WebhookInboxEntry {
  /** `in_…` */
  @PrimaryColumn({ type: 'varchar', length: 40 })
  id: string;

  @Column({ type: 'varchar', length: 64 })
  source: string;

  @Column({ name: 'event_id', type: 'varchar', length: 255 })
  eventId: string;

  @Column({ type: 'varchar', length: 255 })
  type: string;

  /** The exact bytes received, as UTF-8 text. */
  @Column({ name: 'raw_body', type: 'text' })
  rawBody: string;

  /** The scheme's signature, id and timestamp headers (never the app's cookies or auth). */
  @Column({ type: 'simple-json', nullable: true })
  headers: Record<string, string> | null;

  @Column({ type: 'varchar', length: 16 })
  status: InboxStatus;

  @Column({ type: 'integer', default: 0 })
  attempts: number;

  @Column({ name: 'last_error', type: 'varchar', length: 500, nullable: true })
  lastError: string | null;

  @TimeColumn('received_at')
  receivedAt: Date;

  @TimeColumn('processed_at', { nullable: true })
  processedAt: Date | null;

  @TimeColumn('updated_at')
  updatedAt: Date;
}
