import { createHmac, timingSafeEqual } from 'node:crypto';
import { isUtf8 } from 'node:buffer';
import { NotUtf8Error } from '../../errors/not-utf8.error.js';
import { inboundMessages } from '../inbound.messages.js';
import { constantTimeEqual } from '../../signing/constant-time.js';
import type { VerifyFailure, VerifyResult, WebhookVerifier } from '../../interfaces/webhook-verifier.interface.js';
import type { WebhookReply } from '../webhook-reply.js';

/** Lower-cased request headers, as verifiers and extractors see them. */
export type WebhookHeaders = Record<string, string | undefined>;

/** What a built-in scheme needs to sign a request (the testing kit and the unit tests). */
export interface SigningInput {
  secret: string;
  body: Buffer;
  /** Event id, for schemes that carry it in a header. */
  id: string;
  /** Unix seconds, for schemes that sign a timestamp. */
  timestamp: number;
  /** Event type, for schemes that carry it in a header (GitHub, Shopify). */
  type: string;
}

/** A built-in scheme: verifies, and can also sign (for tests and the testing kit). */
export interface BuiltInVerifier extends WebhookVerifier {
  /** Every built-in scheme knows where its senders put the event id. */
  eventId(payload: unknown, headers: WebhookHeaders): string | undefined;
  /** The headers a sender of this scheme would add to `input.body`. */
  sign(input: SigningInput): Record<string, string>;
  /**
   * The answer to an unsigned check the provider makes of the endpoint (Slack's `ssl_check`),
   * given before verification; such a call is never stored or dispatched.
   */
  probe?(rawBody: Buffer, headers: WebhookHeaders): WebhookReply | undefined;
  /**
   * The answer to a verified call that is the provider's handshake, not an event (Slack's
   * `url_verification`); such a call is never stored or dispatched.
   */
  handshake?(payload: unknown, headers: WebhookHeaders): WebhookReply | undefined;
}

/** The successful {@link VerifyResult}. */
export const VERIFIED: VerifyResult = { ok: true };

/** A failed {@link VerifyResult}. */
export function rejected(reason: VerifyFailure): VerifyResult {
  return { ok: false, reason };
}

/** HMAC-SHA256 of the concatenated parts. */
export function hmacSha256(key: string | Buffer, parts: (string | Buffer)[], encoding: 'hex' | 'base64'): string {
  const mac = createHmac('sha256', key);
  for (const part of parts) mac.update(part);
  return mac.digest(encoding);
}

/**
 * True when any given signature equals any expected one. Every pair is compared, in constant
 * time, so neither the position of a match nor the number of secrets shows in the timing.
 */
export function anySignatureMatches(given: string[], expected: string[]): boolean {
  let match = false;
  for (const e of expected) for (const g of given) match = constantTimeEqual(g, e) || match;
  return match;
}

/**
 * Constant-time equality of a received signature and an expected one, both as bytes. Only the
 * length, which every sender of the scheme knows (a digest's encoded length), can end it early.
 */
export function bytesEqual(given: Buffer, expected: Buffer): boolean {
  return given.length === expected.length && timingSafeEqual(given, expected);
}

/** Unix seconds from a header: digits only, or undefined. */
export function parseUnixSeconds(value: string | undefined): number | undefined {
  if (value === undefined || !/^\d{1,12}$/.test(value)) return undefined;
  return Number(value);
}

/** Is a signed timestamp within `tolerance` seconds of `now`, in either direction? */
export function withinTolerance(timestamp: number, now: number, tolerance: number): boolean {
  return Math.abs(now - timestamp) <= tolerance;
}

/**
 * The body as text, for the parsers that read JSON or forms (both UTF-8 by their specs). Bytes
 * that are not UTF-8 are refused, not decoded: decoding would turn them into U+FFFD and hand the
 * handlers data other than what the sender signed.
 */
export function utf8Text(rawBody: Buffer): string {
  if (!isUtf8(rawBody)) throw new NotUtf8Error(inboundMessages.notUtf8());
  return rawBody.toString('utf8');
}

/**
 * The fields of a form body (`utf8Text`'s text). A form's percent-escapes stand for UTF-8 bytes
 * too: escapes of other bytes (`caf%E9`, latin1) are refused rather than decoded to U+FFFD. Each
 * run of escapes is checked alone, which is enough: the text around it is whole characters.
 */
export function formFields(text: string): URLSearchParams {
  if (text.includes('%'))
    for (const [run] of text.matchAll(/(?:%[0-9a-f]{2})+/gi))
      if (!isUtf8(Buffer.from(run.replaceAll('%', ''), 'hex'))) throw new NotUtf8Error(inboundMessages.formNotUtf8());
  return new URLSearchParams(text);
}

/** The default payload parser: the UTF-8 body as JSON. */
export function parseJsonBody(rawBody: Buffer): unknown {
  return JSON.parse(utf8Text(rawBody));
}

/**
 * A JSON body, or an `application/x-www-form-urlencoded` one as an object whose `payload=`
 * field, when present, holds the JSON (GitHub's form deliveries, Slack's interactions).
 */
export function parseJsonOrForm(rawBody: Buffer, headers: WebhookHeaders): unknown {
  if (!isForm(headers)) return parseJsonBody(rawBody);
  const fields = Object.fromEntries(formFields(utf8Text(rawBody)));
  return typeof fields.payload === 'string' ? JSON.parse(fields.payload) : fields;
}

/** Is the body `application/x-www-form-urlencoded`? */
export function isForm(headers: WebhookHeaders): boolean {
  return (headers['content-type'] ?? '').toLowerCase().startsWith('application/x-www-form-urlencoded');
}

/** A string property of a parsed payload, or undefined. */
export function field(payload: unknown, key: string): string | undefined {
  const value = payload !== null && typeof payload === 'object' ? (payload as Record<string, unknown>)[key] : undefined;
  return typeof value === 'string' && value !== '' ? value : undefined;
}

/**
 * An event id as the inbox keys it: a non-empty string, or an integer as its decimal form (some
 * senders number their events). An integer past 2^53 was already rounded by JSON.parse, so two
 * events could share it: it is not used, and the caller's fallback (a header, the body's hash) is.
 */
export function eventIdText(value: unknown): string | undefined {
  if (typeof value === 'string') return value === '' ? undefined : value;
  return Number.isSafeInteger(value) ? String(value) : undefined;
}

/** An id property of a parsed payload, as {@link eventIdText} reads it. */
export function idField(payload: unknown, key: string): string | undefined {
  if (payload === null || typeof payload !== 'object') return undefined;
  return eventIdText((payload as Record<string, unknown>)[key]);
}
