import { createHmac, createSecretKey, type KeyObject } from 'node:crypto';
import { secretKey, signStandard } from '../../signing/standard-webhooks.js';
import type { VerifyInput, VerifyResult } from '../../interfaces/webhook-verifier.interface.js';
import {
  bytesEqual,
  field,
  parseUnixSeconds,
  rejected,
  VERIFIED,
  withinTolerance,
  type BuiltInVerifier,
  type SigningInput,
  type WebhookHeaders,
} from './verifier.utils.js';

/** Decoded keys kept per secret: a source has a few, fixed at boot; the cap only guards misuse. */
const KEY_CACHE_LIMIT = 64;

/**
 * Standard Webhooks (standardwebhooks.com): `webhook-id`, `webhook-timestamp` and a
 * space-separated `webhook-signature` of `v1,<base64>` entries, keyed with `whsec_` secrets.
 * Svix's `svix-*` header names are accepted too. Type from the body's `type`, id from the header.
 */
export class StandardWebhooksVerifier implements BuiltInVerifier {
  readonly name = 'standard';
  readonly keepHeaders = ['webhook-', 'svix-'];
  private readonly keys = new Map<string, KeyObject>();

  verify({ rawBody, headers, secrets, tolerance, now }: VerifyInput): VerifyResult {
    const id = headers['webhook-id'] ?? headers['svix-id'];
    const rawTimestamp = headers['webhook-timestamp'] ?? headers['svix-timestamp'];
    const signature = headers['webhook-signature'] ?? headers['svix-signature'];
    if (!id || !rawTimestamp) return rejected('missing_headers');
    const timestamp = parseUnixSeconds(rawTimestamp);
    if (timestamp === undefined || id.length > 255) return rejected('malformed_headers');
    if (!signature) return rejected('missing_signature');
    // The `v1,` entries, as bytes; other versions are ignored.
    const given: Buffer[] = [];
    for (const entry of signature.split(' '))
      if (entry.length > 3 && entry.startsWith('v1,')) given.push(Buffer.from(entry.slice(3)));
    if (given.length === 0) return rejected('malformed_signature');
    if (!withinTolerance(timestamp, now, tolerance)) return rejected('timestamp_out_of_tolerance');
    // Every entry against every secret, each in constant time, as verifyStandardSignature does.
    const signed = `${id}.${timestamp}.`;
    let match = false;
    for (const secret of secrets) {
      const expected = Buffer.from(
        createHmac('sha256', this.key(secret)).update(signed).update(rawBody).digest('base64'),
      );
      for (const entry of given) match = bytesEqual(entry, expected) || match;
    }
    return match ? VERIFIED : rejected('signature_mismatch');
  }

  eventType(payload: unknown): string | undefined {
    return field(payload, 'type');
  }

  eventId(_payload: unknown, headers: WebhookHeaders): string | undefined {
    return headers['webhook-id'] ?? headers['svix-id'];
  }

  sign({ secret, body, id, timestamp }: SigningInput): Record<string, string> {
    return {
      'webhook-id': id,
      'webhook-timestamp': String(timestamp),
      'webhook-signature': signStandard(secret, id, timestamp, body),
    };
  }

  /** The HMAC key of a `whsec_` secret, decoded once. */
  private key(secret: string): KeyObject {
    let key = this.keys.get(secret);
    if (!key) {
      if (this.keys.size >= KEY_CACHE_LIMIT) this.keys.clear();
      this.keys.set(secret, (key = createSecretKey(secretKey(secret))));
    }
    return key;
  }
}
