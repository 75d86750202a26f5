import { Inject, Injectable, Logger } from '@nestjs/common';
import { createHash } from 'node:crypto';
import type { InboundSourceOptions } from '../interfaces/inbound-source.interface.js';
import type { VerifyResult, WebhookVerifier } from '../interfaces/webhook-verifier.interface.js';
import type { ResolvedInboundSource, ResolvedWebhooksOptions } from '../interfaces/webhooks-options.interface.js';
import { NotUtf8Error } from '../errors/not-utf8.error.js';
import { unstorable } from '../database/sql.js';
import { shown } from '../utils/shown.js';
import { WEBHOOKS_OPTIONS } from '../webhooks.constants.js';
import { inboundMessages, verifyFailureDetails } from './inbound.messages.js';
import { eventIdText, utf8Text, type BuiltInVerifier, type WebhookHeaders } from './verifiers/verifier.utils.js';
import { verifierFor } from './verifiers/index.js';
import { WebhookProblem } from './webhook.problem.js';

/** A verified body read into what the inbox stores and handlers receive. */
export interface ReadEvent {
  id: string;
  type: string;
  payload: unknown;
  /** The body as UTF-8 text, when reading it made that text already (the default JSON parser). */
  text?: string;
}

const ALWAYS_KEPT = ['content-type', 'user-agent'];
const NEVER_KEPT = new Set(['authorization', 'proxy-authorization', 'cookie']);
const MAX_LENGTH = 255;

/** One configured sender: its verifier, secrets and how its events are read. */
export class InboundSource {
  /** Header names kept as they are, and prefixes (ending in `-`) of kept ones. */
  private readonly keepNames: Set<string>;
  private readonly keepPrefixes: string[];
  private readonly readType: (payload: unknown, headers: WebhookHeaders) => string | undefined;
  private readonly readId: ((payload: unknown, headers: WebhookHeaders) => string | undefined) | undefined;
  /** The scheme's answer to an unsigned check of the endpoint, if it has one (Slack's ssl_check). */
  readonly probe: BuiltInVerifier['probe'];
  /** The scheme's answer to a verified handshake, if it has one (Slack's url_verification). */
  readonly handshake: BuiltInVerifier['handshake'];

  constructor(
    readonly name: string,
    readonly verifier: WebhookVerifier,
    private readonly options: ResolvedInboundSource,
  ) {
    const keep = [...ALWAYS_KEPT, ...(verifier.keepHeaders ?? []).map((h) => h.toLowerCase())];
    this.keepNames = new Set(keep.filter((k) => !k.endsWith('-')));
    this.keepPrefixes = keep.filter((k) => k.endsWith('-'));
    this.readType = options.eventType ?? verifier.eventType.bind(verifier);
    this.readId = options.eventId ?? verifier.eventId?.bind(verifier);
    const hooks = verifier as Partial<BuiltInVerifier>;
    this.probe = hooks.probe?.bind(verifier);
    this.handshake = hooks.handshake?.bind(verifier);
  }

  /** Checks the signature of the exact bytes received. */
  verify(rawBody: Buffer, headers: WebhookHeaders, now = Math.floor(Date.now() / 1000)): VerifyResult {
    const input = { rawBody, headers, secrets: this.options.secrets, tolerance: this.options.tolerance, now };
    // Only `{ ok: true }` verifies: a custom verifier's truthy slip (`{ ok: 'yes' }`) must not pass.
    let result: unknown;
    try {
      result = this.verifier.verify(input);
    } catch (err) {
      throw this.fault('verify()', err);
    }
    if (isVerifyResult(result)) return result;
    throw this.failed('verify()', `returned ${shown(result)}`);
  }

  /** A throw of the source's own code (verifier or extractor), as {@link failed} answers it. */
  private fault(part: string, err: unknown): WebhookProblem {
    // Quoted and escaped: the app's error text may carry header values, and goes to the log.
    return this.failed(part, `threw ${shown(err instanceof Error ? err.message : err)}`);
  }

  /**
   * The source's own code failed on this call (the app's fault, not the sender's): logged once as
   * an error, answered 500 `verifier_failed`, which the sender retries; the pipeline keeps nothing.
   */
  private failed(part: string, what: string): WebhookProblem {
    logger.error(inboundMessages.verifierFault(this.name, part, what));
    return new WebhookProblem('verifier_failed', inboundMessages.verifierFailed());
  }

