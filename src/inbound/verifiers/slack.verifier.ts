import type { VerifyInput, VerifyResult } from '../../interfaces/webhook-verifier.interface.js';
import {
  anySignatureMatches,
  field,
  hmacSha256,
  idField,
  isForm,
  parseJsonOrForm,
  parseUnixSeconds,
  rejected,
  VERIFIED,
  withinTolerance,
  type BuiltInVerifier,
  type SigningInput,
  type WebhookHeaders,
} from './verifier.utils.js';
import { webhookReply, type WebhookReply } from '../webhook-reply.js';

/** Largest body read as a possible `ssl_check` (`ssl_check=1&token=…`) before verification. */
const SSL_CHECK_MAX_BYTES = 512;
const SSL_CHECK_REPLY = webhookReply('');

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

  /**
   * Slack checks a slash command's URL with an unsigned form POST of `ssl_check=1`, answered 200.
   * Only a small form is read, and it is never stored or run, so an unsigned caller learns nothing.
   */
  probe(rawBody: Buffer, headers: WebhookHeaders): WebhookReply | undefined {
    if (rawBody.length > SSL_CHECK_MAX_BYTES || !isForm(headers) || !rawBody.includes('ssl_check=1')) return undefined;
    const fields = new URLSearchParams(rawBody.toString('utf8'));
    return fields.get('ssl_check') === '1' && !fields.has('command') ? SSL_CHECK_REPLY : undefined;
  }

  /** The Events API's `url_verification`: Slack saves the Request URL once its `challenge` comes back. */
  handshake(payload: unknown): WebhookReply | undefined {
    if (field(payload, 'type') !== 'url_verification') return undefined;
    const challenge = field(payload, 'challenge');
    return challenge === undefined ? undefined : webhookReply({ challenge });
  }

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
