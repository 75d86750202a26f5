import { isUtf8 } from 'node:buffer';
import { Inject, Injectable } from '@nestjs/common';
import { ApplicationConfig, HttpAdapterHost } from '@nestjs/core';
import type { ResolvedWebhooksOptions } from '../interfaces/webhooks-options.interface.js';
import { escapeRegExp, routeBases } from '../utils/route-bases.js';
import { PROBLEM_CONTENT_TYPE } from '../utils/problem-type.js';
import { WEBHOOKS_OPTIONS } from '../webhooks.constants.js';
import { notAnObject, PortalProblem, type PortalProblemCode } from './portal.problem.js';

type Next = (err?: unknown) => void;
type Headers = Record<string, string | string[] | undefined>;
type Res = { status(code: number): Res; setHeader(name: string, value: string): void; end(body: string): void };
type FastifyReply = {
  code(status: number): FastifyReply;
  header(name: string, value: string): FastifyReply;
  send(body: string): void;
};
type FastifyHook = (request: { headers: Headers; rawBody?: unknown }, reply: FastifyReply, done: Next) => void;
type FastifyRoute = {
  url: string;
  errorHandler?: Function;
  onRequest?: FastifyHook | FastifyHook[];
  preValidation?: FastifyHook | FastifyHook[];
};

type BodyParserError = { type?: unknown; status?: number; message?: string; body?: unknown };

/** body-parser's own refusals carry a `type` (`entity.parse.failed`, …); an app middleware's errors pass on. */
function isBodyParserRefusal(err: BodyParserError): boolean {
  return typeof err?.type === 'string' && [400, 413, 415].includes(Number(err.status));
}

/**
 * Whether body-parser refused JSON for not being an object or array (its `strict` mode, the
 * default): Fastify takes such a body and the route answers it, so it is answered as the route would.
 */
function isStrictRefusal(err: BodyParserError): boolean {
  if (err.type !== 'entity.parse.failed' || typeof err.body !== 'string') return false;
  try {
    JSON.parse(err.body);
    return true;
  } catch {
    return false;
  }
}

/** The problem for an adapter's refusal of a body, by its HTTP status. */
function refusal(status: number | undefined, detail: string): PortalProblem {
  const code: PortalProblemCode =
    status === 413 ? 'payload_too_large' : status === 415 ? 'unsupported_media_type' : 'invalid_body';
  return new PortalProblem(code, detail);
}

/**
 * The refusal of a request body that is not JSON, or null when the request has none (no
 * Content-Length, or 0, and no Transfer-Encoding) or it is `application/json`. Checked before any
 * route runs: Express skips its JSON parser for another type and the route would read `{}` (a
 * text/plain `{"graceMs":0}` rotated with the default grace), or it reads a form; Fastify reads
 * text/plain as a string. The API is JSON only, on both adapters (docs/portal.md).
 */
export function notJsonBody(headers: Headers): PortalProblem | null {
  const length = headers['content-length'];
  if (headers['transfer-encoding'] === undefined && !(Number(length) > 0)) return null;
  const type = headers['content-type'];
  const [media, ...params] = typeof type === 'string' ? type.split(';').map((p) => p.trim().toLowerCase()) : [''];
  if (media === 'application/json') {
    const charset = params
      .find((p) => /^charset\s*=/.test(p))
      ?.replace(/^charset\s*=\s*/, '')
      .replace(/^"(.*)"$/, '$1');
    if (charset === undefined || charset === 'utf-8') return null;
    return new PortalProblem('unsupported_media_type', `The portal API reads JSON in UTF-8, not in ${charset}.`);
  }
  const given = media === '' ? 'a body without a Content-Type' : `not ${media}`;
  return new PortalProblem('unsupported_media_type', `The portal API reads application/json bodies, ${given}.`);
}

/**
 * The refusal of a body whose bytes are not UTF-8, when the adapter kept them (an app created with
 * `rawBody: true`): the parsers decode such bytes to U+FFFD, which would be stored as if sent.
 * Without the bytes the check cannot be made (docs/portal.md).
 */
export function notUtf8Body(rawBody: unknown): PortalProblem | null {
  if (!Buffer.isBuffer(rawBody) || isUtf8(rawBody)) return null;
  return new PortalProblem('invalid_body', 'The request body is not valid UTF-8.');
}

