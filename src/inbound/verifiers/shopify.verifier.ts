import type { VerifyInput, VerifyResult } from '../../interfaces/webhook-verifier.interface.js';
import {
  anySignatureMatches,
  hmacSha256,
  rejected,
  VERIFIED,
  type BuiltInVerifier,
  type SigningInput,
  type WebhookHeaders,
} from './verifier.utils.js';

/**
 * Shopify: `X-Shopify-Hmac-Sha256`, the base64 HMAC-SHA256 of the body. The type is the
 * `X-Shopify-Topic` with `/` read as `.` (`orders/create` → `orders.create`); the id is
 * `X-Shopify-Webhook-Id` (or `X-Shopify-Event-Id`).
 */
export class ShopifyVerifier implements BuiltInVerifier {
  readonly name = 'shopify';
  readonly keepHeaders = ['x-shopify-'];

  verify({ rawBody, headers, secrets }: VerifyInput): VerifyResult {
    if (!headers['x-shopify-topic']) return rejected('missing_headers');
    const signature = headers['x-shopify-hmac-sha256'];
    if (!signature) return rejected('missing_signature');
    if (!/^[A-Za-z0-9+/]{43}=$/.test(signature)) return rejected('malformed_signature');
    const expected = secrets.map((secret) => hmacSha256(secret, [rawBody], 'base64'));
    return anySignatureMatches([signature], expected) ? VERIFIED : rejected('signature_mismatch');
  }

  eventType(_payload: unknown, headers: WebhookHeaders): string | undefined {
    return headers['x-shopify-topic']?.replaceAll('/', '.');
  }

  eventId(_payload: unknown, headers: WebhookHeaders): string | undefined {
    return headers['x-shopify-webhook-id'] ?? headers['x-shopify-event-id'];
  }

  sign({ secret, body, id, type }: SigningInput): Record<string, string> {
    return {
      'x-shopify-hmac-sha256': hmacSha256(secret, [body], 'base64'),
      'x-shopify-topic': type.replaceAll('.', '/'),
      'x-shopify-webhook-id': id,
    };
  }
}
