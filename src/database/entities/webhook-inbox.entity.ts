import { Column, Entity, Index, PrimaryColumn } from 'typeorm';
import { TimeColumn } from './columns.js';

/**
 * Starts a raw body stored as base64: one containing U+0000, which PostgreSQL text cannot hold,
 * or one that starts with this mark itself (so that a stored value starting with it is always encoded).
 */
export const BASE64_BODY = 'nestjs-webhooks:base64:';

/** A raw body as the `raw_body` column stores it, on every database alike. */
export function storedBody(text: string): string {
  if (!text.includes('\u0000') && !text.startsWith(BASE64_BODY)) return text;
  return BASE64_BODY + Buffer.from(text, 'utf8').toString('base64');
}

/** The raw body of a stored `raw_body` value. */
export function readBody(stored: string): string {
  if (!stored.startsWith(BASE64_BODY)) return stored;
  return Buffer.from(stored.slice(BASE64_BODY.length), 'base64').toString('utf8');
}

const rawBodyTransformer = {
  to: (v: unknown) => (typeof v === 'string' ? storedBody(v) : v),
  from: (v: unknown) => (typeof v === 'string' ? readBody(v) : v),
};

/**
 * Processing state of a received webhook.
 * @publicApi
 */
export type InboxStatus = 'received' | 'processed' | 'failed' | 'ignored';

/**
 * A verified inbound call; `(source, eventId)` is claimed once, so handlers run once.
 * @publicApi
 */
@Entity('webhook_inbox')
@Index('uq_webhook_inbox_source_event', ['source', 'eventId'], { unique: true })
// The open rows, which are few: stuck `received` rows (health), lists by those statuses.
@Index('idx_webhook_inbox_open', ['id'], { where: "status = 'received' OR status = 'failed'" })
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

  /** The exact bytes received, as UTF-8 text (stored as base64 when it contains U+0000, see {@link storedBody}). */
  @Column({ name: 'raw_body', type: 'text', transformer: rawBodyTransformer })
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
