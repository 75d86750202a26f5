import type { InboundSourceOptions } from './inbound-source.interface.js';
import type { EventTypeDefinition, PortalOptions, ResolvedPortalOptions } from './portal-options.interface.js';

/**
 * Which halves of the pipeline this process runs.
 * @publicApi
 */
export type WebhooksRole = 'all' | 'emitter' | 'worker';

/**
 * Outbound network policy: which destinations the delivery client may connect to.
 * @publicApi
 */
export interface NetworkPolicyOptions {
  /**
   * CIDRs (`127.0.0.1/32`, `10.0.0.0/8`, `::1/128`) or host names (`hooks.internal`) that are
   * reachable even though they resolve to private, loopback or other refused ranges.
   * @default []
   */
  allow?: string[];
  /**
   * Refuse plain `http://` endpoint URLs (at create time and at delivery time).
   * @default false
   */
  httpsOnly?: boolean;
}

/**
 * Options of the sending side.
 * @publicApi
 */
export interface OutboundOptions {
  /**
   * Delay before each attempt, in milliseconds; the first entry is the first attempt, made at
   * once: it must be 0. The length is the number of attempts.
   * @default [0, 5_000, 300_000, 1_800_000, 7_200_000, 18_000_000, 36_000_000, 36_000_000]
   */
  schedule?: number[];
  /**
   * Random spread applied to every scheduled delay, as a fraction (0.2 = ±20 %).
   * @default 0.2
   */
  jitter?: number;
  /**
   * Total deadline of one attempt (connect, headers and body), in milliseconds.
   * @default 15_000
   */
  timeoutMs?: number;
  /**
   * How many bytes of each response body are read and kept in the attempt log.
   * @default 4096
   */
  maxResponseBodyBytes?: number;
  /**
   * Largest accepted `data` of one message once serialised to JSON, in bytes.
   * @default 262_144
   */
  maxPayloadBytes?: number;
  /**
   * Deliveries processed at once by this worker process. Deliveries mostly wait on receivers
   * (up to `timeoutMs` each), so a slow endpoint should not hold the others up; with more jobs in
   * flight the worker's database reads and writes also batch better. Lower it when a few small
   * receivers get all the traffic: one endpoint can see up to this many requests at once.
   * @default 50
   */
  concurrency?: number;
  /**
   * `User-Agent` of outbound requests.
   * @default 'nestjs-webhooks/0.1'
   */
  userAgent?: string;
  /**
   * A `Retry-After` on 429 / 503 is honoured up to this multiple of the scheduled delay.
   * @default 2
   */
  retryAfterMaxFactor?: number;
  /**
   * An endpoint that has failed without a single success for this long is disabled.
   * @default 432_000_000 (5 days)
   */
  disableAfterMs?: number;
  /**
   * How often committed deliveries that never reached the queue are looked for.
   * @default 1000
   */
  relayIntervalMs?: number;
  /**
   * How often enqueued deliveries whose Bull job vanished are looked for.
   * @default 30_000
   */
  reconcileIntervalMs?: number;
  /**
   * How long the delivery ids of commits gather before one Bull `addBulk` publishes them, in ms.
   * Jobs added together cost Redis and Bull less each; `0` publishes at the end of the event-loop
   * turn of the commit.
   * @default 16
   */
  publishGatherMs?: number;
  /**
   * How long the `enqueued_at` marks of enqueued deliveries gather before one UPDATE writes them,
   * in ms (at most a quarter of `relayIntervalMs` is used, so marks land before the relay looks).
   * @default 250
   */
  markGatherMs?: number;
  /**
   * How long the delivery log of a fully delivered message is kept, in ms: once a day the module
   * deletes messages older than this whose every delivery succeeded (or that had none), with
   * their deliveries and attempts. Messages with a pending, failed or discarded delivery are
   * kept. An idempotency key is remembered as long as its message. `0` keeps everything
   * (`WebhookService.prune` deletes on demand). At least one day when not 0.
   * @default 2_592_000_000 (30 days)
   */
  retentionMs?: number;
  /**
   * Outbound network policy. The default refuses private, loopback, link-local, CGNAT,
   * multicast, reserved and metadata addresses.
   * @default { allow: [], httpsOnly: false }
   */
  network?: NetworkPolicyOptions;
}

/**
 * Options of the receiving side.
 * @publicApi
 */
