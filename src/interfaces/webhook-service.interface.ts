import type { EntityManager } from 'typeorm';
import type { DeliveryStatus } from '../database/entities/webhook-delivery.entity.js';

/**
 * Options of `WebhookService.send`.
 * @publicApi
 */
export interface SendOptions {
  /** Tenant: only this customer's endpoints receive the message. @default none (endpoints without a customer) */
  customerId?: string;
  /** A repeated key for the same customer returns the first message and writes nothing. */
  idempotencyKey?: string;
  /**
   * Write through this manager: inside a transaction, the rows commit or roll back with it and
   * the jobs are enqueued only after the real commit.
   */
  manager?: EntityManager;
  /**
   * Only this endpoint of the customer receives the message, whatever its event filters (a test
   * event, as the portal sends). @default every matching endpoint
   */
  endpointId?: string;
}

/**
 * What `send` wrote (or found, for a repeated idempotency key).
 * @publicApi
 */
export interface SendResult {
  messageId: string;
  deliveryIds: string[];
  /** False when an idempotency key matched an earlier message. */
  created: boolean;
}

/**
 * Fields of a new endpoint.
 * @publicApi
 */
export interface CreateEndpointInput {
  /** http(s) URL that receives the POSTs. */
  url: string;
  /** Exact types, `prefix.*` or `*`. @default every event */
  eventTypes?: string[] | null;
  /** Tenant of the endpoint. @default none */
  customerId?: string | null;
  /** `whsec_…` signing secret. @default a new random one */
  secret?: string;
  /** Extra request headers; the module's own (`webhook-*`, `content-type`, …) are refused. */
  headers?: Record<string, string> | null;
  description?: string | null;
  /** @default true */
  enabled?: boolean;
}

/**
 * Fields that `updateEndpoint` may change; `enabled: true` re-enables and resets health.
 * @publicApi
 */
export type UpdateEndpointInput = Partial<Omit<CreateEndpointInput, 'secret'>>;

/**
 * A page of results, newest first; pass `nextCursor` as `cursor` for the next page.
 * @publicApi
 */
export interface Page<T> {
  data: T[];
  nextCursor: string | null;
}

/**
 * Paging arguments shared by the list methods.
 * @publicApi
 */
export interface PageOptions {
  /** @default 50 (at most 500) */
  limit?: number;
  /** `nextCursor` of the previous page. */
  cursor?: string;
}

/**
 * Filters and paging of `WebhookService.listEndpoints`.
 * @publicApi
 */
export interface ListEndpointsOptions extends PageOptions {
  /** Only this customer's endpoints; `null` for endpoints without a customer. */
  customerId?: string | null;
}

/**
 * Filters and paging of `WebhookService.listMessages`.
 * @publicApi
 */
export interface ListMessagesOptions extends PageOptions {
  customerId?: string | null;
  type?: string;
}

/**
 * Filters and paging of `WebhookService.listDeliveries`.
 * @publicApi
 */
export interface ListDeliveriesOptions extends PageOptions {
  messageId?: string;
  endpointId?: string;
  status?: DeliveryStatus;
}

/**
 * Options of `WebhookService.recoverFailed`.
 * @publicApi
 */
export interface RecoverFailedOptions {
  endpointId: string;
  /** Only deliveries created at or after this instant. */
  since: Date;
}

/**
 * Options of `WebhookService.replayMissing`.
 * @publicApi
 */
export interface ReplayMissingOptions {
  endpointId: string;
  /** Messages created at or after this instant. */
  since: Date;
  /** Messages created before this instant. @default no upper bound */
  until?: Date;
}
