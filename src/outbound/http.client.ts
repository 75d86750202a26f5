import { Inject, Injectable, Logger, Optional, type OnApplicationShutdown } from '@nestjs/common';
import { isUtf8 } from 'node:buffer';
import { StringDecoder } from 'node:string_decoder';
import { Agent, errors, request, type Dispatcher } from 'undici';
import type { AttemptErrorClass } from '../database/entities/webhook-attempt.entity.js';
import type { ResolvedWebhooksOptions } from '../interfaces/webhooks-options.interface.js';
import { WEBHOOKS_OPTIONS } from '../webhooks.constants.js';
import { BLOCKED_ERROR_CODE, NetworkPolicy, WEBHOOKS_DNS_RESOLVER, type ResolveAll } from './network.policy.js';

/** Outcome of one POST; the client never throws, a failure is described here. */
export interface HttpAttemptResult {
  statusCode: number | null;
  headers: Record<string, string | string[] | undefined>;
  /** The first `maxResponseBodyBytes` of the body, as UTF-8 made storable (see {@link storableText}). */
  body: string | null;
  durationMs: number;
  errorClass: AttemptErrorClass | null;
  errorMessage: string | null;
}

/**
 * The only way the module makes outbound HTTP requests: a pooled undici Agent with a total
 * deadline per attempt, no redirects followed, a capped response read, and the
 * {@link NetworkPolicy} applied to the URL and, at connect time, to every resolved address.
 */
@Injectable()
export class WebhookHttpClient implements OnApplicationShutdown {
  private readonly logger = new Logger(WebhookHttpClient.name);
  private readonly agent: Agent;
  private readonly policy: NetworkPolicy;

  /** `resolve` replaces `dns.lookup` (provide {@link WEBHOOKS_DNS_RESOLVER}); the policy still checks its answers. */
  constructor(
    @Inject(WEBHOOKS_OPTIONS) private readonly options: ResolvedWebhooksOptions,
    @Optional() @Inject(WEBHOOKS_DNS_RESOLVER) resolve?: ResolveAll,
  ) {
    this.policy = new NetworkPolicy(options.outbound.network, resolve);
    // Redirects stay unfollowed (undici's default): a 3xx could point anywhere, unchecked. The
    // connect timeout (TCP and TLS) is the attempt's deadline, not undici's own 10 s.
    this.agent = new Agent({
      keepAliveTimeout: 10_000,
      // A connection for each job the worker runs at once, whatever the origin: a request that
      // waited for a free one ignored its deadline there, and went out after its attempt was
      // recorded as a timeout (a duplicate delivery once retried).
      connections: Math.max(128, options.outbound.concurrency),
      connect: { lookup: this.policy.lookup, timeout: options.outbound.timeoutMs },
    });
  }

  /**
   * POSTs `body` to `url`; resolves with the status, capped body and timing, or the error class.
   * A status that arrived is the answer even when its body is then cut short (by the deadline or
   * the connection): the receiver has decided, and a 2xx is not sent again.
   */
  async post(url: string, headers: Record<string, string>, body: string): Promise<HttpAttemptResult> {
    const { timeoutMs, maxResponseBodyBytes } = this.options.outbound;
    const started = performance.now();
    const refused = this.policy.checkUrl(url);
    if (refused) return this.blocked(url, refused, started);
    const signal = AbortSignal.timeout(timeoutMs);
    let res: Dispatcher.ResponseData;
    try {
      res = await withDeadline(request(url, { method: 'POST', headers, body, dispatcher: this.agent, signal }), signal);
    } catch (err) {
      const errorClass = classify(err);
      if (errorClass === 'blocked') return this.blocked(url, (err as Error).message, started);
      this.logger.debug(`POST to ${hostOf(url)} failed: ${errorClass}`);
      return {
        statusCode: null,
        headers: {},
        body: null,
        durationMs: Math.round(performance.now() - started),
        errorClass,
        errorMessage: describe(err),
      };
    }
    const read = await readCapped(res.body, maxResponseBodyBytes);
    const ok = res.statusCode >= 200 && res.statusCode < 300;
    const cut = read.error === null ? '' : `; its body was cut short (${describe(read.error)})`;
    return {
      statusCode: res.statusCode,
      headers: res.headers,
      body: storableText(read.text),
      durationMs: Math.round(performance.now() - started),
      errorClass: ok ? null : 'http',
      errorMessage: ok ? null : `HTTP ${res.statusCode}${cut}`.slice(0, 500),
    };
  }

  /** A refusal by the network policy: logged at warn, never retried (see retry.policy.ts). */
  private blocked(url: string, reason: string, started: number): HttpAttemptResult {
    this.logger.warn(`POST to ${hostOf(url)} refused by the outbound network policy: ${reason}`);
    const durationMs = Math.round(performance.now() - started);
    return {
      statusCode: null,
      headers: {},
      body: null,
      durationMs,
      errorClass: 'blocked',
      errorMessage: storableText(reason).slice(0, 500),
    };
  }

  async onApplicationShutdown(): Promise<void> {
    await this.agent.close();
  }
}

/**
 * `response`, or a rejection with the deadline's reason once `signal` aborts first. undici acts
 * on an abort only once the request has a connection: while it connects, or waits for a free
 * connection of the pool, the abort is merely noted. A response that comes after the deadline
 * is dropped.
 */
