import { WebhooksConfigError } from './errors/webhooks-config.error.js';
import type { BuiltInScheme, InboundSourceOptions } from './interfaces/inbound-source.interface.js';
import type {
  InboundOptions,
  NetworkPolicyOptions,
  ObservabilityOptions,
  OutboundOptions,
  ResolvedInboundSource,
  ResolvedWebhooksOptions,
  WebhooksModuleOptions,
} from './interfaces/webhooks-options.interface.js';
import type {
  EventTypeDefinition,
  PortalOptions,
  PortalThemeOptions,
  ResolvedPortalOptions,
} from './interfaces/portal-options.interface.js';
import { isValidEventType } from './utils/event-types.js';
import type { WebhooksModuleExtras } from './webhooks.module-definition.js';
import { secretKey } from './signing/standard-webhooks.js';
import { messages } from './webhooks.messages.js';
import { unknownKey } from './utils/known-keys.js';
import { MAX_TIMER_MS } from './utils/settle.js';
import { MAX_SESSION_TTL_MS } from './webhooks.constants.js';

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;

/**
 * The delivery schedule of the leading senders: now, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h.
 * @publicApi
 */
export const DEFAULT_SCHEDULE = [0, 5 * SECOND, 5 * MINUTE, 30 * MINUTE, 2 * HOUR, 5 * HOUR, 10 * HOUR, 10 * HOUR];

const BUILT_IN_SCHEMES: BuiltInScheme[] = ['standard', 'hmac-sha256', 'stripe', 'github', 'shopify', 'slack'];
const ROLES = ['all', 'emitter', 'worker'];

/*
 * Every option name, level by level. `satisfies` makes the compiler keep these lists equal to the
 * interfaces, so a key added there and forgotten here (or the reverse) fails the build.
 */
const TOP_KEYS = {
  role: 1,
  sqliteWaitMs: 1,
  sqliteCheckpoint: 1,
  outbound: 1,
  inbound: 1,
  observability: 1,
  isGlobal: 1,
  inboundPath: 1,
  eventTypes: 1,
  strictEventTypes: 1,
  portal: 1,
} satisfies Record<keyof (WebhooksModuleOptions & WebhooksModuleExtras), 1>;
const OUTBOUND_KEYS = {
  schedule: 1,
  jitter: 1,
  timeoutMs: 1,
  maxResponseBodyBytes: 1,
  maxPayloadBytes: 1,
  concurrency: 1,
  userAgent: 1,
  retryAfterMaxFactor: 1,
  disableAfterMs: 1,
  relayIntervalMs: 1,
  reconcileIntervalMs: 1,
  publishGatherMs: 1,
  markGatherMs: 1,
  retentionMs: 1,
  network: 1,
} satisfies Record<keyof OutboundOptions, 1>;
const NETWORK_KEYS = { allow: 1, httpsOnly: 1 } satisfies Record<keyof NetworkPolicyOptions, 1>;
const INBOUND_KEYS = {
  path: 1,
  sources: 1,
  mode: 1,
  bodyLimit: 1,
  retentionMs: 1,
  queueAttempts: 1,
  reconcileIntervalMs: 1,
} satisfies Record<keyof InboundOptions, 1>;
const PORTAL_KEYS = {
  path: 1,
  baseUrl: 1,
  guard: 1,
  customerId: 1,
  admin: 1,
  theme: 1,
  frameAncestors: 1,
  sessionTtlMs: 1,
} satisfies Record<keyof PortalOptions, 1>;
const THEME_KEYS = { primaryColor: 1, mode: 1 } satisfies Record<keyof PortalThemeOptions, 1>;
const EVENT_TYPE_KEYS = { name: 1, description: 1, example: 1, schema: 1 } satisfies Record<
  keyof EventTypeDefinition,
  1
>;
const SOURCE_KEYS = {
  scheme: 1,
  secrets: 1,
  tolerance: 1,
  header: 1,
  prefix: 1,
  encoding: 1,
  eventType: 1,
  eventId: 1,
} satisfies Record<keyof InboundSourceOptions, 1>;
const OBSERVABILITY_KEYS = { traceparent: 1, eventTypeLabels: 1 } satisfies Record<keyof ObservabilityOptions, 1>;
/** Source settings that only some schemes read; anywhere else they would be silently ignored. */
const HMAC_ONLY = ['header', 'prefix', 'encoding'] as const;
const UNSIGNED_TIMESTAMP: string[] = ['hmac-sha256', 'github', 'shopify'];

/**
 * Fills every default and validates every field, once, at boot. Throws a
 * {@link WebhooksConfigError} naming the first bad option and what it accepts.
 */
