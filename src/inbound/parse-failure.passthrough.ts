import { Inject, Injectable } from '@nestjs/common';
import { ApplicationConfig, HttpAdapterHost } from '@nestjs/core';
import type { IncomingMessage } from 'node:http';
import type { ResolvedWebhooksOptions } from '../interfaces/webhooks-options.interface.js';
import { escapeRegExp, routeBases } from '../utils/route-bases.js';
import { WEBHOOKS_OPTIONS, WEBHOOKS_ROUTE_PATH } from '../webhooks.constants.js';

/** Request property set when the adapter refused the body for its own size limit: that limit, in bytes. */
export const ADAPTER_BODY_LIMIT = Symbol('ADAPTER_BODY_LIMIT');
/** Request property set when the adapter's parser could not decode the body (charset, content encoding): its reason. */
export const ADAPTER_UNDECODABLE = Symbol('ADAPTER_UNDECODABLE');

type Next = (err?: unknown) => void;
type ParsedRequest = Pick<IncomingMessage, 'on' | 'off' | 'readableEnded' | 'readableDidRead'> & {
  method: string;
  path: string;
  rawBody?: unknown;
  body?: unknown;
  [ADAPTER_BODY_LIMIT]?: number;
  [ADAPTER_UNDECODABLE]?: string;
  headers: Record<string, string | string[] | undefined>;
};
type FastifyRequest = ParsedRequest & { server: unknown; routeOptions: { bodyLimit?: number } };
type FastifyRoute = { method: string | string[]; url: string; handler: Function; errorHandler?: Function };

/**
 * Passes a webhook call whose body the adapter's parser refused (say, invalid JSON) on to
 * `WebhookGuard` with its raw bytes, so it is verified before it is answered: 401 for a bad
 * signature, `400 invalid_json` for a good one, not the adapter's unverified 400. Only on the
 * webhook route and with `rawBody: true`. A body over the adapter's size limit is marked with
 * {@link ADAPTER_BODY_LIMIT} and answered like one over `inbound.bodyLimit`.
 */
@Injectable()
export class ParseFailurePassthrough {
  constructor(
    private readonly adapterHost: HttpAdapterHost,
    private readonly config: ApplicationConfig,
    @Inject(WEBHOOKS_ROUTE_PATH) private readonly routePath: string,
    @Inject(WEBHOOKS_OPTIONS) private readonly options: ResolvedWebhooksOptions,
  ) {}

  /**
   * Called from the module's `configure()`: after Nest installed the body parsers, before it
   * registers middleware and routes, which is where both hooks must go.
   */
  install(): void {
    const adapter = this.adapterHost.httpAdapter;
    if (!adapter) return;
    const bases = this.basePaths();
    if (adapter.getType() === 'express') {
      const route = new RegExp(`^(?:${bases.map(escapeRegExp).join('|')})/[^/]+/?$`, 'i');
      adapter.use(expressPassthrough(route, this.options.inbound.bodyLimit));
    } else if (adapter.getType() === 'fastify') {
      const urls = new Set(bases.map((base) => `${base}/:source`));
      adapter.getInstance().addHook('onRoute', (route: FastifyRoute) => {
        if (route.method === 'POST' && urls.has(route.url)) route.errorHandler = fastifyPassthrough(route.handler);
      });
    }
  }

  /** `/<global prefix>/<inbound.path>`, and `/<inbound.path>` too when the prefix is absent or excluded. */
  private basePaths(): string[] {
    return routeBases(this.config, this.routePath, ':source');
  }
}

/**
 * body-parser's refusals of a body it read whole (its `verify` kept the bytes): not JSON, or a
 * form of more fields or deeper keys than it takes, which the scheme's own parser still reads.
 */
const UNPARSED_TYPES = new Set(['entity.parse.failed', 'parameters.too.many', 'querystring.parse.rangeError']);
/** body-parser's refusals of a body it could not decode: a charset or content encoding it lacks. */
const UNDECODABLE_TYPES = new Set(['charset.unsupported', 'encoding.unsupported']);

