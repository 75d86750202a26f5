import { signStandard, verifyStandardSignature } from '../../signing/standard-webhooks.js';
import type { VerifyInput, VerifyResult } from '../../interfaces/webhook-verifier.interface.js';
import {
  field,
  parseUnixSeconds,
  rejected,
  VERIFIED,
  withinTolerance,
  type BuiltInVerifier,
  type SigningInput,
  type WebhookHeaders,
} from './scheme.utils.js';

/**
 * Standard Webhooks (standardwebhooks.com): `webhook-id`, `webhook-timestamp` and a
 * space-separated `webhook-signature` of `v1,<base64>` entries, keyed with `whsec_` secrets.
 * Svix's `svix-*` header names are accepted too. Type from the body's `type`, id from the header.
 */
export class StandardWebhooksVerifier implements BuiltInVerifier {
  readonly name = 'standard';
  readonly keepHeaders = ['webhook-', 'svix-'];

  verify({ rawBody, headers, secrets, tolerance, now }: VerifyInput): VerifyResult {
    const id = headers['webhook-id'] ?? headers['svix-id'];
    const rawTimestamp = headers['webhook-timestamp'] ?? headers['svix-timestamp'];
    const signature = headers['webhook-signature'] ?? headers['svix-signature'];
    if (!id || !rawTimestamp) return rejected('missing_headers');
    const timestamp = parseUnixSeconds(rawTimestamp);
    if (timestamp === undefined || id.length > 255) return rejected('malformed_headers');
    if (!signature) return rejected('missing_signature');
    if (!signature.split(' ').some((entry) => /^v1,./.test(entry))) return rejected('malformed_signature');
    if (!withinTolerance(timestamp, now, tolerance)) return rejected('timestamp_out_of_tolerance');
    return verifyStandardSignature(signature, secrets, id, timestamp, rawBody) ? VERIFIED : rejected('signature_mismatch');
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
}
