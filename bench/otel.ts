/**
 * BENCH_OTEL=1: registers an OpenTelemetry SDK in this process before the app boots, as an app
 * that collects the module's metrics and traces would: every span recorded and batched, metrics
 * collected every 10 s, async context and W3C propagation. The exporters drop what they get, so
 * the figures show the module's instrumentation and the SDK, not a collector's network.
 * BENCH_OTEL_RATIO (0–1) samples that share of traces instead of all (`ParentBased` around
 * `TraceIdRatioBased`, as production apps commonly configure it).
 */
export async function benchOtel(): Promise<void> {
  if (process.env.BENCH_OTEL !== '1' || registered) return;
  registered = true;
  const { context, metrics, propagation, trace } = await import('@opentelemetry/api');
  const { AsyncLocalStorageContextManager } = await import('@opentelemetry/context-async-hooks');
  const { ExportResultCode, W3CTraceContextPropagator } = await import('@opentelemetry/core');
  const { MeterProvider, PeriodicExportingMetricReader } = await import('@opentelemetry/sdk-metrics');
  const { BasicTracerProvider, BatchSpanProcessor, ParentBasedSampler, TraceIdRatioBasedSampler } =
    await import('@opentelemetry/sdk-trace-base');
  const ratio = process.env.BENCH_OTEL_RATIO;
  const sampler =
    ratio === undefined ? undefined : new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(Number(ratio)) });
  const done = (_items: unknown, callback: (result: { code: number }) => void) =>
    callback({ code: ExportResultCode.SUCCESS });
  const dropping = { export: done, shutdown: async () => undefined, forceFlush: async () => undefined };
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  trace.setGlobalTracerProvider(
    new BasicTracerProvider({ sampler, spanProcessors: [new BatchSpanProcessor(dropping)] }),
  );
  metrics.setGlobalMeterProvider(
    new MeterProvider({
      readers: [new PeriodicExportingMetricReader({ exporter: dropping, exportIntervalMillis: 10_000 })],
    }),
  );
}

let registered = false;
