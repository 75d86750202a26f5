import { Injectable, Logger } from '@nestjs/common';
import { EventEmitter } from 'node:events';

/**
 * Payloads of the operational events, by event name.
 * @publicApi
 */
export interface WebhookEventMap {
  /** A delivery got a 2xx. */
  'delivery.succeeded': {
    deliveryId: string;
    messageId: string;
    endpointId: string;
    attempt: number;
    statusCode: number;
  };
  /** An attempt failed and another is scheduled. */
  'delivery.failed': {
    deliveryId: string;
    messageId: string;
    endpointId: string;
    attempt: number;
    error: string;
    nextAttemptAt: Date;
  };
  /** A delivery ended without success (schedule used up, 410, refused by the network policy). */
  'delivery.exhausted': { deliveryId: string; messageId: string; endpointId: string; attempt: number; error: string };
  /** An endpoint was disabled (410 Gone, or failing for `outbound.disableAfterMs`). */
  'endpoint.disabled': { endpointId: string; customerId: string | null; reason: string };
  /** A disabled endpoint was enabled again through `updateEndpoint`. */
  'endpoint.enabled': { endpointId: string; customerId: string | null };
  /** A change made through the customer portal or its admin API: who did what to which object. */
  'portal.action': {
    actor: { kind: 'portal' | 'admin'; customerId: string | null; sessionId?: string };
    action: PortalAction;
    target: { kind: 'endpoint' | 'delivery'; id: string };
  };
}

/**
 * What a `portal.action` event reports.
 * @publicApi
 */
export type PortalAction =
  | 'endpoint.created'
  | 'endpoint.updated'
  | 'endpoint.deleted'
  | 'endpoint.secret_revealed'
  | 'endpoint.secret_rotated'
  | 'endpoint.test_sent'
  | 'endpoint.recovered'
  | 'endpoint.replayed_missing'
  | 'delivery.replayed';

/**
 * In-process operational events, so an app can alert its own customers:
 * `events.on('endpoint.disabled', ({ endpointId, reason }) => …)`. A listener that throws is
 * logged and never affects delivery.
 * @publicApi
 */
@Injectable()
export class WebhookEvents {
  private readonly logger = new Logger(WebhookEvents.name);
  private readonly emitter = new EventEmitter();

  /** Subscribes to an event; returns a function that unsubscribes. */
  on<K extends keyof WebhookEventMap>(event: K, listener: (payload: WebhookEventMap[K]) => unknown): () => void {
    const safe = (payload: WebhookEventMap[K]) => {
      try {
        const r = listener(payload);
        if (r instanceof Promise) r.catch((err) => this.logger.error(`Listener of ${event} failed: ${err}`));
      } catch (err) {
        this.logger.error(`Listener of ${event} failed: ${err}`);
      }
    };
    this.emitter.on(event, safe);
    return () => this.emitter.off(event, safe);
  }

  /** @internal */
  emit<K extends keyof WebhookEventMap>(event: K, payload: WebhookEventMap[K]): void {
    this.emitter.emit(event, payload);
  }
}
