import type { VerifyInput, VerifyResult } from '../../interfaces/webhook-verifier.interface.js';
import {
  anySignatureMatches,
  field,
  hmacSha256,
  idField,
  parseJsonOrForm,
  parseUnixSeconds,
  rejected,
  VERIFIED,
  withinTolerance,
  type BuiltInVerifier,
  type SigningInput,
  type WebhookHeaders,
} from './scheme.utils.js';

/**
 * Slack: `X-Slack-Signature: v0=<hex>` of `v0:${X-Slack-Request-Timestamp}:${body}`. Reads
 * Events API JSON (type `event.type`, id `event_id`), slash commands (type `slash_command`,
 * id `trigger_id`) and interactive `payload=` forms (their `type`).
 */
export class SlackVerifier implements BuiltInVerifier {
  readonly name = 'slack';
  readonly keepHeaders = ['x-slack-'];

  verify({ rawBody, headers, secrets, tolerance, now }: VerifyInput): VerifyResult {
    const rawTimestamp = headers['x-slack-request-timestamp'];
    if (!rawTimestamp) return rejected('missing_headers');
    const timestamp = parseUnixSeconds(rawTimestamp);
    if (timestamp === undefined) return rejected('malformed_headers');
    const signature = headers['x-slack-signature'];
    if (!signature) return rejected('missing_signature');
    if (!/^v0=[0-9a-f]{64}$/.test(signature)) return rejected('malformed_signature');
    if (!withinTolerance(timestamp, now, tolerance)) return rejected('timestamp_out_of_tolerance');
    const expected = secrets.map((secret) => hmacSha256(secret, [`v0:${timestamp}:`, rawBody], 'hex'));
    return anySignatureMatches([signature.slice(3)], expected) ? VERIFIED : rejected('signature_mismatch');
  }

  readonly parse = parseJsonOrForm;

  eventType(payload: unknown): string | undefined {
    const type = field(payload, 'type');
    if (type === 'event_callback') return field((payload as { event?: unknown }).event, 'type');
    return type ?? (field(payload, 'command') ? 'slash_command' : undefined);
  }

  eventId(payload: unknown): string | undefined {
    return idField(payload, 'event_id') ?? idField(payload, 'trigger_id');
  }

  sign({ secret, body, timestamp }: SigningInput): Record<string, string> {
    return {
      'x-slack-request-timestamp': String(timestamp),
      'x-slack-signature': `v0=${hmacSha256(secret, [`v0:${timestamp}:`, body], 'hex')}`,
    };
  }
}
