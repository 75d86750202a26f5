import { unstorable } from '../database/sql.js';
import { IDEMPOTENCY_SCOPE_LENGTH } from '../database/entities/webhook-message.entity.js';
import { WebhookValidationError } from '../errors/webhook-validation.error.js';
import { isValidEventFilter } from '../utils/event-types.js';
import { RESERVED_HEADERS } from '../webhooks.constants.js';
import { messages } from '../webhooks.messages.js';

const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
/** What the HTTP client sends as a header value: tab, visible ASCII and space, and U+0080-U+00FF as one byte each. */
const HEADER_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;
/** Custom headers an endpoint may carry, and their bytes (names and values): a receiver answers 431 past its own limit (16 KiB on Node). */
export const MAX_CUSTOM_HEADERS = 50;
export const MAX_CUSTOM_HEADER_BYTES = 8_192;

/**
 * Headers the HTTP client refuses to send (it manages the connection itself): an endpoint that
 * carried one would fail every attempt.
 */
const CONNECTION_HEADERS = ['keep-alive', 'upgrade', 'expect'];

/**
 * Checks an endpoint URL: absolute http(s) (https only when required), with a port that can be
 * connected to, and nothing the request would drop: no credentials, no fragment.
 */
export function validateUrl(url: unknown, httpsOnly: boolean): string {
  if (typeof url !== 'string' || url.length > 2048)
    throw new WebhookValidationError(
      'url',
      messages.invalidUrl(url, 'a URL string of at most 2048 characters is required'),
    );
  // The URL parser drops or encodes them, but the string is stored as given (see `unstorable`).
  if (/[\u0000-\u001f\u007f]/.test(url) || unstorable(url))
    throw new WebhookValidationError(
      'url',
      messages.invalidUrl(url, 'it contains control characters or unpaired surrogates'),
    );
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new WebhookValidationError('url', messages.invalidUrl(url, 'it is not an absolute URL'));
  }
  if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') {
    throw new WebhookValidationError('url', messages.invalidUrl(url, 'only http and https are allowed'));
  }
  if (httpsOnly && parsed.protocol !== 'https:') {
    throw new WebhookValidationError('url', messages.invalidUrl(url, 'outbound.network.httpsOnly is on: use https'));
  }
  if (parsed.username !== '' || parsed.password !== '') {
    throw new WebhookValidationError(
      'url',
      messages.invalidUrl(
        // Shown without them: the message may reach a log.
        // Up to the last '@' of the authority, as the URL parser reads it ('a@b:c@host').
        url.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^/?#]*@/i, '$1…@'),
        'credentials in a URL are never sent; give them as a header (headers: { Authorization: ... })',
      ),
    );
  }
  if (parsed.hash !== '' || url.includes('#'))
    throw new WebhookValidationError('url', messages.invalidUrl(url, 'a fragment (#...) is never sent; leave it out'));
  if (parsed.port === '0')
    throw new WebhookValidationError('url', messages.invalidUrl(url, 'port 0 cannot be connected to'));
  return url;
}

/** Checks event type filters; an empty list means every event, stored as null. */
export function validateFilters(filters: unknown): string[] | null {
  if (filters === undefined || filters === null) return null;
  if (!Array.isArray(filters)) throw new WebhookValidationError('eventTypes', messages.invalidFilter(filters));
  for (const f of filters)
    if (!isValidEventFilter(f)) throw new WebhookValidationError('eventTypes', messages.invalidFilter(f));
  return filters.length === 0 ? null : [...new Set(filters as string[])];
}

/**
 * Checks custom headers: valid names, values the HTTP client sends (checked here rather than
 * failing every attempt), none that the module sets itself, no name given twice in another case,
 * within {@link MAX_CUSTOM_HEADERS} and {@link MAX_CUSTOM_HEADER_BYTES}.
 */
