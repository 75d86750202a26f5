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
    const disabled = disabledFlag(input);
    const created = await this.webhooks.createEndpoint({
      url: input.url as string,
      description: input.description ?? null,
      eventTypes: input.eventTypes ?? null,
      enabled: !disabled,
      customerId,
    });
    this.emit(actor, 'endpoint.created', 'endpoint', created.id);
    return endpointView(created);
  }

  async updateEndpoint(actor: PortalActor, id: string, input: PortalEndpointInput) {
    this.manage(actor);
    await this.store.endpoint(actor, id);
    const disabled = disabledFlag(input);
    const updated = await this.webhooks.updateEndpoint(id, {
      url: input.url,
      description: input.description,
      eventTypes: input.eventTypes,
      enabled: disabled === undefined ? undefined : !disabled,
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
    // Before sending: send() stores the message even when no delivery is made for it.
    if (!endpoint.enabled) throw disabledEndpoint(id);
    // Checked by send like any payload; its type is the app's declared one only at compile time.
    const data: any = payload ?? this.options.eventTypes.find((t) => t.name === eventType)?.example ?? {};
    const sent = await this.webhooks.send(eventType as WebhookEventName, data, {
      customerId: endpoint.customerId,
      endpointId: id,
    });
    // Disabled since the check above: the message is stored, but the caller hears why nothing went out.
    if (sent.deliveryIds.length === 0) throw disabledEndpoint(id);
    this.emit(actor, 'endpoint.test_sent', 'endpoint', id);
    return { messageId: sent.messageId, deliveryIds: sent.deliveryIds };
  }

  async recover(actor: PortalActor, id: string, since: unknown) {
    this.manage(actor);
    await this.store.endpoint(actor, id);
    const result = await this.webhooks.recoverFailed({ endpointId: id, since: isoDate('since', since) });
    this.emit(actor, 'endpoint.recovered', 'endpoint', id);
    return result;
  }

  async replayMissing(actor: PortalActor, id: string, since: unknown, until: unknown) {
    this.manage(actor);
    await this.store.endpoint(actor, id);
    const result = await this.webhooks.replayMissing({
      endpointId: id,
      since: isoDate('since', since),
      until: until === undefined ? undefined : isoDate('until', until),
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

/** `disabled` of an endpoint's input: true, false or absent; anything else (`"false"`, 1, null) is a 422. */
function disabledFlag(input: PortalEndpointInput): boolean | undefined {
  if (input.disabled !== undefined && typeof input.disabled !== 'boolean')
    throw new PortalProblem('invalid_input', 'disabled must be true or false.');
  return input.disabled;
}

/** The 422 of a test event to a disabled endpoint. */
function disabledEndpoint(id: string): PortalProblem {
  return new PortalProblem('invalid_input', `Endpoint ${id} is disabled: enable it before sending a test event.`);
}

/**
 * `YYYY-MM-DD`, or a date-time with optional seconds and fraction and a required zone (`Z` or
 * `±HH:MM`): the ISO 8601 forms whose instant does not depend on the server's time zone.
 */
const ISO_DATE = /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?(?:Z|([+-])(\d{2}):(\d{2})))?$/;

/**
 * An instant from a request's `since` / `until` (query or body), or a 422 naming the field. A
 * date alone is midnight UTC. Not `new Date(text)`, which takes `1` (2001), `March 7`, a
 * date-time without a zone in the server's time, and rolls `2024-02-30` over to March 1.
 */
export function isoDate(field: string, value: unknown): Date {
  const m = typeof value === 'string' ? ISO_DATE.exec(value) : null;
  const at = m && instant(m.slice(1).map((part) => part ?? ''));
  if (!at)
    throw new PortalProblem(
      'invalid_input',
      `${field} must be an ISO 8601 date (2026-01-31, midnight UTC) or date-time with a zone ` +
        `(2026-01-31T12:00Z, 2026-01-31T12:00:00.250+02:00).`,
    );
  return at;
}

/** The instant of ISO_DATE's parts, or null for a day, hour or offset no calendar has. */
function instant([year, month, day, hour, minute, second, fraction, sign, offH, offM]: string[]): Date | null {
  const n = (s: string) => (s === '' ? 0 : Number(s));
  const ms = n(fraction.padEnd(3, '0').slice(0, 3)); // a Date holds milliseconds: finer digits are cut
  const d = new Date(0);
  // setUTCFullYear, not Date.UTC: Date.UTC reads years 0-99 as 1900-1999.
  d.setUTCFullYear(n(year), n(month) - 1, n(day));
  d.setUTCHours(n(hour), n(minute), n(second), ms);
  const same =
    d.getUTCFullYear() === n(year) &&
    d.getUTCMonth() === n(month) - 1 &&
    d.getUTCDate() === n(day) &&
    d.getUTCHours() === n(hour) &&
    d.getUTCMinutes() === n(minute) &&
    d.getUTCSeconds() === n(second);
  if (!same || n(offH) > 23 || n(offM) > 59) return null;
  const offset = (sign === '-' ? -1 : 1) * (n(offH) * 60 + n(offM)) * 60_000;
  return new Date(d.getTime() - offset);
}
