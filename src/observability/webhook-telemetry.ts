import { Inject, Injectable } from '@nestjs/common';
import {
  context,
  createNoopMeter,
  INVALID_SPAN_CONTEXT,
  metrics,
  propagation,
  ProxyTracerProvider,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
  type Context,
  type Span,
} from '@opentelemetry/api';
import type { IncomingHttpHeaders, ServerResponse } from 'node:http';
import type { ResolvedWebhooksOptions } from '../interfaces/webhooks-options.interface.js';
import { WEBHOOKS_OPTIONS } from '../webhooks.constants.js';
import { BoundedLabels, statusClass, Tally, type AttemptSummary } from './telemetry.labels.js';

/** The W3C trace context of a `send()`, as it travels in a delivery job's data. */
export type TraceCarrier = Record<string, string>;

/** An attempt's span, open while its POST runs. */
export interface AttemptTrace {
  span: Span;
  context: Context;
}

const SCOPE = 'nestjs-webhooks';
/** Trace contexts waiting for the enqueue of a held commit; more are dropped (the attempt then starts its own trace). */
const MAX_CARRIED = 10_000;
/** What the API hands out while no SDK is registered. */
const NOOP_TRACER_PROVIDER = new ProxyTracerProvider().getDelegate();
const NOOP_METER = createNoopMeter();
/** The attempt "span" while nothing traces: no span is made and nothing is kept. */
const UNTRACED_ATTEMPT: AttemptTrace = { span: trace.wrapSpanContext(INVALID_SPAN_CONTEXT), context: ROOT_CONTEXT };

/**
 * Metrics and spans through `@opentelemetry/api`. Until the app registers an OpenTelemetry SDK
 * every instrument and span would be the API's no-op; the data paths then skip them altogether
 * (no span, context or response listener is made). Metrics need the SDK registered before the
 * module is created (the API binds a meter once); traces are picked up whenever a tracer provider
 * is registered. Labels are bounded: configured source names, capped event types, status classes,
 * outcomes.
 */
@Injectable()
export class WebhookTelemetry {
  private readonly tracer = trace.getTracer(SCOPE);
  private readonly meter = metrics.getMeter(SCOPE);
  private readonly outboundTypes: BoundedLabels;
  private readonly inboundTypes: BoundedLabels;
  private readonly carried = new Map<string, TraceCarrier>();
  /**
   * Whether a meter provider was registered when the module was created: metrics are recorded, and
   * what only they need is done (skipped otherwise).
   */
  readonly metered = this.meter !== NOOP_METER;

  private readonly attempts = new Tally(this.meter, 'webhooks.outbound.attempts', {
    description: 'Delivery attempts, by event type, HTTP status class and what followed',
  });
  private readonly attemptDuration = this.meter.createHistogram('webhooks.outbound.attempt.duration', {
    description: 'Duration of a delivery attempt (the POST, from connect to the capped response read)',
    unit: 's',
  });
  private readonly deliveries = new Tally(this.meter, 'webhooks.outbound.deliveries', {
    description: 'Deliveries ended, by event type and outcome (succeeded, failed, discarded)',
  });
  private readonly disables = this.meter.createCounter('webhooks.outbound.endpoint.disables', {
    description: 'Endpoints disabled, by reason (gone: a 410 answer; failing: the failure streak)',
  });
  private readonly inboundCalls = new Tally(this.meter, 'webhooks.inbound.calls', {
    description: 'Inbound calls answered, by source and HTTP status',
  });
  private readonly handlerDuration = this.meter.createHistogram('webhooks.inbound.handler.duration', {
    description: 'Duration of one @OnWebhook handler run, by source, event type and outcome',
    unit: 's',
  });

  constructor(@Inject(WEBHOOKS_OPTIONS) private readonly options: ResolvedWebhooksOptions) {
    const cap = options.observability.eventTypeLabels;
    this.outboundTypes = new BoundedLabels(cap);
    this.inboundTypes = new BoundedLabels(cap);
  }

