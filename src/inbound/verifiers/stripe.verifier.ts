import type { VerifyInput, VerifyResult } from '../../interfaces/webhook-verifier.interface.js';
import {
  anySignatureMatches,
  field,
  hmacSha256,
  idField,
  parseUnixSeconds,
  rejected,
  VERIFIED,
  withinTolerance,
  type BuiltInVerifier,
  type SigningInput,
} from './verifier.utils.js';

/**
 * Stripe: `Stripe-Signature: t=<unix>,v1=<hex>[,v1=…]`, the hex HMAC-SHA256 of `${t}.${body}`
 * keyed with the whole `whsec_…` string (Stripe does not decode it). Type and id from the body.
 */
export class StripeVerifier implements BuiltInVerifier {
  readonly name = 'stripe';
  readonly keepHeaders = ['stripe-signature'];

  verify({ rawBody, headers, secrets, tolerance, now }: VerifyInput): VerifyResult {
    const header = headers['stripe-signature'];
    if (!header) return rejected('missing_signature');
    const pairs = header.split(',').map((part) => part.trim().split('='));
    const timestamp = parseUnixSeconds(pairs.find(([k]) => k === 't')?.[1]);
    const given = pairs.filter(([k, v]) => k === 'v1' && /^[0-9a-f]{64}$/.test(v ?? '')).map(([, v]) => v);
    if (timestamp === undefined || given.length === 0) return rejected('malformed_signature');
    if (!withinTolerance(timestamp, now, tolerance)) return rejected('timestamp_out_of_tolerance');
    const expected = secrets.map((secret) => hmacSha256(secret, [`${timestamp}.`, rawBody], 'hex'));
    return anySignatureMatches(given, expected) ? VERIFIED : rejected('signature_mismatch');
  }

  eventType(payload: unknown): string | undefined {
    return field(payload, 'type');
  }

  eventId(payload: unknown): string | undefined {
    return idField(payload, 'id');
  }

  sign({ secret, body, timestamp }: SigningInput): Record<string, string> {
    return { 'stripe-signature': `t=${timestamp},v1=${hmacSha256(secret, [`${timestamp}.`, body], 'hex')}` };
  }
}
