import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource, ObjectLiteral, SelectQueryBuilder } from 'typeorm';
import { WebhookAttempt } from '../database/entities/webhook-attempt.entity.js';
import { WebhookDelivery } from '../database/entities/webhook-delivery.entity.js';
import { WebhookEndpoint } from '../database/entities/webhook-endpoint.entity.js';
import { WebhookMessage } from '../database/entities/webhook-message.entity.js';
import { knownId, type IdPrefix } from '../database/ids.js';
import { pageLimit } from '../database/pagination.js';
import { runSql, SQLITE } from '../database/sql.js';
import { WebhookNotFoundError } from '../errors/webhook-not-found.error.js';
import type { Page, PageOptions } from '../interfaces/webhook-service.interface.js';
import { messages } from '../webhooks.messages.js';
import type { MessageStatus } from './portal.views.js';

/** Whose rows a query may see: one customer's, or (admin API, `null`) every customer's. */
export interface PortalScope {
  customerId: string | null;
}

/** Filters of the message log. */
export interface MessageFilters {
  eventType?: string;
  status?: 'pending' | 'succeeded' | 'failed';
  since?: Date;
  until?: Date;
  endpointId?: string;
}

export type PageArgs = PageOptions;

/** Outcome of one attempt in the statistics window. */
export interface AttemptSample {
  at: number;
  ok: boolean;
  ms: number;
}

const FAILED = "('failed', 'discarded')";

/** Message-status filters as SQL on the message `m`. */
/**
 * The status filters, as correlated subqueries on the message's deliveries. On SQLite a column
 * compared to a constant is written `+col`, which keeps SQLite off its index: without statistics
 * it would pick the status (or endpoint) index for the subquery and read every delivery of that
 * status for each message (21 s for one page at 1.5 million deliveries), where the message's own
 * index reads a few rows.
 */
function statusSql(status: NonNullable<MessageFilters['status']>, sqlite: boolean): string {
  const p = sqlite ? '+' : '';
  const has = (alias: string, test: string) =>
    `EXISTS (SELECT 1 FROM webhook_deliveries ${alias} WHERE ${alias}.message_id = m.id AND ${p}${alias}.status ${test})`;
  if (status === 'pending') return has('sd', "= 'pending'");
  if (status === 'failed') return `NOT ${has('sd', "= 'pending'")} AND ${has('sf', `IN ${FAILED}`)}`;
  return `${has('sd', "= 'succeeded'")} AND NOT ${has('sf', "<> 'succeeded'")}`;
}

/**
 * The portal's reads, each filtered by the caller's customer in its SQL: a row of another customer
 * is never loaded, so a foreign id reads as unknown (404), exactly like a made-up one.
 */
@Injectable()
export class PortalStore {
  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  listEndpoints(scope: PortalScope, page: PageArgs): Promise<Page<WebhookEndpoint>> {
    const qb = this.dataSource.getRepository(WebhookEndpoint).createQueryBuilder('e');
    if (scope.customerId !== null) qb.where('e.customer_id = :customerId', scope);
    return this.page(qb, 'e', 'ep', page);
  }

  async endpoint(scope: PortalScope, id: string): Promise<WebhookEndpoint> {
    knownId('endpoint', id);
    const qb = this.dataSource.getRepository(WebhookEndpoint).createQueryBuilder('e').where('e.id = :id', { id });
    if (scope.customerId !== null) qb.andWhere('e.customer_id = :customerId', scope);
    return this.found(await qb.getOne(), 'endpoint', id);
  }

  listMessages(scope: PortalScope, f: MessageFilters, page: PageArgs): Promise<Page<WebhookMessage>> {
    return this.page(this.messagesQuery(scope, f), 'm', 'msg', page);
  }

  /** The messages of `scope` that match `f`, unpaged (its plan is checked by a test). */
  messagesQuery(scope: PortalScope, f: MessageFilters): SelectQueryBuilder<WebhookMessage> {
    const qb = this.dataSource.getRepository(WebhookMessage).createQueryBuilder('m').where('1 = 1');
    if (scope.customerId !== null) qb.andWhere('m.customer_id = :customerId', scope);
    if (f.eventType !== undefined) qb.andWhere('m.type = :type', { type: f.eventType });
    if (f.since !== undefined) qb.andWhere('m.created_at >= :since', { since: f.since.getTime() });
    if (f.until !== undefined) qb.andWhere('m.created_at < :until', { until: f.until.getTime() });
    const sqlite = SQLITE.has(this.dataSource.options.type);
    if (f.endpointId !== undefined) {
      // `+` on SQLite: see statusSql.
      qb.andWhere(
        `EXISTS (SELECT 1 FROM webhook_deliveries fd WHERE fd.message_id = m.id AND ${sqlite ? '+' : ''}fd.endpoint_id = :endpointId)`,
        { endpointId: f.endpointId },
      );
    }
    if (f.status !== undefined) qb.andWhere(statusSql(f.status, sqlite));
    return qb;
  }

