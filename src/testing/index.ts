import type { INestApplication } from '@nestjs/common';
import { isUtf8 } from 'node:buffer';
import { randomBytes } from 'node:crypto';
import type { RequestListener, Server } from 'node:http';
import request from 'supertest';
import { builtInVerifier } from '../inbound/verifiers/index.js';
import { field } from '../inbound/verifiers/verifier.utils.js';
import type { BuiltInScheme, InboundSourceOptions } from '../interfaces/inbound-source.interface.js';
import type { ResolvedWebhooksOptions } from '../interfaces/webhooks-options.interface.js';
import { WEBHOOKS_OPTIONS } from '../webhooks.constants.js';

/**
 * What {@link signWebhook} needs; only `scheme`, `secret` and `payload` are required.
 * @publicApi
 */
export interface SignWebhookOptions extends Pick<InboundSourceOptions, 'header' | 'prefix' | 'encoding'> {
  scheme: BuiltInScheme;
  secret: string;
  /**
   * An object (sent as JSON), a string or a UTF-8 Buffer (sent as is), or URLSearchParams (sent as
   * a form). A Buffer that is not UTF-8 is refused: the body travels as text, which would change its bytes.
   */
  payload: unknown;
  /** Event id, for schemes that carry it in a header. @default a random `msg_test_…` */
  id?: string;
  /** Signed timestamp, unix seconds. @default now */
  timestamp?: number;
  /** Event type, for schemes that carry it in a header (GitHub event, Shopify topic). @default the payload's `type` or `event`, else `ping` */
  type?: string;
}

/**
 * A signed request: the exact body and the headers to send with it.
 * @publicApi
 */
export interface SignedWebhook {
  body: string;
  headers: Record<string, string>;
}

/**
 * Signs a payload the way a sender of `scheme` would.
 * @publicApi
 */
export function signWebhook(options: SignWebhookOptions): SignedWebhook {
  const { scheme, secret, payload } = options;
  if (Buffer.isBuffer(payload) && !isUtf8(payload))
    throw new Error(
      'signWebhook: a Buffer payload must be UTF-8 (the body is sent as text); to send other bytes, sign them with signStandard and post them yourself.',
    );
  const form = payload instanceof URLSearchParams;
  const body =
    form || typeof payload === 'string'
      ? String(payload)
      : Buffer.isBuffer(payload)
        ? payload.toString('utf8')
        : JSON.stringify(payload);
  const signed = builtInVerifier(scheme, options).sign({
    secret,
    body: Buffer.from(body),
    id: options.id ?? `msg_test_${randomBytes(8).toString('hex')}`,
    timestamp: options.timestamp ?? Math.floor(Date.now() / 1000),
    type: options.type ?? field(payload, 'type') ?? field(payload, 'event') ?? 'ping',
  });
  const contentType = form ? 'application/x-www-form-urlencoded' : 'application/json';
  return { body, headers: { 'content-type': contentType, ...signed } };
}

/**
 * Options of {@link postWebhook}: everything of {@link signWebhook} may be overridden.
 * @publicApi
 */
export interface PostWebhookOptions extends Partial<Omit<SignWebhookOptions, 'payload'>> {
  /** Headers to add or replace after signing; `null` removes one. */
  headers?: Record<string, string | null>;
  /** Replaces the body after signing (a tampered body). */
  body?: string;
  /** URL path to post to, for an app with a global prefix. @default `/<inbound.path>/<source>` */
  path?: string;
}

/**
 * Signs `payload` for the app's own `source` (its scheme and first secret, unless overridden)
 * and POSTs it to `/<inbound.path>/<source>`. Returns the supertest request, so
 * `await postWebhook(app, 'orders', { event: 'order.completed', data: {} }).expect(200)`.
 * On Fastify it waits for the instance's `ready()` itself.
 * @publicApi
 */
export function postWebhook(
  app: INestApplication,
  source: string,
  payload: unknown,
  options: PostWebhookOptions = {},
): request.Test {
  const resolved = app.get<ResolvedWebhooksOptions>(WEBHOOKS_OPTIONS, { strict: false });
  const config = resolved.inbound.sources[source];
  const scheme = options.scheme ?? config?.scheme;
  if (typeof scheme !== 'string') {
    throw new Error(
      config
        ? `Source "${source}" uses a custom verifier: sign the request yourself and send it with supertest.`
        : `No inbound source "${source}" is configured.`,
    );
  }
  const signed = signWebhook({ ...config, ...options, scheme, secret: options.secret ?? config.secrets[0], payload });
  const req = request(requestTarget(app)).post(options.path ?? `/${resolved.inbound.path}/${source}`);
  for (const [name, value] of Object.entries({ ...signed.headers, ...options.headers }))
    if (value !== null) req.set(name, value);
  return req.send(options.body ?? signed.body);
}

/** The fastify instance's part used here. */
interface FastifyLike {
  ready(): PromiseLike<unknown>;
  server: Server;
}

/**
 * What supertest sends to: the app's server; on Fastify, a handler that lets the request in once
 * the instance is ready (a Fastify server does not answer before `ready()`, and tests rarely call it).
 */
function requestTarget(app: INestApplication): Server | RequestListener {
  const adapter = app.getHttpAdapter();
  if (adapter.getType() !== 'fastify') return app.getHttpServer();
  const fastify = adapter.getInstance() as FastifyLike;
  return (req, res) =>
    void Promise.resolve(fastify.ready()).then(
      () => fastify.server.emit('request', req, res),
      (err: Error) => {
        res.statusCode = 500;
        res.end(`The Fastify instance failed to get ready: ${err.message}`);
      },
    );
}
