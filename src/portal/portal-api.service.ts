import { Inject, Injectable } from '@nestjs/common';
import type { WebhookEventName } from '../interfaces/event-types.interface.js';
import type { PortalActor } from '../interfaces/portal.interface.js';
import type { ResolvedWebhooksOptions } from '../interfaces/webhooks-options.interface.js';
import { WebhookService } from '../outbound/webhook.service.js';
import { WebhookEvents, type PortalAction } from '../webhook.events.js';
import { WEBHOOKS_OPTIONS } from '../webhooks.constants.js';
import { PortalProblem } from './portal.problem.js';
import { PortalStore, type MessageFilters, type PageArgs, type PortalScope } from './portal.store.js';
import { attemptView, deliveryView, endpointView, messageView } from './portal.views.js';

const HOUR = 3_600_000;
const WINDOWS = { '24h': { span: 24 * HOUR, bucket: HOUR }, '7d': { span: 7 * 24 * HOUR, bucket: 6 * HOUR } };
export type StatsWindow = keyof typeof WINDOWS;

/** Fields of an endpoint the portal may set. */
export interface PortalEndpointInput {
  url?: string;
  description?: string | null;
  eventTypes?: string[] | null;
  disabled?: boolean;
  /** Admin API only: the endpoint's customer. */
  customerId?: string;
}

/** The value at quantile `q` of sorted `values` (nearest rank), or null when there are none. */
export function quantile(sorted: number[], q: number): number | null {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}

/**
 * What the portal API does, for one actor: reads through the scoped {@link PortalStore}, changes
 * through the public `WebhookService` (same validation and network policy as the app's own calls)
 * after the target has been found in the actor's scope. Every change emits `portal.action`.
 */
@Injectable()
export class PortalApi {
  constructor(
    @Inject(WEBHOOKS_OPTIONS) private readonly options: ResolvedWebhooksOptions,
    private readonly store: PortalStore,
    private readonly webhooks: WebhookService,
    private readonly events: WebhookEvents,
  ) {}

  session(actor: PortalActor) {
    const theme = this.options.portal!.theme;
    return {
      customerId: actor.customerId,
      scope: actor.scope,
      expiresAt: actor.expiresAt?.toISOString() ?? null,
      theme: { primaryColor: theme.primaryColor, mode: theme.mode },
    };
  }

  eventTypes() {
    return {
      data: this.options.eventTypes.map((t) => ({
        name: t.name,
        description: t.description ?? null,
        example: t.example ?? null,
        schema: t.schema ?? null,
      })),
    };
  }

  async listEndpoints(scope: PortalScope, page: PageArgs) {
    const result = await this.store.listEndpoints(scope, page);
    return { data: result.data.map(endpointView), nextCursor: result.nextCursor };
  }

  async getEndpoint(scope: PortalScope, id: string) {
    return endpointView(await this.store.endpoint(scope, id));
  }

  async createEndpoint(actor: PortalActor, input: PortalEndpointInput) {
    this.manage(actor);
    const customerId = actor.customerId ?? input.customerId;
    if (typeof customerId !== 'string' || customerId === '')
      throw new PortalProblem('invalid_input', 'customerId is required in the body of the admin API.');
    const created = await this.webhooks.createEndpoint({
      url: input.url as string,
      description: input.description ?? null,
      eventTypes: input.eventTypes ?? null,
      enabled: input.disabled === undefined ? true : !input.disabled,
      customerId,
    });
    this.emit(actor, 'endpoint.created', 'endpoint', created.id);
    return endpointView(created);
  }

  async updateEndpoint(actor: PortalActor, id: string, input: PortalEndpointInput) {
    this.manage(actor);
    await this.store.endpoint(actor, id);
    if (input.disabled !== undefined && typeof input.disabled !== 'boolean')
      throw new PortalProblem('invalid_input', 'disabled must be true or false.');
    const updated = await this.webhooks.updateEndpoint(id, {
      url: input.url,
      description: input.description,
      eventTypes: input.eventTypes,
      enabled: input.disabled === undefined ? undefined : !input.disabled,
    });
    this.emit(actor, 'endpoint.updated', 'endpoint', id);
    return endpointView(updated);
  }

  async deleteEndpoint(actor: PortalActor, id: string): Promise<void> {
    this.manage(actor);
    await this.store.endpoint(actor, id);
    await this.webhooks.deleteEndpoint(id);
    this.emit(actor, 'endpoint.deleted', 'endpoint', id);
  }

  async revealSecret(actor: PortalActor, id: string) {
    this.manage(actor);
    const endpoint = await this.store.endpoint(actor, id);
    this.emit(actor, 'endpoint.secret_revealed', 'endpoint', id);
    return { secret: endpoint.secret };
  }

  async rotateSecret(actor: PortalActor, id: string, graceMs: unknown) {
    this.manage(actor);
    await this.store.endpoint(actor, id);
    if (graceMs !== undefined && !(Number.isSafeInteger(graceMs) && (graceMs as number) >= 0))
      throw new PortalProblem('invalid_input', 'graceMs must be an integer >= 0.');
    const graceSeconds = graceMs === undefined ? undefined : Math.ceil((graceMs as number) / 1000);
    const rotated = await this.webhooks.rotateEndpointSecret(id, { graceSeconds });
    this.emit(actor, 'endpoint.secret_rotated', 'endpoint', id);
    return { secret: rotated.secret };
  }