  /** Runs `send()` in its span, active while it writes and enqueues. */
  async traceSend<T extends { deliveryIds: string[] }>(type: string, send: () => Promise<T>): Promise<T> {
    if (!tracing()) return send();
    return this.tracer.startActiveSpan(
      'webhook send',
      { kind: SpanKind.PRODUCER, attributes: { 'webhooks.event_type': type } },
      async (span) => {
        try {
          const result = await send();
          span.setAttribute('webhooks.deliveries', result.deliveryIds.length);
          return result;
        } catch (err) {
          failed(span, err);
          throw err;
        } finally {
          span.end();
        }
      },
    );
  }

  /**
   * The trace context for the job of `deliveryId`: the one its `send()` left (a held commit is
   * enqueued later, from another context), else the active one (a send that enqueues in its span).
   */
  jobTrace(deliveryId: string): TraceCarrier | undefined {
    if (!tracing()) return undefined;
    const kept = this.carried.get(deliveryId);
    if (kept) {
      this.carried.delete(deliveryId);
      return kept;
    }
    const span = trace.getSpan(context.active());
    return span?.isRecording() ? this.inject(trace.setSpan(ROOT_CONTEXT, span)) : undefined;
  }

  /** Opens the span of one attempt, continuing the trace of the `send()` that created the delivery. */
  startAttempt(carrier: TraceCarrier | undefined, attempt: number, body: string): AttemptTrace {
    if (!tracing()) return UNTRACED_ATTEMPT;
    const parent = carrier ? propagation.extract(ROOT_CONTEXT, carrier) : ROOT_CONTEXT;
    const span = this.tracer.startSpan(
      'webhook attempt',
      {
        kind: SpanKind.CLIENT,
        attributes: { 'webhooks.event_type': eventTypeOf(body), 'webhooks.attempt': attempt },
      },
      parent,
    );
    return { span, context: trace.setSpan(parent, span) };
  }

  /** Headers of an attempt's POST: with its `traceparent` when `observability.traceparent` is on. */
  outboundHeaders(attempt: AttemptTrace, headers: Record<string, string>): Record<string, string> {
    if (!this.options.observability.traceparent || !attempt.span.isRecording()) return headers;
    return { ...headers, ...this.inject(attempt.context) };
  }

  /** Ends an attempt's span and counts it; `ended` is the delivery's final status when this attempt ended it. */
  endAttempt(attempt: AttemptTrace, body: string, summary: AttemptSummary): void {
    const status = statusClass(summary);
    if (this.metered) {
      const type = this.outboundTypes.of(eventTypeOf(body));
      this.attempts.add(`${type}\n${status}\n${summary.outcome}`, () => ({
        'webhooks.event_type': type,
        'webhooks.status_class': status,
        'webhooks.outcome': summary.outcome,
      }));
      this.attemptDuration.record(summary.durationMs / 1000, { 'webhooks.status_class': status });
      if (summary.ended) this.deliveryEnded(body, summary.ended);
    }
    const { span } = attempt;
    if (!span.isRecording()) return;
    span.setAttributes({
      'webhooks.outcome': summary.outcome,
      'webhooks.status_class': status,
      'webhooks.attempt.duration_ms': summary.durationMs,
    });
    if (summary.statusCode !== null) span.setAttribute('http.response.status_code', summary.statusCode);
    if (summary.errorClass) span.setAttribute('error.type', summary.errorClass);
    if (summary.outcome !== 'succeeded')
      span.setStatus({ code: SpanStatusCode.ERROR, message: summary.errorClass ?? '' });
    span.end();
  }

  /** A delivery that ended without an attempt (its endpoint was disabled meanwhile). */
  deliveryEnded(body: string, outcome: 'succeeded' | 'failed' | 'discarded'): void {
    if (!this.metered) return;
    const type = this.outboundTypes.of(eventTypeOf(body));
    this.deliveries.add(`${type}\n${outcome}`, () => ({ 'webhooks.event_type': type, 'webhooks.outcome': outcome }));
  }

  /** Deliveries discarded at once by an endpoint's disabling, as counts by event type. */
  deliveriesDiscarded(byType: ReadonlyMap<string, number>): void {
    if (!this.metered) return;
    for (const [eventType, n] of byType) {
      const type = this.outboundTypes.of(eventType);
      this.deliveries.add(
        `${type}\ndiscarded`,
        () => ({ 'webhooks.event_type': type, 'webhooks.outcome': 'discarded' }),
        n,
      );
    }
  }