export function resolveWebhooksOptions(raw: WebhooksModuleOptions = {}): ResolvedWebhooksOptions {
  if (raw === null || typeof raw !== 'object') fail('(options)', 'an object', raw);
  knownKeys('', raw, TOP_KEYS);
  const out = section('outbound', raw.outbound, OUTBOUND_KEYS);
  const net = section('outbound.network', out.network, NETWORK_KEYS);
  const inb = section('inbound', raw.inbound, INBOUND_KEYS);
  const obs = section('observability', raw.observability, OBSERVABILITY_KEYS);

  const role = raw.role ?? 'all';
  if (!ROLES.includes(role)) fail('role', `one of ${ROLES.join(', ')}`, role);

  const schedule = out.schedule ?? DEFAULT_SCHEDULE;
  if (!Array.isArray(schedule) || schedule.length === 0 || !schedule.every((d) => isInt(d, 0))) {
    fail('outbound.schedule', 'a non-empty array of delays in milliseconds (integers >= 0)', schedule);
  }
  // The first attempt goes at the commit: a delay there was ignored, silently.
  if (schedule[0] !== 0)
    fail(
      'outbound.schedule',
      'delays whose first entry is 0 (the first attempt is made at once; the later entries are the waits before each retry)',
      schedule,
    );
  const allow = net.allow ?? [];
  if (!Array.isArray(allow) || !allow.every((a) => typeof a === 'string' && a.trim() !== '')) {
    fail('outbound.network.allow', 'an array of CIDRs or host names', allow);
  }

  const resolved: ResolvedWebhooksOptions = {
    role,
    sqliteWaitMs: int('sqliteWaitMs', raw.sqliteWaitMs, 5_000, 1),
    sqliteCheckpoint: oneOf('sqliteCheckpoint', raw.sqliteCheckpoint, 'background', ['background', 'inline']),
    outbound: {
      schedule: [...schedule],
      jitter: num('outbound.jitter', out.jitter, 0.2, 0, 1),
      timeoutMs: timer('outbound.timeoutMs', out.timeoutMs, 15_000, 1),
      maxResponseBodyBytes: int('outbound.maxResponseBodyBytes', out.maxResponseBodyBytes, 4096, 0),
      maxPayloadBytes: int('outbound.maxPayloadBytes', out.maxPayloadBytes, 256 * 1024, 1),
      concurrency: int('outbound.concurrency', out.concurrency, 50, 1),
      userAgent: headerValue('outbound.userAgent', out.userAgent, 'nestjs-webhooks/0.1'),
      retryAfterMaxFactor: num('outbound.retryAfterMaxFactor', out.retryAfterMaxFactor, 2, 0, 1000),
      disableAfterMs: int('outbound.disableAfterMs', out.disableAfterMs, 5 * 24 * HOUR, 1),
      relayIntervalMs: timer('outbound.relayIntervalMs', out.relayIntervalMs, 1000, 10),
      reconcileIntervalMs: timer('outbound.reconcileIntervalMs', out.reconcileIntervalMs, 30_000, 10),
      publishGatherMs: num('outbound.publishGatherMs', out.publishGatherMs, 16, 0, 1_000),
      markGatherMs: num('outbound.markGatherMs', out.markGatherMs, 250, 0, 10_000),
      retentionMs: retention(
        'outbound.retentionMs',
        out.retentionMs,
        'a shorter window forgets idempotency keys and log rows still in use',
      ),
      network: {
        allow: allow.map((a) => a.trim()),
        httpsOnly: bool('outbound.network.httpsOnly', net.httpsOnly, false),
      },
    },
    inbound: {
      path: routePath('inbound.path', inb.path),
      mode: oneOf('inbound.mode', inb.mode, 'sync', ['sync', 'queue']),
      bodyLimit: int('inbound.bodyLimit', inb.bodyLimit, 1024 * 1024, 1),
      queueAttempts: int('inbound.queueAttempts', inb.queueAttempts, 5, 1),
      reconcileIntervalMs: timer('inbound.reconcileIntervalMs', inb.reconcileIntervalMs, 30_000, 10),
      retentionMs: retention(
        'inbound.retentionMs',
        inb.retentionMs,
        'a shorter window forgets calls that senders still retry',
      ),
      sources: resolveSources(inb.sources ?? {}),
    },
    observability: {
      traceparent: bool('observability.traceparent', obs.traceparent, false),
      eventTypeLabels: int('observability.eventTypeLabels', obs.eventTypeLabels, 50, 0),
    },
    eventTypes: resolveEventTypes(raw.eventTypes),
    strictEventTypes: bool('strictEventTypes', raw.strictEventTypes, false),
    portal: raw.portal === undefined ? null : resolvePortal(raw.portal),
  };
  return resolved;
}

