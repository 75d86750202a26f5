import { Injectable, Logger } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource, EntityManager } from 'typeorm';
import { WebhookInboxEntry, type InboxStatus } from '../entities/webhook-inbox.entity.js';
import { newId } from '../ids.js';
import { TransactionRunner } from '../transaction.runner.js';

/** A verified call about to be claimed. */
export interface InboxClaim {
  source: string;
  eventId: string;
  type: string;
  rawBody: string;
  headers: Record<string, string>;
  /** `received` to run handlers; `ignored` when none matches (stored, never run). */
  status: Extract<InboxStatus, 'received' | 'ignored'>;
}

/** A claimed row: its id and how many runs of its handlers came before. */
export interface ClaimedRow {
  id: string;
  attempts: number;
}

/** The inbox could not be read or written (connection lost, database locked, table missing). */
export class InboxUnavailableError extends Error {
  override readonly name = 'InboxUnavailableError';
}

/**
 * A `received` row older than this is taken to belong to a process that died while running its
 * handlers, so a retry may claim it again. Far above any sender's timeout (5–30 s).
 */
export const CLAIM_LEASE_MS = 5 * 60_000;
const ERROR_LENGTH = 500;

/**
 * The inbox table: claims each (source, event id) once, atomically, and records what became of
 * it. Every statement is a single write; on SQLite they go through the {@link TransactionRunner}.
 */
@Injectable()
export class InboxService {
  private readonly logger = new Logger(InboxService.name);
  private readonly postgres: boolean;

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly tx: TransactionRunner,
  ) {
    this.postgres = dataSource.options.type === 'postgres';
  }

  /**
   * Claims the event: inserts it, or takes back a row whose claim was released (`failed`) or
   * whose lease ran out. Resolves to the row id, or null for a duplicate (processed, ignored,
   * or being run right now). Concurrent claims of one event: exactly one wins.
   */
  async claim(entry: InboxClaim, now = Date.now()): Promise<ClaimedRow | null> {
    const id = newId('in', now);
    const inserted = await this.rows(
      `INSERT INTO webhook_inbox (id, source, event_id, type, raw_body, headers, status, attempts, received_at, updated_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, 0, ?, ?) ON CONFLICT (source, event_id) DO NOTHING RETURNING id`,
      [id, entry.source, entry.eventId, entry.type, entry.rawBody, JSON.stringify(entry.headers), entry.status, now, now],
    );
    if (inserted.length > 0) return { id, attempts: 0 };
    const retaken = await this.rows(
      `UPDATE webhook_inbox SET status = 'received', updated_at = ?
       WHERE source = ? AND event_id = ? AND (status = 'failed' OR (status = 'received' AND updated_at < ?)) RETURNING id, attempts`,
      [now, entry.source, entry.eventId, now - CLAIM_LEASE_MS],
    );
    return retaken.length > 0 ? { id: retaken[0].id, attempts: Number(retaken[0].attempts) } : null;
  }

  /** Records a successful run of the handlers (`ignored` when a worker found none). */
  markProcessed(id: string, attempts: number, status: 'processed' | 'ignored' = 'processed'): Promise<void> {
    const now = Date.now();
    return this.exec(`UPDATE webhook_inbox SET status = ?, attempts = ?, processed_at = ?, updated_at = ? WHERE id = ?`, [
      status,
      attempts,
      now,
      now,
      id,
    ]);
  }

  /**
   * Records a failed run. `failed` releases the claim (a retry may take it again); `received`
   * keeps it with the queue, which retries by itself.
   */
  markFailed(id: string, attempts: number, error: unknown, status: 'failed' | 'received' = 'failed'): Promise<void> {
    const message = (error instanceof Error ? error.message : String(error)).slice(0, ERROR_LENGTH);
    return this.exec(`UPDATE webhook_inbox SET status = ?, attempts = ?, last_error = ?, updated_at = ? WHERE id = ?`, [
      status,
      attempts,
      message,
      Date.now(),
      id,
    ]);
  }

  /** The row of that id, or null. */
  async find(id: string): Promise<WebhookInboxEntry | null> {
    try {
      return await this.dataSource.getRepository(WebhookInboxEntry).findOneBy({ id });
    } catch (err) {
      throw this.unavailable(err);
    }
  }

  private async rows(sql: string, params: unknown[]): Promise<{ id: string; attempts?: number }[]> {
    const result = await this.write((m) => m.query(this.dialect(sql), params));
    // PostgreSQL answers UPDATE … RETURNING as [rows, count], SQLite as the rows.
    return Array.isArray(result[0]) ? result[0] : result;
  }

  private async exec(sql: string, params: unknown[]): Promise<void> {
    await this.write((m) => m.query(this.dialect(sql), params));
  }

  private async write<T>(work: (m: EntityManager) => Promise<T>): Promise<T> {
    try {
      return await this.tx.write(work);
    } catch (err) {
      throw this.unavailable(err);
    }
  }

  private unavailable(err: unknown): InboxUnavailableError {
    this.logger.error(`Webhook inbox unavailable: ${err instanceof Error ? err.message : String(err)}`);
    return new InboxUnavailableError(err instanceof Error ? err.message : String(err), { cause: err });
  }

  /** `?` placeholders as the driver wants them. */
  private dialect(sql: string): string {
    let n = 0;
    return this.postgres ? sql.replace(/\?/g, () => `$${++n}`) : sql;
  }
}
