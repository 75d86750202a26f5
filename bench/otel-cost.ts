import { EventEmitter } from 'node:events';
import { metrics, trace } from '@opentelemetry/api';
import { resolveWebhooksOptions } from '../src/webhooks.options.js';
import { WebhookTelemetry } from '../src/observability/webhook-telemetry.js';
import { benchOtel } from './otel.js';

/**
 * CPU time of the module's telemetry calls per delivery attempt and per inbound call, in this
 * process, with no SDK or with one (BENCH_OTEL=1): the hooks alone, without the I/O around them,
 * so the figure does not move with the machine's load as rates do. Run alone:
 * `node build/bench/otel-cost.js` and `BENCH_OTEL=1 node build/bench/otel-cost.js`.
 */
const N = Number(process.env.BENCH_N ?? 50_000);
await benchOtel();
const telemetry = new WebhookTelemetry(resolveWebhooksOptions({}));
const body = '{"type":"order.created","timestamp":"2026-12-07T00:00:00.000Z","data":{}}';
const result = { statusCode: 200, errorClass: null, durationMs: 12, outcome: 'succeeded', ended: 'succeeded' as const };

async function delivery(): Promise<void> {
  const { deliveryIds } = await telemetry.traceSend('order.created', async () => ({ deliveryIds: ['dlv_1'] }));
  const carrier = telemetry.jobTrace(deliveryIds[0]);
  const attempt = telemetry.startAttempt(carrier, 1, body);
  telemetry.outboundHeaders(attempt, { 'content-type': 'application/json' });
  telemetry.endAttempt(attempt, body, result);
}

async function inbound(): Promise<void> {
  const response = Object.assign(new EventEmitter(), { statusCode: 200 });
  const ctx = telemetry.inboundCall('partner', { 'content-type': 'application/json' }, response);
  await telemetry.within(ctx, () => telemetry.handler('partner', 'order.created', 'Handlers.created', async () => 1));
  response.emit('close');
}

/**
 * The least any instrumentation of issue 20's points 2 and 3 spends on an inbound call with one
 * handler, straight on the API: two spans without attributes or context, one counter add and one
 * histogram record with the fewest labels. Not the module's code: its floor under the same SDK.
 */
const floorTracer = trace.getTracer('floor');
const floorCalls = metrics.getMeter('floor').createCounter('floor.calls');
const floorDuration = metrics.getMeter('floor').createHistogram('floor.duration');
const floorLabels = { source: 'partner' };
async function inboundFloor(): Promise<void> {
  const call = floorTracer.startSpan('call');
  const handler = floorTracer.startSpan('handler');
  handler.end();
  floorDuration.record(0.001, floorLabels);
  floorCalls.add(1, floorLabels);
  call.end();
}

async function measure(name: string, run: () => Promise<void>): Promise<string> {
  for (let i = 0; i < N / 10; i++) await run();
  const cpu = process.cpuUsage();
  for (let i = 0; i < N; i++) await run();
  const used = process.cpuUsage(cpu);
  return `${name}: ${((used.user + used.system) / N).toFixed(2)} µs CPU per call`;
}

console.log(
  `OpenTelemetry SDK: ${process.env.BENCH_OTEL === '1' ? 'registered' : 'none'}; N=${N}\n` +
    `${await measure('send + attempt (traceSend, jobTrace, startAttempt, outboundHeaders, endAttempt)', delivery)}\n` +
    `${await measure('inbound call + one handler (inboundCall, within, handler, answer)', inbound)}\n` +
    `${await measure('floor of an inbound call: two bare spans, one counter add, one histogram record', inboundFloor)}`,
);
process.exit(0);