/** The catalog: unique, valid exact type names; `example` must have a JSON form (the test event sends it). */
function resolveEventTypes(raw: EventTypeDefinition[] | undefined): EventTypeDefinition[] {
  if (raw === undefined) return [];
  if (!Array.isArray(raw)) fail('eventTypes', 'an array of { name, description?, example?, schema? }', raw);
  const seen = new Set<string>();
  return raw.map((entry, i) => {
    const at = `eventTypes[${i}]`;
    if (entry === null || typeof entry !== 'object')
      fail(at, 'an object { name, description?, example?, schema? }', entry);
    knownKeys(`${at}.`, entry, EVENT_TYPE_KEYS);
    if (!isValidEventType(entry.name)) fail(`${at}.name`, 'an exact event type such as "order.completed"', entry.name);
    if (seen.has(entry.name)) fail(`${at}.name`, 'a name not already in the catalog', entry.name);
    seen.add(entry.name);
    if (entry.description !== undefined && typeof entry.description !== 'string')
      fail(`${at}.description`, 'a string', entry.description);
    // Both are served as JSON by the portal's catalog: a value JSON cannot write would fail there, not here.
    if (
      entry.schema !== undefined &&
      (entry.schema === null ||
        typeof entry.schema !== 'object' ||
        Array.isArray(entry.schema) ||
        !hasJson(entry.schema))
    )
      fail(`${at}.schema`, 'a JSON Schema object that JSON.stringify can write', entry.schema);
    if (entry.example !== undefined && !hasJson(entry.example))
      fail(`${at}.example`, 'a JSON value (JSON.stringify can write it: no cycle, no BigInt)', typeof entry.example);
    return { ...entry };
  });
}