/** Writes a problem on Express's response, where the controller's filter cannot. */
function answerExpress(res: Res, { body }: PortalProblem): void {
  res.setHeader('Content-Type', PROBLEM_CONTENT_TYPE);
  res.setHeader('Cache-Control', 'no-store');
  res.status(body.status).end(JSON.stringify(body));
}

/** Writes a problem on Fastify's reply, where the controller's filter cannot. */
function answerFastify(reply: FastifyReply, { body }: PortalProblem): void {
  reply
    .code(body.status)
    .header('Content-Type', PROBLEM_CONTENT_TYPE)
    .header('Cache-Control', 'no-store')
    .send(JSON.stringify(body));
}

/**
 * Answers a portal API body of another type than JSON ({@link notJsonBody}), or one the adapter's
 * parser refused (not JSON, too large, a charset it lacks), as a portal problem, like every other
 * portal error: the parser runs before the route, where the controller's filter cannot see it.
 * Other routes keep the adapter's own answer.
 */
@Injectable()
export class PortalBodyRefusals {
  constructor(
    @Inject(WEBHOOKS_OPTIONS) private readonly options: ResolvedWebhooksOptions,
    private readonly adapterHost: HttpAdapterHost,
    private readonly config: ApplicationConfig,
  ) {}

  /** Called from the module's `configure()`, right behind the body parsers (as the inbound passthrough). */
  install(): void {
    const { httpAdapter: adapter } = this.adapterHost;
    const apis = this.apiBases();
    if (!adapter || apis.length === 0) return;
    if (adapter.getType() === 'express') {
      const route = new RegExp(`^(?:${apis.map(escapeRegExp).join('|')})`, 'i');
      // Behind the parsers (a form is parsed already), before the route reads what they left.
      adapter.use((req: { path: string; headers: Headers; rawBody?: unknown }, res: Res, next: Next) => {
        const problem = route.test(req.path) ? (notJsonBody(req.headers) ?? notUtf8Body(req.rawBody)) : null;
        if (problem) answerExpress(res, problem);
        else next();
      });
      adapter.use((err: BodyParserError, req: { path: string }, res: Res, next: Next) => {
        if (!route.test(req.path) || !isBodyParserRefusal(err)) return next(err);
        answerExpress(
          res,
          isStrictRefusal(err)
            ? notAnObject()
            : refusal(err.status, err.message ?? 'The request body could not be read.'),
        );
      });
    } else if (adapter.getType() === 'fastify') {
      adapter.getInstance().addHook('onRoute', (route: FastifyRoute) => {
        if (!apis.some((api) => route.url.startsWith(api))) return;
        // onRequest runs before Fastify picks a parser, as Express's check runs before the route.
        const hooks = route.onRequest === undefined ? [] : [route.onRequest].flat();
        route.onRequest = [
          ...hooks,
          function portalJsonOnly(request, reply, done) {
            const problem = notJsonBody(request.headers);
            if (problem) answerFastify(reply, problem);
            else done();
          },
        ];
        // preValidation runs once the parser has read the body and kept its bytes.
        const checks = route.preValidation === undefined ? [] : [route.preValidation].flat();
        route.preValidation = [
          function portalUtf8Only(request, reply, done) {
            const problem = notUtf8Body(request.rawBody);
            if (problem) answerFastify(reply, problem);
            else done();
          },
          ...checks,
        ];
        const own = route.errorHandler;
        route.errorHandler = function portalBodyRefusal(
          error: { code?: string; statusCode?: number; message?: string },
          request: unknown,
          reply: FastifyReply,
        ) {
          if (!error?.code?.startsWith('FST_ERR_CTP_')) {
            if (own) return own.call(this, error, request, reply);
            throw error;
          }
          answerFastify(reply, refusal(error.statusCode, error.message ?? 'The request body could not be read.'));
        };
      });
    }
  }

  /** Where the customer and admin APIs are served (with the app's global prefix); none without a portal. */
  private apiBases(): string[] {
    const path = this.options.portal?.path;
    if (path === undefined) return [];
    return routeBases(this.config, path, 'api').flatMap((base) => [`${base}/api/`, `${base}/admin/api/`]);
  }
}
