import type { VerifyInput, VerifyResult } from '../../interfaces/webhook-verifier.interface.js';
import {
  anySignatureMatches,
  field,
  hmacSha256,
  parseJsonOrForm,
  rejected,
  VERIFIED,
  type BuiltInVerifier,
  type SigningInput,
  type WebhookHeaders,
} from './verifier.utils.js';

/**
 * GitHub: `X-Hub-Signature-256: sha256=<hex>` of the body. The type is the `X-GitHub-Event`
 * header plus the body's `action` (`pull_request.opened`); the id is `X-GitHub-Delivery`.
 * Both JSON and form-encoded (`payload=`) deliveries are read.
 */
export class GitHubVerifier implements BuiltInVerifier {
  readonly name = 'github';
  readonly keepHeaders = ['x-github-', 'x-hub-signature-256'];

  verify({ rawBody, headers, secrets }: VerifyInput): VerifyResult {
    if (!headers['x-github-event'] || !headers['x-github-delivery']) return rejected('missing_headers');
    const signature = headers['x-hub-signature-256'];
    if (!signature) return rejected('missing_signature');
    if (!/^sha256=[0-9a-fA-F]{64}$/.test(signature)) return rejected('malformed_signature');
    const expected = secrets.map((secret) => hmacSha256(secret, [rawBody], 'hex'));
    return anySignatureMatches([signature.slice(7).toLowerCase()], expected)
      ? VERIFIED
      : rejected('signature_mismatch');
  }

  readonly parse = parseJsonOrForm;

  eventType(payload: unknown, headers: WebhookHeaders): string | undefined {
    const event = headers['x-github-event'];
    const action = field(payload, 'action');
    return event && action ? `${event}.${action}` : event;
  }

  eventId(_payload: unknown, headers: WebhookHeaders): string | undefined {
    return headers['x-github-delivery'];
  }

  sign({ secret, body, id, type }: SigningInput): Record<string, string> {
    return {
      'x-hub-signature-256': `sha256=${hmacSha256(secret, [body], 'hex')}`,
      'x-github-event': type.split('.')[0],
      'x-github-delivery': id,
    };
  }
}
