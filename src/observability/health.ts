// `nestjs-webhooks/health`: the @nestjs/terminus health indicator, in an entry of its own so that
// the main entry never loads @nestjs/terminus (an optional peer).
import { Injectable } from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import { HealthIndicatorService, type HealthIndicatorResult } from '@nestjs/terminus';
import { WebhooksConfigError } from '../errors/webhooks-config.error.js';
import { MAX_TIMER_MS } from '../utils/settle.js';
import { messages } from '../webhooks.messages.js';
import { WebhooksProbe } from './webhooks.probe.js';

/**
 * When {@link WebhooksHealthIndicator} reports `down`; every field is optional.
 * @publicApi
 */
export interface WebhooksHealthThresholds {
  /** Longest wait of a due delivery for a worker. @default 300000 (5 min) */
  maxBacklogAgeMs?: number;
  /** Most pending deliveries (due or waiting for a retry). @default Infinity */
  maxPending?: number;
  /** Longest wait of a committed delivery to reach the queue. @default 60000 (1 min) */
  maxRelayLagMs?: number;
  /** How long an inbox row may stay `received` (claimed, handlers not done) before it counts as stuck. @default 300000 (5 min) */
  inboxStuckAfterMs?: number;
  /** Most stuck inbox rows. @default 0 */
  maxStuckInbox?: number;
  /** How long each of Redis, the database and the backlog query may take to answer. @default 3000 */
  timeoutMs?: number;
}

const DEFAULTS: Required<WebhooksHealthThresholds> = {
  maxBacklogAgeMs: 300_000,
  maxPending: Infinity,
  maxRelayLagMs: 60_000,
  inboxStuckAfterMs: 300_000,
  maxStuckInbox: 0,
  timeoutMs: 3_000,
};

/**
 * A @nestjs/terminus health indicator for the module: Redis reachable, database reachable and
 * migrated, delivery backlog and its oldest due age, relay lag, inbox rows stuck in `received`.
 * `down` carries the `reason`. Provide it beside `TerminusModule` in any module of an app that
 * imports `WebhooksModule`.
 * @example
 * ```ts
 * @Get('health') @HealthCheck()
 * check() { return this.health.check([() => this.webhooks.isHealthy('webhooks', { maxBacklogAgeMs: 60_000 })]); }
 * ```
 * @publicApi
 */
@Injectable()
export class WebhooksHealthIndicator {
  constructor(
    private readonly health: HealthIndicatorService,
    private readonly moduleRef: ModuleRef,
  ) {}

  async isHealthy<const Key extends string = 'webhooks'>(
    key: Key = 'webhooks' as Key,
    thresholds: WebhooksHealthThresholds = {},
  ): Promise<HealthIndicatorResult<Key>> {
    const limits = resolveThresholds(thresholds);
    const indicator = this.health.check(key);
    // Found wherever WebhooksModule is, so the indicator can be provided in the app's health module.
    const probe = this.moduleRef.get(WebhooksProbe, { strict: false });
    const [redis, database] = await Promise.all([probe.redis(limits.timeoutMs), probe.database(limits.timeoutMs)]);
    const reasons = [redis, database].filter((r): r is string => r !== null);
    const data: Record<string, unknown> = { redis: redis ? 'down' : 'up', database: database ? 'down' : 'up' };
    if (!database) {
      try {
        const backlog = await probe.backlog(limits.inboxStuckAfterMs, limits.timeoutMs);
        Object.assign(data, backlog);
        reasons.push(...overLimits(backlog, limits));
      } catch (err) {
        reasons.push(`the backlog query failed: ${(err as Error).message}`);
      }
    }
    return reasons.length > 0 ? indicator.down({ reason: reasons.join('; '), ...data }) : indicator.up(data);
  }
}

function overLimits(
  backlog: Awaited<ReturnType<WebhooksProbe['backlog']>>,
  limits: Required<WebhooksHealthThresholds>,
): string[] {
  const reasons: string[] = [];
  if (backlog.oldestDueAgeMs > limits.maxBacklogAgeMs)
    reasons.push(`the oldest due delivery has waited ${backlog.oldestDueAgeMs} ms (limit ${limits.maxBacklogAgeMs})`);
  if (backlog.pending > limits.maxPending)
    reasons.push(`${backlog.pending} deliveries are pending (limit ${limits.maxPending})`);
  if (backlog.relayLagMs > limits.maxRelayLagMs)
    reasons.push(
      `a committed delivery has waited ${backlog.relayLagMs} ms for the queue (limit ${limits.maxRelayLagMs})`,
    );
  if (backlog.stuckInbox > limits.maxStuckInbox)
    reasons.push(
      `${backlog.stuckInbox} inbox rows are still received after ${limits.inboxStuckAfterMs} ms (limit ${limits.maxStuckInbox})`,
    );
  return reasons;
}

function resolveThresholds(given: WebhooksHealthThresholds): Required<WebhooksHealthThresholds> {
  if (given === null || typeof given !== 'object' || Array.isArray(given))
    throw new WebhooksConfigError(messages.healthThreshold('(thresholds)', given, 'an object of thresholds'));
  for (const [name, value] of Object.entries(given)) {
    if (!(name in DEFAULTS)) throw new WebhooksConfigError(messages.healthThreshold(name, value, 'a known threshold'));
    if (value !== undefined && (typeof value !== 'number' || Number.isNaN(value) || value < 0))
      throw new WebhooksConfigError(messages.healthThreshold(name, value, 'a number >= 0'));
    // A timer: Infinity or 0 would fire at once and report every check down.
    if (
      name === 'timeoutMs' &&
      value !== undefined &&
      !(Number.isSafeInteger(value) && value >= 1 && value <= MAX_TIMER_MS)
    )
      throw new WebhooksConfigError(messages.healthThreshold(name, value, messages.timerRange(1)));
  }
  return { ...DEFAULTS, ...Object.fromEntries(Object.entries(given).filter(([, v]) => v !== undefined)) };
}