function withDeadline(
  response: Promise<Dispatcher.ResponseData>,
  signal: AbortSignal,
): Promise<Dispatcher.ResponseData> {
  return new Promise((resolve, reject) => {
    const expire = () => reject(signal.reason);
    signal.addEventListener('abort', expire, { once: true });
    response.then(
      (res) => {
        signal.removeEventListener('abort', expire);
        if (signal.aborted) res.body.destroy();
        resolve(res);
      },
      (err: unknown) => {
        signal.removeEventListener('abort', expire);
        reject(err);
      },
    );
  });
}

/**
 * Reads at most `cap` bytes as UTF-8, then drops the rest of the body (and so the connection). A
 * character cut by the cap is left out; bytes that are not UTF-8 become U+FFFD. A read that fails
 * (deadline, reset) keeps what came and reports the error.
 */
async function readCapped(
  body: Dispatcher.ResponseData['body'],
  cap: number,
): Promise<{ text: string; error: unknown }> {
  // Nothing to keep: the connection goes at once, not when a stalled body ends or times out.
  if (cap <= 0) {
    body.destroy();
    return { text: '', error: null };
  }
  const decoder = new StringDecoder('utf8');
  let text = '';
  let size = 0;
  try {
    for await (const chunk of body as AsyncIterable<Buffer>) {
      if (size + chunk.length >= cap) return { text: text + decoder.write(chunk.subarray(0, cap - size)), error: null };
      text += decoder.write(chunk);
      size += chunk.length;
    }
    return { text: text + decoder.end(), error: null };
  } catch (err) {
    return { text, error: err };
  }
}

function classify(err: unknown): AttemptErrorClass {
  const e = err as { name?: string; code?: string; cause?: { code?: string } };
  const code = e.code ?? e.cause?.code ?? '';
  if (code === BLOCKED_ERROR_CODE) return 'blocked';
  if (
    e.name === 'TimeoutError' ||
    err instanceof errors.HeadersTimeoutError ||
    err instanceof errors.BodyTimeoutError ||
    err instanceof errors.ConnectTimeoutError
  ) {
    return 'timeout';
  }
  if (code === 'ECONNREFUSED') return 'refused';
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return 'dns';
  if (/^(ERR_TLS|CERT_|UNABLE_TO|DEPTH_ZERO|SELF_SIGNED|ERR_SSL)/.test(code)) return 'tls';
  return 'network';
}

// Only the host goes to the logs: paths and query strings of endpoint URLs may carry tokens.
function hostOf(url: string): string {
  return URL.canParse(url) ? new URL(url).host : '(invalid URL)';
}

/** `CODE: message` on one line; a DOMException's numeric legacy `code` (23 for a timeout) gives way to its name. */
function describe(err: unknown): string {
  const e = err as { name?: string; message?: string; code?: unknown };
  // The HTTP client's own assertions fail on some malformed answers (a status below 100).
  if (e.code === 'ERR_ASSERTION')
    return `invalid HTTP response: the HTTP client could not read it (${shownMessage(e)})`;
  const code = typeof e.code === 'string' ? e.code : (e.name ?? 'Error');
  return storableText(`${code}: ${shownMessage(e)}`).slice(0, 500);
}

function shownMessage(e: { message?: string }): string {
  return storableText((e.message ?? String(e)).replace(/\s+/g, ' ').trim()).slice(0, 400);
}

/**
 * Text from a receiver made storable in any text column: PostgreSQL refuses U+0000 in text, and
 * an attempt whose log cannot be written must not happen at all. Bytes that are not UTF-8 were
 * already mapped to U+FFFD by the decoding; NUL gets the same replacement.
 */
export function storableText(text: string): string {
  return text.includes('\0') ? text.replaceAll('\0', '\uFFFD') : text;
}

/** Bounds of the response headers an attempt keeps: a receiver chooses them, the log must stay small. */
const MAX_RESPONSE_HEADERS = 50;
const MAX_RESPONSE_HEADERS_BYTES = 4096;

/**
 * The receiver's headers as JSON text to store: at most {@link MAX_RESPONSE_HEADERS}, repeated
 * ones joined with `, `, values made storable, and at most {@link MAX_RESPONSE_HEADERS_BYTES} in
 * all (headers that do not fit are left out; only then is the size counted header by header).
 */
export function storableHeaders(headers: HttpAttemptResult['headers']): string {
  // No prototype: a header named __proto__ is a key like any other.
  const kept: Record<string, string> = Object.create(null);
  let count = 0;
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue;
    if (count++ === MAX_RESPONSE_HEADERS) break;
    kept[name] = storableText(headerText(Array.isArray(value) ? value.join(', ') : value));
  }
  const json = JSON.stringify(kept);
  if (Buffer.byteLength(json) <= MAX_RESPONSE_HEADERS_BYTES) return json;
  const fitting: Record<string, string> = Object.create(null);
  let size = 2;
  for (const [name, value] of Object.entries(kept)) {
    const entry = Buffer.byteLength(JSON.stringify(name)) + Buffer.byteLength(JSON.stringify(value)) + 2;
    if (size + entry > MAX_RESPONSE_HEADERS_BYTES) continue;
    fitting[name] = value;
    size += entry;
  }
  return JSON.stringify(fitting);
}

/**
 * A header value as its sender wrote it. The HTTP client reads header bytes as latin1, so a
 * receiver's UTF-8 (`café`) arrives as `cafÃ©`: bytes that are valid UTF-8 are read as UTF-8.
 */
function headerText(value: string): string {
  if (!/[\x80-\xff]/.test(value)) return value;
  const bytes = Buffer.from(value, 'latin1');
  return isUtf8(bytes) ? bytes.toString('utf8') : value;
}