  async sendTest(actor: PortalActor, id: string, eventType: unknown, payload: unknown) {
    this.manage(actor);
    const endpoint = await this.store.endpoint(actor, id);
    if (typeof eventType !== 'string') throw new PortalProblem('invalid_input', 'eventType is required.');
    if (endpoint.customerId === null)
      throw new PortalProblem('invalid_input', 'Test events go to endpoints of a customer.');
    // Checked by send like any payload; its type is the app's declared one only at compile time.
    const data: any = payload ?? this.options.eventTypes.find((t) => t.name === eventType)?.example ?? {};
    const sent = await this.webhooks.send(eventType as WebhookEventName, data, {
      customerId: endpoint.customerId,
      endpointId: id,
    });
    if (sent.deliveryIds.length === 0)
      throw new PortalProblem('invalid_input', `Endpoint ${id} is disabled: enable it before sending a test event.`);
    this.emit(actor, 'endpoint.test_sent', 'endpoint', id);
    return { messageId: sent.messageId, deliveryIds: sent.deliveryIds };
  }

  async recover(actor: PortalActor, id: string, since: unknown) {
    this.manage(actor);
    await this.store.endpoint(actor, id);
    const result = await this.webhooks.recoverFailed({ endpointId: id, since: date('since', since)! });
    this.emit(actor, 'endpoint.recovered', 'endpoint', id);
    return result;
  }

  async replayMissing(actor: PortalActor, id: string, since: unknown, until: unknown) {
    this.manage(actor);
    await this.store.endpoint(actor, id);
    const result = await this.webhooks.replayMissing({
      endpointId: id,
      since: date('since', since)!,
      until: until === undefined ? undefined : date('until', until),
    });
    this.emit(actor, 'endpoint.replayed_missing', 'endpoint', id);
    return result;
  }

  async stats(scope: PortalScope, id: string, window: unknown) {
    await this.store.endpoint(scope, id);
    const w = window === undefined ? '24h' : window;
    if (w !== '24h' && w !== '7d') throw new PortalProblem('invalid_input', "window must be '24h' or '7d'.");
    const { span, bucket } = WINDOWS[w];
    const to = Math.ceil(Date.now() / bucket) * bucket;
    const from = to - span;
    // A delivery's scheduled attempts end within the schedule's total after it was created.
    const reach = this.options.outbound.schedule.reduce((a, b) => a + b, 0) * (1 + this.options.outbound.jitter);
    const samples = await this.store.attempts(id, from, to, from - Math.ceil(reach));
    const buckets = Array.from({ length: span / bucket }, (_, i) => ({
      start: new Date(from + i * bucket).toISOString(),
      succeeded: 0,
      failed: 0,
    }));
    for (const s of samples) buckets[Math.floor((s.at - from) / bucket)][s.ok ? 'succeeded' : 'failed']++;
    const succeeded = samples.filter((s) => s.ok).length;
    const durations = samples.map((s) => s.ms).sort((a, b) => a - b);
    return {
      window: w,
      from: new Date(from).toISOString(),
      to: new Date(to).toISOString(),
      buckets,
      total: samples.length,
      succeeded,
      failed: samples.length - succeeded,
      successRate: samples.length === 0 ? null : succeeded / samples.length,
      p50Ms: quantile(durations, 0.5),
      p95Ms: quantile(durations, 0.95),
    };
  }

  async listMessages(scope: PortalScope, filters: MessageFilters, page: PageArgs) {
    const result = await this.store.listMessages(scope, filters, page);
    const statuses = await this.store.statuses(result.data.map((m) => m.id));
    return { data: result.data.map((m) => messageView(m, statuses.get(m.id)!)), nextCursor: result.nextCursor };
  }

  async getMessage(scope: PortalScope, id: string) {
    const message = await this.store.message(scope, id);
    const [statuses, deliveries] = await Promise.all([this.store.statuses([id]), this.store.deliveriesOf(scope, id)]);
    return { message: messageView(message, statuses.get(id)!), deliveries: deliveries.map(deliveryView) };
  }

  async getDelivery(scope: PortalScope, id: string) {
    const delivery = await this.store.delivery(scope, id);
    const [attempts, message, endpoint] = await Promise.all([
      this.store.attemptsOf(id),
      this.store.message({ customerId: null }, delivery.messageId),
      this.store.endpoint({ customerId: null }, delivery.endpointId),
    ]);
    const request = {
      messageId: message.id,
      body: message.body,
      userAgent: this.options.outbound.userAgent,
      headers: endpoint.headers,
    };
    return { delivery: deliveryView(delivery), attempts: attempts.map((a) => attemptView(a, request)) };
  }

  async replayDelivery(actor: PortalActor, id: string) {
    this.manage(actor);
    await this.store.delivery(actor, id);
    const replayed = await this.webhooks.redeliver(id);
    this.emit(actor, 'delivery.replayed', 'delivery', id);
    return deliveryView(replayed);
  }

  private manage(actor: PortalActor): void {
    if (actor.scope !== 'manage')
      throw new PortalProblem('forbidden', 'This portal session is read-only: ask for a link with the manage scope.');
  }

  private emit(actor: PortalActor, action: PortalAction, kind: 'endpoint' | 'delivery', id: string): void {
    const who = { kind: actor.kind, customerId: actor.customerId, sessionId: actor.sessionId };
    this.events.emit('portal.action', { actor: who, action, target: { kind, id } });
  }
}

/** An ISO date from a request, or a 422. */
function date(field: string, value: unknown): Date | undefined {
  const parsed = typeof value === 'string' ? new Date(value) : null;
  if (!parsed || Number.isNaN(parsed.getTime()))
    throw new PortalProblem('invalid_input', `${field} must be an ISO date such as 2026-01-31T00:00:00Z.`);
  return parsed;
}