export function validateHeaders(headers: unknown): Record<string, string> | null {
  if (headers === undefined || headers === null) return null;
  if (typeof headers !== 'object' || Array.isArray(headers))
    throw new WebhookValidationError('headers', messages.invalidHeader(String(headers)));
  const out: Record<string, string> = {};
  const entries = Object.entries(headers);
  let bytes = 0;
  for (const [name, value] of entries) {
    const lower = name.toLowerCase();
    if ((RESERVED_HEADERS as readonly string[]).includes(lower) || lower.startsWith('webhook-')) {
      throw new WebhookValidationError('headers', messages.reservedHeader(name));
    }
    if (CONNECTION_HEADERS.includes(lower))
      throw new WebhookValidationError('headers', messages.connectionHeader(name));
    if (!HEADER_NAME.test(name) || typeof value !== 'string' || !HEADER_VALUE.test(value)) {
      throw new WebhookValidationError('headers', messages.invalidHeader(name));
    }
    if (Object.hasOwn(out, lower)) throw new WebhookValidationError('headers', messages.headerTwice(name));
    // Defined, not assigned: a header named `__proto__` is kept like any other.
    Object.defineProperty(out, lower, { value, enumerable: true, writable: true, configurable: true });
    bytes += name.length + value.length;
  }
  if (entries.length > MAX_CUSTOM_HEADERS || bytes > MAX_CUSTOM_HEADER_BYTES)
    throw new WebhookValidationError('headers', messages.headersTooLarge(MAX_CUSTOM_HEADERS, MAX_CUSTOM_HEADER_BYTES));
  return entries.length ? out : null;
}

/** Checks a `whsec_` secret: base64 of 24 to 64 bytes. */
export function validateSecret(secret: unknown): string {
  if (typeof secret !== 'string' || !secret.startsWith('whsec_'))
    throw new WebhookValidationError('secret', messages.invalidSecret());
  const body = secret.slice(6);
  const bytes = /^[A-Za-z0-9+/]+={0,2}$/.test(body) ? Buffer.from(body, 'base64').length : 0;
  if (bytes < 24 || bytes > 64) throw new WebhookValidationError('secret', messages.invalidSecret());
  return secret;
}

/** Checks an optional description: text without U+0000 or lone surrogates (see `unstorable`), or null. */
export function validateDescription(description: unknown): string | null {
  if (description === undefined || description === null) return null;
  if (typeof description !== 'string' || unstorable(description))
    throw new WebhookValidationError('description', messages.invalidDescription());
  return description;
}

/** Checks an optional customer id or idempotency key. */
export function validateKey(field: 'customerId' | 'idempotencyKey', value: unknown): string | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== 'string' || value === '' || value.length > 255 || unstorable(value)) {
    throw new WebhookValidationError(
      field,
      field === 'customerId' ? messages.invalidCustomerId(value) : messages.invalidIdempotencyKey(value),
    );
  }
  return value;
}

/**
 * The stored scope of an idempotency key: `[customerId, idempotencyKey]` as JSON, so a key is
 * unique per customer. Escaping (quotes, backslashes, control characters) can make it longer
 * than its column even for keys within their own limits: refused here rather than by the database
 * (PostgreSQL counts characters, hence code points; SQLite would store it whole).
 */
export function idempotencyScope(customerId: string | null, idempotencyKey: string | null): string | null {
  if (idempotencyKey === null) return null;
  const scope = JSON.stringify([customerId, idempotencyKey]);
  const chars = scope.length > IDEMPOTENCY_SCOPE_LENGTH ? [...scope].length : scope.length;
  if (chars > IDEMPOTENCY_SCOPE_LENGTH) {
    throw new WebhookValidationError(
      'idempotencyKey',
      `idempotencyKey is too long for this customerId once stored: escaped as JSON, the two take ${chars} ` +
        `characters and at most ${IDEMPOTENCY_SCOPE_LENGTH} fit. Use a shorter key, or fewer quotes, backslashes ` +
        'and control characters.',
    );
  }
  return scope;
}