  async message(scope: PortalScope, id: string): Promise<WebhookMessage> {
    knownId('message', id);
    const qb = this.dataSource.getRepository(WebhookMessage).createQueryBuilder('m').where('m.id = :id', { id });
    if (scope.customerId !== null) qb.andWhere('m.customer_id = :customerId', scope);
    return this.found(await qb.getOne(), 'message', id);
  }

  /** Each message's status, from its deliveries' statuses in one grouped query. */
  async statuses(ids: string[]): Promise<Map<string, MessageStatus>> {
    const out = new Map<string, MessageStatus>(ids.map((id) => [id, 'none']));
    if (ids.length === 0) return out;
    const rows = await this.dataSource
      .getRepository(WebhookDelivery)
      .createQueryBuilder('d')
      .select('d.message_id', 'messageId')
      .addSelect('d.status', 'status')
      .where('d.message_id IN (:...ids)', { ids })
      .groupBy('d.message_id')
      .addGroupBy('d.status')
      .getRawMany<{ messageId: string; status: string }>();
    const rank: Record<string, number> = { none: 0, succeeded: 1, failed: 2, discarded: 2, pending: 3 };
    for (const { messageId, status } of rows) {
      const summary: MessageStatus = status === 'discarded' ? 'failed' : (status as MessageStatus);
      if (rank[summary] > rank[out.get(messageId)!]) out.set(messageId, summary);
    }
    return out;
  }

  /** Deliveries of a message (already scoped), to the scope's endpoints. */
  deliveriesOf(scope: PortalScope, messageId: string): Promise<WebhookDelivery[]> {
    const qb = this.deliveries(scope).where('d.message_id = :messageId', { messageId });
    if (scope.customerId !== null) qb.andWhere('e.customer_id = :customerId', scope);
    return qb.orderBy('d.id', 'ASC').getMany();
  }

  async delivery(scope: PortalScope, id: string): Promise<WebhookDelivery> {
    knownId('delivery', id);
    const qb = this.deliveries(scope).where('d.id = :id', { id });
    if (scope.customerId !== null) qb.andWhere('e.customer_id = :customerId', scope);
    return this.found(await qb.getOne(), 'delivery', id);
  }

  /** Attempts of a delivery, oldest first (the delivery is already scoped). */
  attemptsOf(deliveryId: string): Promise<WebhookAttempt[]> {
    return this.dataSource.getRepository(WebhookAttempt).find({ where: { deliveryId }, order: { number: 'ASC' } });
  }

  /**
   * The endpoint's attempts made in [from, to). Deliveries are looked up from `deliveriesFrom` on
   * (their index): attempts of older deliveries (replayed by hand much later) are not counted.
   */
  async attempts(endpointId: string, from: number, to: number, deliveriesFrom: number): Promise<AttemptSample[]> {
    const rows = await runSql<{ at: string | number; code: number | null; ms: number }>(
      this.dataSource.manager,
      `SELECT a.created_at AS at, a.status_code AS code, a.duration_ms AS ms
       FROM webhook_deliveries d JOIN webhook_attempts a ON a.delivery_id = d.id
       WHERE d.endpoint_id = ? AND d.created_at >= ? AND d.created_at < ? AND a.created_at >= ? AND a.created_at < ?`,
      [endpointId, deliveriesFrom, to, from, to],
    );
    return rows.map((r) => ({
      at: Number(r.at),
      ok: r.code !== null && r.code >= 200 && r.code < 300,
      ms: Number(r.ms),
    }));
  }

  private deliveries(scope: PortalScope): SelectQueryBuilder<WebhookDelivery> {
    const qb = this.dataSource.getRepository(WebhookDelivery).createQueryBuilder('d');
    return scope.customerId === null ? qb : qb.innerJoin(WebhookEndpoint, 'e', 'e.id = d.endpoint_id');
  }

  private found<T>(row: T | null, kind: string, id: string): T {
    if (!row) throw new WebhookNotFoundError(messages.notFound(kind, id));
    return row;
  }

  /** Newest first by time-ordered id; `cursor` is the last id of the previous page. */
  private async page<T extends ObjectLiteral & { id: string }>(
    qb: SelectQueryBuilder<T>,
    alias: string,
    prefix: IdPrefix,
    page: PageArgs,
  ): Promise<Page<T>> {
    const limit = pageLimit(page, prefix);
    const { cursor } = page;
    if (cursor !== undefined) qb.andWhere(`${alias}.id < :cursor`, { cursor });
    const rows = await qb
      .orderBy(`${alias}.id`, 'DESC')
      .limit(limit + 1)
      .getMany();
    const more = rows.length > limit;
    const data = more ? rows.slice(0, limit) : rows;
    return { data, nextCursor: more ? data[data.length - 1].id : null };
  }
}