/**
 * An Express error middleware placed right behind the body parsers: `next()` without the error
 * resumes routing, so the webhook route's guard runs with the bytes the parser's `verify` kept
 * (or, over the parser's limit or for a body it could not decode, with a mark). Express skips a
 * four-argument middleware while no error is pending, so other calls pay nothing.
 */
function expressPassthrough(route: RegExp, bodyLimit: number) {
  return function webhookParseFailure(
    err: { type?: string; limit?: number; code?: unknown; message?: string },
    req: ParsedRequest,
    _res: unknown,
    next: Next,
  ): void {
    if (err?.type === 'charset.unsupported' && unreadIdentity(req) && req.method === 'POST' && route.test(req.path)) {
      readUnread(req, bodyLimit).then((bytes) => {
        if (bytes) req.rawBody = bytes;
        else req[ADAPTER_BODY_LIMIT] = bodyLimit;
        next();
      }, next);
      return;
    }
    const tooLarge = err?.type === 'entity.too.large';
    // A compressed body that does not inflate fails in zlib (Z_DATA_ERROR, a Brotli code), untyped.
    const undecodable =
      UNDECODABLE_TYPES.has(err?.type ?? '') ||
      (err?.type === undefined && typeof err?.code === 'string' && inflated(req.headers['content-encoding']));
    const refused = tooLarge || undecodable || (UNPARSED_TYPES.has(err?.type ?? '') && Buffer.isBuffer(req.rawBody));
    if (!refused || req.method !== 'POST' || !route.test(req.path)) return next(err);
    if (tooLarge) req[ADAPTER_BODY_LIMIT] = err.limit;
    else if (undecodable) req[ADAPTER_UNDECODABLE] = err.message ?? 'undecodable body';
    next();
  };
}

/**
 * A Fastify error handler for the webhook route alone. A parse failure ends Fastify's lifecycle
 * before the handler, so the handler (Nest's: guard, controller, filter) is run from here. The
 * raw bytes with no body mean the parser read everything and then failed; a body over the limit
 * is marked; a type no parser takes (none, octet-stream, multipart) goes on without bytes, so the
 * guard answers it as on Express: 404 for an unknown source, else 415 `unsupported_media_type`.
 * Any other error is thrown on to the app's error handler.
 */
function fastifyPassthrough(handler: Function) {
  return function webhookParseFailure(error: { code?: string }, request: FastifyRequest, reply: unknown) {
    const unparsed = error?.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE';
    if (error?.code === 'FST_ERR_CTP_BODY_TOO_LARGE') request[ADAPTER_BODY_LIMIT] = request.routeOptions.bodyLimit;
    else if (!unparsed && (!Buffer.isBuffer(request.rawBody) || request.body !== undefined)) throw error;
    return handler.call(request.server, request, reply);
  };
}

/**
 * body-parser refuses a declared charset other than UTF-8 before it reads a byte. JSON has no
 * charset (RFC 8259: a recipient ignores one) and Fastify ignores it too, so the bytes are read
 * here, as sent, and the scheme's parser decides: UTF-8 text is read, other bytes are refused.
 * Only a body not yet read and not compressed (an encoding body-parser would inflate stays 415).
 */
function unreadIdentity(req: ParsedRequest): boolean {
  return !req.readableDidRead && !req.readableEnded && !inflated(req.headers['content-encoding']);
}

/** The request's bytes, or null once they pass `limit` (the rest is left to Node, which drains it). */
function readUnread(req: ParsedRequest, limit: number): Promise<Buffer | null> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const done = (settle: () => void) => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('close', onClose);
      settle();
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) return done(() => resolve(null));
      chunks.push(chunk);
    };
    const onEnd = () => done(() => resolve(Buffer.concat(chunks, size)));
    const onError = (err: Error) => done(() => reject(err));
    const onClose = () => done(() => reject(new Error('The request closed before its body ended.')));
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
    req.on('close', onClose);
  });
}

/** Did the body come with a content encoding the parser had to inflate? */
function inflated(encoding: string | string[] | undefined): boolean {
  return typeof encoding === 'string' && encoding.trim().toLowerCase() !== 'identity' && encoding.trim() !== '';
}
