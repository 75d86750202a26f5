import { shown } from '../utils/shown.js';
import { CLAIM_LEASE_MS } from './inbox.store.js';

/** User-facing text of the receiving side, as small factories that the tests import. */
export const inboundMessages = {
  rawBodyMissing: (source: string) =>
    `Webhook for source "${source}" arrived without a raw body, so its signature cannot be checked: ` +
    'create the app with { rawBody: true } (NestFactory.create(AppModule, { rawBody: true }), or ' +
    'createNestApplication({ rawBody: true }) in tests).',
  /** What the sender reads when the app, not the call, is at fault: nothing about its configuration. */
  receiverFault: () => 'The receiver cannot verify webhooks at the moment; its operator has been told. Retry later.',
  unsupportedMediaType: (source: string, contentType: string | undefined) =>
    `Webhook for source "${source}" has Content-Type ${contentType ? shown(contentType) : '(none)'}, which no body ` +
    'parser kept as raw bytes: send JSON or form data, or register a parser for it (app.useBodyParser) ' +
    'with { rawBody: true }.',
  undecodableBody: (source: string, reason: string) =>
    `Webhook for source "${source}": the HTTP adapter could not decode the body (${shown(reason)}): send it ` +
    'as UTF-8, uncompressed or with a Content-Encoding the adapter inflates (gzip, deflate, br).',
  unknownSource: (source: string) => `No webhook source is configured as ${shown(source)}.`,
  payloadTooLarge: (bytes: number, limit: number) =>
    `The body is ${bytes} bytes; the limit is ${limit} (inbound.bodyLimit).`,
  adapterBodyLimit: (limit: number) => `The body is over the HTTP adapter's own limit of ${limit} bytes.`,
  rejected: (source: string, code: string, status: number, ip: string | undefined) =>
    `Rejected webhook for source ${shown(source)}${ip ? ` from ${shown(ip, 64)}` : ''}: ${code} (${status}).`,
  invalidJson: () => 'The body was verified but is not valid JSON.',
  notUtf8: () => 'The body was verified but is not UTF-8, which JSON and form bodies must be.',
  formNotUtf8: () =>
    'The body was verified but its form holds percent-escapes of bytes that are not UTF-8, which form fields must be.',
  invalidEventType: (why: string) => `The body was verified but ${why}.`,
  handlerFailed: () => 'A handler failed; the event was released, so a retry will run it again.',
  verifierFailed: () => "The source's verifier failed on this call; nothing was stored, so a retry will be read again.",
  verifierFault: (source: string, part: string, what: string) =>
    `The verifier of source "${source}" failed: ${part} ${what}. The call was answered 500 and not stored.`,
  inboxUnavailable: () => 'The webhook inbox cannot be written right now; retry later.',
  unstorable: () => 'The webhook inbox cannot store the values of this event; sending it again will not help.',
  queueUnavailable: () => 'The webhook queue cannot be reached right now; retry later.',
  releasedUnfinished: (count: number) =>
    `Released ${count} webhook inbox row${count === 1 ? '' : 's'} whose handlers never finished (the process ended ` +
    'mid-run): now "failed", so the sender\'s retry or WebhookInbox.replay runs them again.',
  releaseFailed: (message: string) =>
    `Could not release the webhook inbox rows of runs that never finished (${message}); a retry takes them once ` +
    `their ${CLAIM_LEASE_MS / 60_000}-minute lease is over.`,
  requeued: (count: number) =>
    `Queued ${count} received webhook inbox row${count === 1 ? '' : 's'} again: ` +
    `${count === 1 ? 'its job' : 'their jobs'} had vanished from Redis or been failed by Bull.`,
  reconcileFailed: (message: string) => `Looking for received webhook inbox rows without a job failed: ${message}`,
  otherProcess: () =>
    'Another process receives webhooks on this SQLite file: inbox rows still running are left to it (a row whose ' +
    `process has ended is taken again by a retry once its ${CLAIM_LEASE_MS / 60_000}-minute lease is over).`,
  outcomeNotRecorded: (id: string, message: string) =>
    `Could not record the outcome of inbox row ${id} before the app stopped (${message}): it stays "received", ` +
    'like a run whose process ended.',
  unfinishedRun: () => 'The process ended while the handlers ran; released at the next boot.',
  ignored: (source: string, type: string, id: string) =>
    `Ignored webhook ${source}/${shown(type)} (${shown(id)}): no handler matches.`,
  replyNotSent: (handler: string, why: string) =>
    `Handler ${handler} returned a webhookReply that is not sent: ${why}.`,
  handshake: (source: string, type: string) =>
    `Answered the ${shown(type)} handshake of source "${source}": not an event, so not stored.`,
  handlerThrew: (handler: string, source: string, type: string, id: string) =>
    `Handler ${handler} failed for webhook ${source}/${shown(type)} (${shown(id)}).`,
  unknownHandlerSource: (handler: string, source: string, known: string[]) =>
    `@OnWebhook on ${handler} names source "${source}", which is not configured: ` +
    `add it to inbound.sources (configured: ${known.length ? known.join(', ') : 'none'}) or fix the name.`,
  invalidHandlerFilter: (handler: string, filter: unknown) =>
    `@OnWebhook on ${handler} has the event type ${shown(filter)}: use an exact type, "prefix.*" or "*".`,
  requestScopedHandler: (handler: string) =>
    `@OnWebhook on ${handler} is ignored: handlers must live on singleton providers or controllers, not request-scoped ones.`,
};

/** Verification failures, as the `detail` of their problem answer (never echoing a signature). */
export const verifyFailureDetails: Record<string, string> = {
  missing_headers: 'A required webhook header (id, timestamp or event) is missing.',
  malformed_headers: 'A webhook id or timestamp header is malformed.',
  missing_signature: 'The signature header is missing.',
  malformed_signature: 'The signature header is malformed.',
  signature_mismatch: 'No signature matches the body with any configured secret.',
  timestamp_out_of_tolerance: 'The signed timestamp is too far from the current time.',
};