  endpointDisabled(gone: boolean): void {
    this.disables.add(1, { 'webhooks.reason': gone ? 'gone' : 'failing' });
  }

  /**
   * Opens the span of an inbound call (continuing the sender's `traceparent`, if any) and counts
   * the call by its answer once the response is sent. Returns the context its handlers run in,
   * or undefined when nothing traces or counts.
   */
  inboundCall(source: string | undefined, headers: IncomingHttpHeaders, response: unknown): Context | undefined {
    if (!this.metered && !tracing()) return undefined;
    const label = source ?? 'unknown';
    const parent = propagation.extract(ROOT_CONTEXT, headers);
    const span = this.tracer.startSpan(
      'webhook receive',
      { kind: SpanKind.SERVER, attributes: { 'webhooks.source': label } },
      parent,
    );
    // Express hands the guard Node's response; Fastify its reply, which wraps it as `raw`.
    const raw = ((response as { raw?: ServerResponse }).raw ?? response) as ServerResponse;
    raw.once('close', () => {
      const code = raw.statusCode;
      this.inboundCalls.add(`${label}\n${code}`, () => ({
        'webhooks.source': label,
        'http.response.status_code': code,
      }));
      span.setAttribute('http.response.status_code', code);
      if (code >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
      span.end();
    });
    return trace.setSpan(parent, span);
  }

  /** Runs `fn` with `ctx` active (the inbound call's span), when there is one. */
  within<T>(ctx: Context | undefined, fn: () => T): T {
    return ctx ? context.with(ctx, fn) : fn();
  }

  /** Runs one handler in its span, timing it. */
  handler<T>(source: string, type: string, name: string, run: () => T | Promise<T>): T | Promise<T> {
    if (!this.metered && !tracing()) return run();
    const started = performance.now();
    const eventType = this.inboundTypes.of(type);
    // Attributes written out, not spread: the SDK handles spread copies markedly slower.
    return this.tracer.startActiveSpan(
      'webhook handler',
      {
        kind: SpanKind.CONSUMER,
        attributes: { 'webhooks.source': source, 'webhooks.event_type': eventType, 'webhooks.handler': name },
      },
      async (span) => {
        let outcome = 'ok';
        try {
          return await run();
        } catch (err) {
          outcome = 'error';
          failed(span, err);
          throw err;
        } finally {
          this.handlerDuration.record((performance.now() - started) / 1000, {
            'webhooks.source': source,
            'webhooks.event_type': eventType,
            'webhooks.outcome': outcome,
          });
          span.end();
        }
      },
    );
  }

  /**
   * Keeps the active trace context for deliveries whose jobs are enqueued later, at the commit of
   * the caller's transaction, from whatever context that commit runs in.
   */
  carry(ids: string[]): void {
    if (!tracing()) return;
    const span = trace.getSpan(context.active());
    if (!span?.isRecording()) return;
    const carrier = this.inject(trace.setSpan(ROOT_CONTEXT, span));
    for (const id of ids) {
      if (this.carried.size >= MAX_CARRIED) this.carried.delete(this.carried.keys().next().value!);
      this.carried.set(id, carrier);
    }
  }

  private inject(ctx: Context): TraceCarrier {
    const carrier: TraceCarrier = {};
    propagation.inject(ctx, carrier);
    return carrier;
  }
}

/** Whether a tracer provider is registered (read on each use: an SDK may register after boot). */
function tracing(): boolean {
  const provider = trace.getTracerProvider();
  return (provider instanceof ProxyTracerProvider ? provider.getDelegate() : provider) !== NOOP_TRACER_PROVIDER;
}

function failed(span: Span, err: unknown): void {
  span.recordException(err instanceof Error ? err : String(err));
  span.setStatus({ code: SpanStatusCode.ERROR, message: err instanceof Error ? err.message : String(err) });
}

/** The event type of a stored body, which `send()` always begins with `{"type":"…"`. */
export function eventTypeOf(body: string): string {
  const prefix = '{"type":"';
  if (!body.startsWith(prefix)) return 'other';
  const end = body.indexOf('"', prefix.length);
  return end > prefix.length ? body.slice(prefix.length, end) : 'other';
}