export interface InboundOptions {
  /**
   * Route prefix: calls arrive at `POST /<path>/:source`. With `forRootAsync`, give it as the
   * `inboundPath` extra instead, since routes are fixed before async options resolve.
   * @default 'webhooks'
   */
  path?: string;
  /** The senders this app accepts, by the name used in the URL. @default {} */
  sources?: Record<string, InboundSourceOptions>;
  /**
   * `sync` runs handlers before answering; `queue` stores, enqueues on Bull and answers 202.
   * @default 'sync'
   */
  mode?: 'sync' | 'queue';
  /**
   * Largest accepted raw body, in bytes (the HTTP adapter's own limit applies first).
   * @default 1_048_576
   */
  bodyLimit?: number;
  /**
   * How long `processed` and `ignored` inbox rows are kept, in ms: once a day the module deletes
   * the older ones, and a resend of such a call is no longer recognised as a duplicate, so keep
   * it well above your senders' retry window (Stripe: 3 days). `failed` and `received` rows are
   * never deleted by it. `0` keeps every row (prune with `WebhookInbox.prune` yourself).
   * At least one day when not 0.
   * @default 2_592_000_000 (30 days)
   */
  retentionMs?: number;
  /**
   * Attempts of a queued inbound call's handlers (queue mode).
   * @default 5
   */
  queueAttempts?: number;
  /**
   * Queue mode: how often `received` inbox rows whose Bull job vanished (Redis lost it, or Bull
   * failed it for stalling) are looked for and queued again.
   * @default 30_000
   */
  reconcileIntervalMs?: number;
}

/**
 * Metrics and traces, sent through `@opentelemetry/api`: they cost nothing until the app registers
 * an OpenTelemetry SDK (see docs/operations.md).
 * @publicApi
 */
export interface ObservabilityOptions {
  /**
   * Adds the W3C `traceparent` (and `tracestate`) of the attempt's span to outbound requests, so a
   * receiver that traces continues the sender's trace. Off by default: it tells receivers a trace id.
   * @default false
   */
  traceparent?: boolean;
  /**
   * How many distinct event types get their own metric label value; later ones are counted as
   * `other`, so a sender of ever-new types cannot grow the metric series without bound.
   * @default 50
   */
  eventTypeLabels?: number;
}

/**
 * Options of `WebhooksModule.forRoot` / `forRootAsync`. Every field is optional.
 * @publicApi
 */
export interface WebhooksModuleOptions {
  /**
   * `all` emits and delivers; `emitter` only writes and enqueues (API processes);
   * `worker` only delivers (worker processes sharing Redis and the database).
   * @default 'all'
   */
  role?: WebhooksRole;
  /**
   * SQLite only: how long the module's own writes wait for a transaction the app holds open on
   * the shared connection before failing with an error that says what to change (usually: pass
   * `{ manager }` to `send` inside your transaction).
   * @default 5000
   */
  sqliteWaitMs?: number;
  /**
   * better-sqlite3 in WAL mode only: who runs SQLite's checkpoints. `background`: a worker thread
   * with its own connection, and the app's connection keeps its own only as a backstop
   * (`wal_autocheckpoint = 4000`, put back to 1000 at shutdown); `inline`: SQLite's default, a
   * checkpoint inside the commit that crosses 1000 WAL pages, on the event loop.
   * @default 'background'
   */
  sqliteCheckpoint?: 'background' | 'inline';
  /** Sending side. @default all defaults */
  outbound?: OutboundOptions;
  /** Receiving side. @default no sources: every call answers 404 */
  inbound?: InboundOptions;
  /** Metrics and traces. @default no `traceparent` header, 50 event-type labels */
  observability?: ObservabilityOptions;
  /** The event-type catalog: names, descriptions, examples, schemas (portal picker, test events). @default [] */
  eventTypes?: EventTypeDefinition[];
  /** Refuse `send()` of a type missing from `eventTypes`. @default false */
  strictEventTypes?: boolean;
  /** The customer portal (page and API); with `forRoot` only. @default not mounted */
  portal?: PortalOptions;
}

/** Options with every default filled in: what the module's classes consume. */
export interface ResolvedWebhooksOptions {
  role: WebhooksRole;
  sqliteWaitMs: number;
  sqliteCheckpoint: 'background' | 'inline';
  outbound: Required<Omit<OutboundOptions, 'network'>> & { network: Required<NetworkPolicyOptions> };
  inbound: Required<Omit<InboundOptions, 'sources'>> & {
    sources: Record<string, ResolvedInboundSource>;
  };
  observability: Required<ObservabilityOptions>;
  eventTypes: EventTypeDefinition[];
  strictEventTypes: boolean;
  portal: ResolvedPortalOptions | null;
}

/** An inbound source with its defaults filled in. */
export type ResolvedInboundSource = InboundSourceOptions & { name: string; tolerance: number };