  /** The payload of a verified body; throws a 400 problem when it is not what the scheme reads. */
  parse(rawBody: Buffer, headers: WebhookHeaders): unknown {
    return this.parsed(rawBody, headers).payload;
  }

  /** The payload, and the body's UTF-8 text when the default JSON parser made it (kept for the inbox row). */
  private parsed(rawBody: Buffer, headers: WebhookHeaders): { payload: unknown; text?: string } {
    try {
      if (this.verifier.parse) return { payload: this.verifier.parse(rawBody, headers) };
      const text = utf8Text(rawBody);
      return { payload: JSON.parse(text), text };
    } catch (err) {
      throw new WebhookProblem(
        'invalid_json',
        err instanceof NotUtf8Error ? err.message : inboundMessages.invalidJson(),
      );
    }
  }

  /** Parses a verified body and reads its type and id; throws a 400 problem when it cannot. */
  read(rawBody: Buffer, headers: WebhookHeaders): ReadEvent {
    const { payload, text } = this.parsed(rawBody, headers);
    let type: unknown;
    try {
      type = this.readType(payload, headers);
    } catch (err) {
      throw this.fault('eventType()', err);
    }
    if (typeof type !== 'string' || type === '') {
      throw new WebhookProblem(
        'invalid_event_type',
        inboundMessages.invalidEventType(`no event type was found in it (scheme ${this.verifier.name})`),
      );
    }
    if (type.length > MAX_LENGTH) {
      throw new WebhookProblem(
        'invalid_event_type',
        inboundMessages.invalidEventType(`its event type is longer than ${MAX_LENGTH}`),
      );
    }
    // Handlers are chosen by the type, so it must be stored as it is, on either database.
    if (unstorable(type)) {
      const why = 'its event type contains U+0000 or a lone surrogate';
      throw new WebhookProblem('invalid_event_type', inboundMessages.invalidEventType(why));
    }
    // A source's own `eventId` may hand back a number (`(p) => p.seq`): it keys the inbox as text.
    let rawId: unknown;
    try {
      rawId = this.readId?.(payload, headers);
    } catch (err) {
      throw this.fault('eventId()', err);
    }
    const id = eventIdText(rawId);
    // Without an id (or with one the inbox cannot store as it is) a hash stands in: a resent body is a duplicate.
    const usable = id !== undefined && id.length <= MAX_LENGTH && !unstorable(id);
    return { id: usable ? id : hashId(id ?? rawBody), type, payload, text };
  }

  /** The headers worth keeping: the scheme's own, content type and user agent; never credentials. */
  keptHeaders(headers: WebhookHeaders): Record<string, string> {
    const kept: Record<string, string> = {};
    for (const name in headers) {
      const value = headers[name];
      if (value === undefined || NEVER_KEPT.has(name)) continue;
      if (this.keepNames.has(name) || this.keepPrefixes.some((k) => name.startsWith(k))) kept[name] = value;
    }
    return kept;
  }
}

/** The configured sources by name, their verifiers built once at boot. */
@Injectable()
export class InboundSources {
  private readonly byName = new Map<string, InboundSource>();

  constructor(@Inject(WEBHOOKS_OPTIONS) options: ResolvedWebhooksOptions) {
    for (const [name, source] of Object.entries(options.inbound.sources)) {
      this.byName.set(name, new InboundSource(name, verifierFor(source as InboundSourceOptions), source));
    }
  }

  /** The source of that name, or undefined. */
  get(name: string | undefined): InboundSource | undefined {
    return name === undefined ? undefined : this.byName.get(name);
  }

  /** Every configured source name. */
  names(): string[] {
    return [...this.byName.keys()];
  }
}

/** The id that stands in for a missing one: `sha256:` and the hex digest. */
export function hashId(data: string | Buffer): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

const logger = new Logger(InboundSource.name);

const VERIFY_FAILURES = new Set<unknown>(Object.keys(verifyFailureDetails));

/** `{ ok: true }`, or `{ ok: false }` with a known reason: what a verifier may return. */
function isVerifyResult(r: unknown): r is VerifyResult {
  const result = r as { ok?: unknown; reason?: unknown } | null;
  if (typeof result !== 'object' || result === null) return false;
  return result.ok === true || (result.ok === false && VERIFY_FAILURES.has(result.reason));
}
