/**
 * What a verifier is given: the exact bytes received and the lower-cased request headers.
 * @publicApi
 */
export interface VerifyInput {
  rawBody: Buffer;
  headers: Record<string, string | undefined>;
  secrets: string[];
  /** Tolerance in seconds for schemes that sign a timestamp. */
  tolerance: number;
  /** Current time in seconds (injected so tests can fake the clock). */
  now: number;
}

/**
 * The reason a verification failed; each maps to a stable problem `code` and status.
 * @publicApi
 */
export type VerifyFailure =
  | 'missing_headers'
  | 'malformed_headers'
  | 'missing_signature'
  | 'malformed_signature'
  | 'signature_mismatch'
  | 'timestamp_out_of_tolerance';

/**
 * Result of a verification: ok, or the failure reason.
 * @publicApi
 */
export type VerifyResult = { ok: true } | { ok: false; reason: VerifyFailure };

/**
 * A signature scheme for inbound webhooks: built-in ones implement it, and so can yours.
 * @publicApi
 */
export interface WebhookVerifier {
  /** Scheme name used in logs. */
  readonly name: string;
  /** Checks the signature of the raw body; must compare secrets in constant time. */
  verify(input: VerifyInput): VerifyResult;
  /** Event type from the parsed payload and headers. */
  eventType(payload: any, headers: Record<string, string | undefined>): string | undefined;
  /**
   * Event id (for deduplication) from the parsed payload and headers. When it returns nothing,
   * the SHA-256 of the raw body stands in, so a resent identical body is still a duplicate.
   */
  eventId?(payload: any, headers: Record<string, string | undefined>): string | undefined;
  /**
   * Turns the verified raw body into the payload handed to handlers; a throw answers 400
   * `invalid_json`. @default JSON.parse of the UTF-8 body
   */
  parse?(rawBody: Buffer, headers: Record<string, string | undefined>): unknown;
  /**
   * Request headers kept in the inbox row and in `ctx.headers`: names, or prefixes ending in
   * `-` (`x-github-`). `content-type` and `user-agent` are always kept; cookies and
   * authorization never are. @default []
   */
  keepHeaders?: readonly string[];
}
