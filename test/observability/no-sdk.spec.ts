import { afterEach, describe, expect, it } from '@jest/globals';
import { trace } from '@opentelemetry/api';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { EventEmitter } from 'node:events';
import { WebhookTelemetry } from '../../src/observability/webhook-telemetry.js';
import { resolveWebhooksOptions } from '../../src/webhooks.options.js';

const summary = { outcome: 'succeeded', statusCode: 200, durationMs: 3, ended: 'succeeded', errorClass: null } as const;

describe('WebhookTelemetry without an OpenTelemetry SDK', () => {
  afterEach(() => trace.disable());

  it('makes no span, context or response listener on the data paths', async () => {
    const telemetry = new WebhookTelemetry(resolveWebhooksOptions({}));
    const response = new EventEmitter();

    expect(telemetry.inboundCall('partner', { traceparent: 'x' }, response)).toBeUndefined();
    expect(response.listenerCount('close')).toBe(0);
    await expect(telemetry.handler('partner', 'a.b', 'H.run', async () => 'ran')).resolves.toBe('ran');
    await expect(telemetry.traceSend('a.b', async () => ({ deliveryIds: ['d1'] }))).resolves.toEqual({
      deliveryIds: ['d1'],
    });
    telemetry.carry(['d1']);
    expect(telemetry.jobTrace('d1')).toBeUndefined();
    const attempt = telemetry.startAttempt({ traceparent: 'x' }, 1, '{"type":"a.b"}');
    expect(attempt.span.isRecording()).toBe(false);
    expect(telemetry.outboundHeaders(attempt, { a: '1' })).toEqual({ a: '1' });
    expect(() => telemetry.endAttempt(attempt, '{"type":"a.b"}', summary)).not.toThrow();
  });

  it('traces once a tracer provider is registered, even after the module was created', () => {
    const telemetry = new WebhookTelemetry(resolveWebhooksOptions({}));
    const spans = new InMemorySpanExporter();
    trace.setGlobalTracerProvider(new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(spans)] }));
    const response = Object.assign(new EventEmitter(), { statusCode: 204 });

    const ctx = telemetry.inboundCall('partner', {}, response);
    expect(ctx).toBeDefined();
    expect(trace.getSpan(ctx!)?.isRecording()).toBe(true);
    expect(response.listenerCount('close')).toBe(1);
    response.emit('close');
    const [receive] = spans.getFinishedSpans();
    expect(receive.name).toBe('webhook receive');
    expect(receive.attributes['http.response.status_code']).toBe(204);
    expect(telemetry.startAttempt(undefined, 1, '{"type":"a.b"}').span.isRecording()).toBe(true);
  });
});
