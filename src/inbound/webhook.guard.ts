import { Inject, Injectable, Logger, type CanActivate, type ExecutionContext } from '@nestjs/common';
import type { Context } from '@opentelemetry/api';
import { WebhookTelemetry } from '../observability/webhook-telemetry.js';
import type { ResolvedWebhooksOptions } from '../interfaces/webhooks-options.interface.js';
import { WEBHOOKS_OPTIONS } from '../webhooks.constants.js';
import { inboundMessages, verifyFailureDetails } from './inbound.messages.js';
import { InboundSource, InboundSources } from './inbound.sources.js';
import { ADAPTER_BODY_LIMIT, ADAPTER_UNDECODABLE } from './parse-failure.passthrough.js';
import type { WebhookHeaders } from './verifiers/verifier.utils.js';
import { WebhookProblem, type WebhookProblemCode } from './webhook.problem.js';
import type { WebhookReply } from './webhook-reply.js';

/** What the guard leaves on the request for the controller: a call whose signature is good. */
export interface VerifiedWebhook {
  source: InboundSource;
  rawBody: Buffer;
  headers: WebhookHeaders;
  receivedAt: Date;
  /** The inbound call's trace context, which its handlers run in (none while nothing traces or counts). */
  trace: Context | undefined;
}

/** Request property holding the {@link VerifiedWebhook}. */
export const VERIFIED_WEBHOOK = Symbol('VERIFIED_WEBHOOK');
/** Request property holding the answer to a provider's unsigned check of the endpoint (never stored). */
export const UNSIGNED_REPLY = Symbol('UNSIGNED_REPLY');

type WebhookRequest = {
  params?: Record<string, string>;
  headers: Record<string, string | string[] | undefined>;
  rawBody?: unknown;
  body?: unknown;
  ip?: string;
  [ADAPTER_BODY_LIMIT]?: number;
  [ADAPTER_UNDECODABLE]?: string;
  [VERIFIED_WEBHOOK]?: VerifiedWebhook;
  [UNSIGNED_REPLY]?: WebhookReply;
};

/**
 * First hop of a webhook: finds the source, takes the raw body, checks its size and verifies its
 * signature. Nothing is parsed or stored before this passes; a rejection is logged (no body).
 * The one exception is a provider's unsigned check of the endpoint (Slack's `ssl_check`), which
 * the scheme recognises in a small body and answers: it is never stored or dispatched.
 */
@Injectable()
export class WebhookGuard implements CanActivate {
  private readonly logger = new Logger(WebhookGuard.name);

  constructor(
    private readonly sources: InboundSources,
    @Inject(WEBHOOKS_OPTIONS) private readonly options: ResolvedWebhooksOptions,
    private readonly telemetry: WebhookTelemetry,
  ) {}

  canActivate(context: ExecutionContext): boolean {
    const req = context.switchToHttp().getRequest<WebhookRequest>();
    const name = req.params?.source ?? '';
    const source = this.sources.get(name);
    // Counted by its answer, whichever part gives it; an unknown name is not a label value.
    const trace = this.telemetry.inboundCall(source?.name, req.headers, context.switchToHttp().getResponse());
    if (!source) return this.reject(req, name, 'unknown_source', inboundMessages.unknownSource(name));

    const headers = lowerCased(req.headers);
    const rawBody = this.rawBody(req, headers, name);
    const limit = this.options.inbound.bodyLimit;
    if (rawBody.length > limit)
      return this.reject(req, name, 'payload_too_large', inboundMessages.payloadTooLarge(rawBody.length, limit));

    const probed = source.probe?.(rawBody, headers);
    if (probed) {
      req[UNSIGNED_REPLY] = probed;
      return true;
    }
    const result = source.verify(rawBody, headers);
    if (!result.ok) return this.reject(req, name, result.reason, verifyFailureDetails[result.reason]);
    req[VERIFIED_WEBHOOK] = { source, rawBody, headers, receivedAt: new Date(), trace };
    return true;
  }

  /**
   * The exact bytes received. A body that an adapter parser read without keeping the bytes
   * means the app was created without `rawBody: true`: a server fault (500), said plainly, since
   * every signature would otherwise look wrong. A body no parser read has an unsupported type, as
   * has one the adapter could not decode; one it refused for its own size limit is too large (both
   * marked by the parse-failure passthrough). Those marks are read only when there are no bytes,
   * off the path of a normal call.
   */
  private rawBody(req: WebhookRequest, headers: WebhookHeaders, name: string): Buffer {
    if (Buffer.isBuffer(req.rawBody)) return req.rawBody;
    // An app that gave the route a raw parser of its own (express.raw()) has the bytes as the body.
    if (Buffer.isBuffer(req.body)) return req.body;
    const adapterLimit = req[ADAPTER_BODY_LIMIT];
    if (adapterLimit !== undefined)
      return this.reject(req, name, 'payload_too_large', inboundMessages.adapterBodyLimit(adapterLimit));
    const undecodable = req[ADAPTER_UNDECODABLE];
    if (undecodable !== undefined)
      return this.reject(req, name, 'unsupported_media_type', inboundMessages.undecodableBody(name, undecodable));
    if (
      headers['content-length'] === '0' ||
      (headers['content-length'] === undefined && !headers['transfer-encoding'])
    ) {
      return Buffer.alloc(0);
    }
    if (parsedWithoutBytes(req.body, headers['content-type'])) {
      // How to fix it goes to the operator's log; the sender only learns to retry.
      this.logger.error(inboundMessages.rawBodyMissing(name));
      throw new WebhookProblem('raw_body_missing', inboundMessages.receiverFault());
    }
    return this.reject(
      req,
      name,
      'unsupported_media_type',
      inboundMessages.unsupportedMediaType(name, headers['content-type']),
    );
  }

  private reject(req: WebhookRequest, source: string, code: WebhookProblemCode, detail: string): never {
    const problem = new WebhookProblem(code, detail);
    this.logger.warn(inboundMessages.rejected(source, code, problem.body.status, req.ip));
    throw problem;
  }
}

/**
 * Did a parser read this body without keeping its bytes? An object says so, except an empty one
 * on a type no JSON or form parser reads: body-parser 1.x (and middleware modelled on it) sets
 * `req.body = {}` on every request, read or not, and that is an unsupported type, not a
 * forgotten `rawBody`.
 */
function parsedWithoutBytes(body: unknown, contentType: string | undefined): boolean {
  if (body === null || typeof body !== 'object' || Buffer.isBuffer(body)) return false;
  if (Object.keys(body).length > 0) return true;
  return /^application\/(?:json|[\w.-]+\+json|x-www-form-urlencoded)\s*(?:;|$)/i.test(contentType ?? '');
}

function lowerCased(headers: WebhookRequest['headers']): WebhookHeaders {
  // Node already lower-cases names; repeated headers arrive as arrays.
  const out: WebhookHeaders = {};
  for (const name in headers) {
    const value = headers[name];
    out[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  return out;
}
