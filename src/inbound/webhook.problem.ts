import { HttpException } from '@nestjs/common';
import type { VerifyFailure } from '../interfaces/webhook-verifier.interface.js';

/**
 * The stable `code` of every inbound error answer.
 * @publicApi
 */
export type WebhookProblemCode =
  | VerifyFailure
  | 'unknown_source'
  | 'payload_too_large'
  | 'unsupported_media_type'
  | 'raw_body_missing'
  | 'invalid_json'
  | 'invalid_event_type'
  | 'unstorable_event'
  | 'handler_failed'
  | 'verifier_failed'
  | 'inbox_unavailable';

/** Status and title of each code: the answers table of docs/inbound.md. */
export const PROBLEMS: Record<WebhookProblemCode, { status: number; title: string }> = {
  unknown_source: { status: 404, title: 'Unknown webhook source' },
  payload_too_large: { status: 413, title: 'Webhook body too large' },
  unsupported_media_type: { status: 415, title: 'Webhook body not readable' },
  missing_headers: { status: 400, title: 'Missing webhook header' },
  malformed_headers: { status: 400, title: 'Malformed webhook header' },
  invalid_json: { status: 400, title: 'Invalid webhook payload' },
  invalid_event_type: { status: 400, title: 'Invalid webhook event type' },
  unstorable_event: { status: 422, title: 'Webhook event not storable' },
  missing_signature: { status: 401, title: 'Missing webhook signature' },
  malformed_signature: { status: 401, title: 'Malformed webhook signature' },
  signature_mismatch: { status: 401, title: 'Invalid webhook signature' },
  timestamp_out_of_tolerance: { status: 401, title: 'Webhook timestamp out of tolerance' },
  handler_failed: { status: 500, title: 'Webhook handler failed' },
  verifier_failed: { status: 500, title: 'Webhook verifier failed' },
  raw_body_missing: { status: 500, title: 'Webhook receiver unavailable' },
  inbox_unavailable: { status: 503, title: 'Webhook inbox unavailable' },
};

/** An RFC 9457 problem body, as every inbound error is answered. */
export interface ProblemBody {
  type: string;
  title: string;
  status: number;
  code: WebhookProblemCode;
  detail: string;
}

/** An inbound error answer; the controller's filter writes it as `application/problem+json`. */
export class WebhookProblem extends HttpException {
  readonly body: ProblemBody;

  constructor(
    readonly code: WebhookProblemCode,
    detail: string,
    /** Extra response headers, such as `Retry-After`. */
    readonly headers: Record<string, string> = {},
  ) {
    const { status, title } = PROBLEMS[code];
    super(detail, status);
    this.body = { type: `urn:nestjs-webhooks:problem:${code}`, title, status, code, detail };
  }
}
