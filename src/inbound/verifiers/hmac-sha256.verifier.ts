import type { VerifyInput, VerifyResult } from '../../interfaces/webhook-verifier.interface.js';
import {
  anySignatureMatches,
  field,
  hmacSha256,
  idField,
  rejected,
  VERIFIED,
  type BuiltInVerifier,
  type SigningInput,
  type WebhookHeaders,
} from './verifier.utils.js';

/** Settings of the generic HMAC scheme (the Django tutorial's `X-Webhook-Signature`). */
export interface HmacSha256Settings {
  /** Lower-cased header carrying the signature. @default 'x-webhook-signature' */
  header: string;
  /** Text before the digest, such as `sha256=`. @default '' */
  prefix: string;
  /** Digest encoding. @default 'hex' */
  encoding: 'hex' | 'base64';
}

const DIGEST = { hex: /^[0-9a-fA-F]{64}$/, base64: /^[A-Za-z0-9+/]{43}=$/ };

/**
 * HMAC-SHA256 of the raw body, hex or base64, in one configurable header, with an optional
 * prefix. No timestamp is signed, so replays are stopped by the inbox alone. Type from the
 * body's `event` or `type`; id from the body's `id` or an `x-webhook-id` header.
 */
export class HmacSha256Verifier implements BuiltInVerifier {
  readonly name = 'hmac-sha256';
  readonly keepHeaders: string[];

  constructor(private readonly settings: HmacSha256Settings) {
    this.keepHeaders = [settings.header, 'x-webhook-id'];
  }

  verify({ rawBody, headers, secrets }: VerifyInput): VerifyResult {
    const { header, prefix, encoding } = this.settings;
    const signature = headers[header];
    if (!signature) return rejected('missing_signature');
    const digest = signature.startsWith(prefix) ? signature.slice(prefix.length) : undefined;
    if (digest === undefined || !DIGEST[encoding].test(digest)) return rejected('malformed_signature');
    const given = encoding === 'hex' ? digest.toLowerCase() : digest;
    const expected = secrets.map((secret) => hmacSha256(secret, [rawBody], encoding));
    return anySignatureMatches([given], expected) ? VERIFIED : rejected('signature_mismatch');
  }

  eventType(payload: unknown): string | undefined {
    return field(payload, 'event') ?? field(payload, 'type');
  }

  eventId(payload: unknown, headers: WebhookHeaders): string | undefined {
    return idField(payload, 'id') ?? headers['x-webhook-id'];
  }

  sign({ secret, body }: SigningInput): Record<string, string> {
    const { header, prefix, encoding } = this.settings;
    return { [header]: prefix + hmacSha256(secret, [body], encoding) };
  }
}
