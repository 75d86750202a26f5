import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { context, metrics, propagation, trace, type Attributes } from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { MeterProvider, MetricReader, type DataPoint, type Histogram } from '@opentelemetry/sdk-metrics';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
  type ReadableSpan,
} from '@opentelemetry/sdk-trace-base';

/** A reader that collects only when asked: the test reads the metrics it expects, when it expects them. */
class TestReader extends MetricReader {
  protected async onForceFlush(): Promise<void> {}
  protected async onShutdown(): Promise<void> {}
}

/** One data point of an instrument: its labels and value. */
export interface Point {
  attributes: Attributes;
  value: number | Histogram;
}

/**
 * An OpenTelemetry SDK as an app would register it (meter provider, tracer provider, async
 * context, W3C propagation), exporting to memory. Register it before the app boots.
 */
export class InMemoryOtel {
  readonly spans = new InMemorySpanExporter();
  private readonly reader = new TestReader();
  private readonly meterProvider = new MeterProvider({ readers: [this.reader] });
  private readonly tracerProvider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(this.spans)] });
  private readonly contextManager = new AsyncLocalStorageContextManager().enable();

  constructor() {
    metrics.setGlobalMeterProvider(this.meterProvider);
    trace.setGlobalTracerProvider(this.tracerProvider);
    context.setGlobalContextManager(this.contextManager);
    propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  }

  /** The points of one instrument now. */
  async points(name: string): Promise<Point[]> {
    const { resourceMetrics } = await this.reader.collect();
    const metric = resourceMetrics.scopeMetrics.flatMap((s) => s.metrics).find((m) => m.descriptor.name === name);
    return ((metric?.dataPoints ?? []) as DataPoint<number | Histogram>[]).map((p) => ({
      attributes: p.attributes,
      value: p.value,
    }));
  }

  /** The counter's value for exactly these labels (0 when never counted). */
  async count(name: string, attributes: Attributes): Promise<number> {
    const point = (await this.points(name)).find((p) => sameLabels(p.attributes, attributes));
    return point ? (point.value as number) : 0;
  }

  finished(name?: string): ReadableSpan[] {
    return this.spans.getFinishedSpans().filter((s) => name === undefined || s.name === name);
  }

  async close(): Promise<void> {
    await this.meterProvider.shutdown();
    await this.tracerProvider.shutdown();
    this.contextManager.disable();
    metrics.disable();
    trace.disable();
    context.disable();
    propagation.disable();
  }
}

function sameLabels(a: Attributes, b: Attributes): boolean {
  const keys = Object.keys(a);
  return keys.length === Object.keys(b).length && keys.every((k) => a[k] === b[k]);
}
