import type { WebhookAttempt } from '../database/entities/webhook-attempt.entity.js';
import type { WebhookDelivery } from '../database/entities/webhook-delivery.entity.js';
import type { WebhookEndpoint } from '../database/entities/webhook-endpoint.entity.js';
import type { WebhookMessage } from '../database/entities/webhook-message.entity.js';

/** A message's deliveries summed up: any pending, else any failed or discarded, else succeeded (or none). */
export type MessageStatus = 'pending' | 'failed' | 'succeeded' | 'none';

const iso = (d: Date | null) => (d ? d.toISOString() : null);

/** `whsec_••••abcd`: enough to tell two secrets apart, nothing to sign with. */
export function maskSecret(secret: string): string {
  return `whsec_••••${secret.slice(-4)}`;
}

/** An endpoint as the portal shows it: the secret masked, the tenant kept for the admin API. */
export function endpointView(e: WebhookEndpoint) {
  return {
    id: e.id,
    customerId: e.customerId,
    url: e.url,
    description: e.description,
    eventTypes: e.eventTypes && e.eventTypes.length > 0 ? e.eventTypes : null,
    disabled: !e.enabled,
    disabledReason: e.disabledReason,
    secretMasked: maskSecret(e.secret),
    createdAt: e.createdAt.toISOString(),
    updatedAt: e.updatedAt.toISOString(),
    failingSince: iso(e.failingSince),
  };
}

/** The `data` of a stored body (`{"type","timestamp","data"}`). */
function payloadOf(body: string): unknown {
  try {
    return (JSON.parse(body) as { data?: unknown }).data ?? null;
  } catch {
    return null;
  }
}

export function messageView(m: WebhookMessage, status: MessageStatus) {
  return {
    id: m.id,
    customerId: m.customerId,
    eventType: m.type,
    payload: payloadOf(m.body),
    createdAt: m.createdAt.toISOString(),
    status,
  };
}

export function deliveryView(d: WebhookDelivery) {
  return {
    id: d.id,
    messageId: d.messageId,
    endpointId: d.endpointId,
    status: d.status,
    attempts: d.attempts,
    nextAttemptAt: iso(d.nextAttemptAt),
    lastStatusCode: d.lastStatusCode,
    lastError: d.lastError,
    createdAt: d.createdAt.toISOString(),
    updatedAt: d.updatedAt.toISOString(),
  };
}

/**
 * An attempt with the request it sent. The log keeps the body (the message's, the same on every
 * attempt) and each attempt's headers both ways; for attempts recorded before those columns, the
 * request headers are rebuilt from the message id and the endpoint's extra headers (without that
 * attempt's timestamp and signature) and the response headers are null.
 */
export function attemptView(
  a: WebhookAttempt,
  request: { messageId: string; body: string; userAgent: string; headers: Record<string, string> | null },
) {
  return {
    id: a.id,
    deliveryId: a.deliveryId,
    attemptNumber: a.number,
    trigger: a.trigger,
    startedAt: new Date(a.createdAt.getTime() - a.durationMs).toISOString(),
    durationMs: a.durationMs,
    requestHeaders: a.requestHeaders ?? {
      ...(request.headers ?? {}),
      'content-type': 'application/json',
      'user-agent': request.userAgent,
      'webhook-id': request.messageId,
    },
    requestBody: request.body,
    responseStatus: a.statusCode,
    responseHeaders: a.responseHeaders ?? null,
    responseBody: a.responseBody,
    errorClass: a.errorClass,
    error: a.errorMessage,
  };
}