/** The portal: app-auth guard and resolver come together; the admin API needs its guard. */
function resolvePortal(raw: PortalOptions): ResolvedPortalOptions {
  const portal = section('portal', raw, PORTAL_KEYS);
  const theme = section('portal.theme', portal.theme, THEME_KEYS);
  if ((portal.guard === undefined) !== (portal.customerId === undefined)) {
    throw new WebhooksConfigError(messages.portalAppAuthHalf());
  }
  if (portal.guard !== undefined && typeof portal.guard !== 'function')
    fail('portal.guard', 'a guard class', portal.guard);
  if (portal.customerId !== undefined && typeof portal.customerId !== 'function')
    fail('portal.customerId', 'a function (req) => customerId', portal.customerId);
  if (portal.admin !== undefined && (portal.admin === null || typeof portal.admin.guard !== 'function')) {
    throw new WebhooksConfigError(messages.portalAdminWithoutGuard());
  }
  const primaryColor = theme.primaryColor ?? '#4f46e5';
  if (!isHexColour(primaryColor)) fail('portal.theme.primaryColor', 'a CSS hex colour such as "#4f46e5"', primaryColor);
  const baseUrl = portal.baseUrl ?? '';
  if (typeof baseUrl !== 'string' || (baseUrl !== '' && !/^https?:\/\/[^\s#?]+$/.test(baseUrl)))
    fail('portal.baseUrl', 'an absolute http(s) origin and prefix without query or fragment', baseUrl);
  const frameAncestors = portal.frameAncestors ?? ["'self'"];
  if (!Array.isArray(frameAncestors) || !frameAncestors.every((a) => typeof a === 'string' && /^[^\s;,]+$/.test(a)))
    fail(
      'portal.frameAncestors',
      'an array of CSP sources such as "\'self\'" or "https://app.example.com"',
      frameAncestors,
    );
  return {
    path: urlPath('portal.path', portal.path, 'webhooks/portal'),
    baseUrl: baseUrl.replace(/\/+$/, ''),
    guard: portal.guard ?? null,
    customerId: portal.customerId ?? null,
    admin: portal.admin ? { guard: portal.admin.guard } : null,
    theme: { primaryColor, mode: oneOf('portal.theme.mode', theme.mode, 'auto', ['light', 'dark', 'auto']) },
    frameAncestors: [...frameAncestors],
    sessionTtlMs: sessionTtl(portal.sessionTtlMs),
  };
}

/** `#RGB` or `#RRGGBB`: the only colours let into the page's inline style. */
export function isHexColour(v: unknown): v is string {
  return typeof v === 'string' && /^#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})$/.test(v);
}

function resolveSources(sources: Record<string, InboundSourceOptions>): Record<string, ResolvedInboundSource> {
  if (typeof sources !== 'object' || sources === null) fail('inbound.sources', 'an object of sources by name', sources);
  const resolved: Record<string, ResolvedInboundSource> = {};
  for (const [name, source] of Object.entries(sources)) {
    const at = `inbound.sources.${name}`;
    if (!/^[A-Za-z0-9_-]+$/.test(name)) fail(at, 'a name of [A-Za-z0-9_-] (it is a URL segment)', name);
    if (!source || typeof source !== 'object') fail(at, 'an object with scheme and secrets', hidden(source));
    knownKeys(`${at}.`, source, SOURCE_KEYS);
    const { scheme } = source;
    const custom = typeof scheme === 'object' && scheme !== null && typeof scheme.verify === 'function';
    if (!custom && !BUILT_IN_SCHEMES.includes(scheme as BuiltInScheme)) {
      fail(`${at}.scheme`, `one of ${BUILT_IN_SCHEMES.join(', ')} or a WebhookVerifier`, scheme);
    }
    const secrets = source.secrets;
    if (!Array.isArray(secrets) || secrets.length === 0) {
      fail(`${at}.secrets`, 'a non-empty array of non-empty strings', Array.isArray(secrets) ? '[]' : hidden(secrets));
    }
    // Named by index: an unset environment variable shows as the entry it left empty.
    for (const [i, secret] of secrets.entries()) {
      if (typeof secret !== 'string' || secret === '')
        fail(
          `${at}.secrets[${i}]`,
          'a non-empty string (is its environment variable set?)',
          secret === '' || secret == null ? secret : hidden(secret),
        );
    }
    checkSchemeSettings(at, source);
    resolved[name] = { ...source, name, tolerance: int(`${at}.tolerance`, source.tolerance, 300, 1) };
  }
  return resolved;
}

/** Scheme-specific settings: `whsec_` secrets for `standard`, header shape for `hmac-sha256`. */
function checkSchemeSettings(at: string, source: InboundSourceOptions): void {
  if (source.scheme === 'standard') {
    for (const [i, secret] of source.secrets.entries()) {
      let valid = secret.startsWith('whsec_');
      try {
        secretKey(secret);
      } catch {
        valid = false;
      }
      if (!valid) fail(`${at}.secrets[${i}]`, 'a Standard Webhooks secret: "whsec_" and non-empty base64', '(hidden)');
    }
  }
  for (const key of HMAC_ONLY) {
    if (source[key] !== undefined && source.scheme !== 'hmac-sha256') {
      throw new WebhooksConfigError(
        messages.optionNotForScheme(`${at}.${key}`, 'is read by the hmac-sha256 scheme only', schemeName(source)),
      );
    }
  }
  if (source.tolerance !== undefined && UNSIGNED_TIMESTAMP.includes(source.scheme as string)) {
    throw new WebhooksConfigError(
      messages.optionNotForScheme(
        `${at}.tolerance`,
        'applies to schemes that sign a timestamp (standard, stripe, slack, custom verifiers)',
        schemeName(source),
      ),
    );
  }
  if (source.scheme === 'hmac-sha256') {
    if (source.header !== undefined && (typeof source.header !== 'string' || !/^[A-Za-z0-9-]+$/.test(source.header)))
      fail(`${at}.header`, 'an HTTP header name', source.header);
    if (source.prefix !== undefined && typeof source.prefix !== 'string')
      fail(`${at}.prefix`, 'a string', source.prefix);
    oneOf(`${at}.encoding`, source.encoding, 'hex', ['hex', 'base64']);
  }
  if (
    typeof source.scheme === 'object' &&
    typeof source.scheme.eventType !== 'function' &&
    typeof source.eventType !== 'function'
  ) {
    fail(
      `${at}.scheme`,
      'a WebhookVerifier with eventType(), or a source eventType function',
      'a verifier without eventType',
    );
  }
  for (const key of ['eventType', 'eventId'] as const) {
    if (source[key] !== undefined && typeof source[key] !== 'function')
      fail(`${at}.${key}`, 'a function (payload, headers) => string', source[key]);
  }
}

/** A retention window: 0 (keep every row) or at least a day. */
function retention(path: string, v: unknown, why: string): number {
  if (v === undefined) return 30 * 24 * HOUR;
  if (v !== 0 && !isInt(v, 24 * HOUR))
    fail(path, `0 (keep every row) or an integer >= ${24 * HOUR} (one day: ${why})`, v);
  return v as number;
}

/** The inbound route prefix without surrounding slashes (`inbound.path`, or `inboundPath` with forRootAsync). */
export function routePath(option: string, v: unknown): string {
  return urlPath(option, v, 'webhooks');
}

/**
 * A route prefix without surrounding slashes. Segments of RFC 3986's unreserved characters only:
 * the router would read `:` and `*` as parameters, `?` and `#` never reach a route, and `.` / `..`
 * segments are resolved away by clients.
 */
function urlPath(option: string, v: unknown, def: string): string {
  const path = str(option, v, def).replace(/^\/+|\/+$/g, '');
  const bad = path.split('/').find((s) => !/^[A-Za-z0-9._~-]+$/.test(s) || s === '.' || s === '..');
  if (path !== '' && bad !== undefined)
    fail(
      option,
      'a URL path whose segments hold only letters, digits and . _ ~ - (such as "webhooks" or "api/hooks")',
      v,
    );
  return path;
}

/** A header value the HTTP client will send: printable ASCII, spaces and tabs. */
function headerValue(option: string, v: unknown, def: string): string {
  const value = str(option, v, def);
  if (!/^[\x20-\x7e\t]+$/.test(value)) fail(option, 'a header value of printable ASCII characters', v);
  return value;
}

/** An optional nested section: absent is `{}`, anything but a plain object is refused, its keys are checked. */
function section<T extends object>(path: string, v: T | undefined, keys: Record<string, 1>): T {
  if (v === undefined) return {} as T;
  if (v === null || typeof v !== 'object' || Array.isArray(v)) fail(path, 'an object', v);
  knownKeys(`${path}.`, v, keys);
  return v;
}

/** Refuses a key the module does not read (see known-keys.ts). */
function knownKeys(prefix: string, v: object, keys: Record<string, 1>): void {
  const known = Object.keys(keys);
  const unknown = unknownKey(v, known);
  if (unknown)
    throw new WebhooksConfigError(messages.unknownOption(`${prefix}${unknown.key}`, unknown.suggestion, known));
}

/** What a value that may hold a secret is, without a character of it: boot errors end up in logs. */
function hidden(value: unknown): string {
  if (value === null || value === undefined) return String(value);
  return `a ${Array.isArray(value) ? 'array' : typeof value} (hidden)`;
}

function schemeName(source: InboundSourceOptions): string {
  return typeof source.scheme === 'string' ? source.scheme : 'a custom verifier';
}

/** Whether `JSON.stringify` writes `v` (not undefined, no throw: cycles, BigInt, a throwing toJSON). */
function hasJson(v: unknown): boolean {
  try {
    return JSON.stringify(v) !== undefined;
  } catch {
    return false;
  }
}

function fail(path: string, allowed: string, got: unknown): never {
  throw new WebhooksConfigError(messages.invalidOption(path, allowed, got));
}
function isInt(v: unknown, min: number): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= min;
}
function int(path: string, v: unknown, def: number, min: number): number {
  if (v === undefined) return def;
  if (!isInt(v, min)) fail(path, `an integer >= ${min}`, v);
  return v;
}
/** `portal.sessionTtlMs`: a second to 100 years, so that every expiry is a date databases keep. */
function sessionTtl(v: unknown): number {
  if (v === undefined) return 60 * MINUTE;
  if (!isInt(v, 1000) || v > MAX_SESSION_TTL_MS)
    fail('portal.sessionTtlMs', `an integer from 1000 to ${MAX_SESSION_TTL_MS} ms (100 years)`, v);
  return v;
}
/** An option that sets a timer: an integer no longer than Node's longest timer. */
function timer(path: string, v: unknown, def: number, min: number): number {
  if (v === undefined) return def;
  if (!isInt(v, min) || v > MAX_TIMER_MS) fail(path, messages.timerRange(min), v);
  return v;
}
function num(path: string, v: unknown, def: number, min: number, max: number): number {
  if (v === undefined) return def;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max)
    fail(path, `a number from ${min} to ${max}`, v);
  return v;
}
function str(path: string, v: unknown, def: string): string {
  if (v === undefined) return def;
  if (typeof v !== 'string' || v.trim() === '') fail(path, 'a non-empty string', v);
  return v;
}
function bool(path: string, v: unknown, def: boolean): boolean {
  if (v === undefined) return def;
  if (typeof v !== 'boolean') fail(path, 'true or false', v);
  return v;
}
function oneOf<T extends string>(path: string, v: unknown, def: T, allowed: T[]): T {
  if (v === undefined) return def;
  if (!allowed.includes(v as T)) fail(path, `one of ${allowed.join(', ')}`, v);
  return v as T;
}
