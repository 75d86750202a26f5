import type { Attributes, Meter, MetricOptions } from '@opentelemetry/api';

/** What the telemetry needs of one finished attempt. */
export interface AttemptSummary {
  statusCode: number | null;
  errorClass: string | null;
  durationMs: number;
  /** What follows the attempt: `succeeded`, `retry`, `failed` or `gone`. */
  outcome: string;
  /** The delivery's final status, when this attempt ended it. */
  ended?: 'succeeded' | 'failed';
}

/**
 * Label values from an open set (event types sent or received) kept to a bounded number of
 * series: the first `cap` values keep their name, later ones become `other`.
 */
export class BoundedLabels {
  private readonly seen = new Set<string>();

  constructor(private readonly cap: number) {}

  of(value: string): string {
    if (this.seen.has(value)) return value;
    if (this.seen.size >= this.cap) return 'other';
    this.seen.add(value);
    return value;
  }
}

/** `2xx` … `5xx` for an answer; the error class (`timeout`, `blocked`, `network`) for none. */
export function statusClass({ statusCode, errorClass }: Pick<AttemptSummary, 'statusCode' | 'errorClass'>): string {
  if (statusCode !== null) return `${Math.floor(statusCode / 100)}xx`;
  if (errorClass === 'timeout' || errorClass === 'blocked') return errorClass;
  return 'network';
}

/**
 * A counter kept in the module and read by the SDK when it collects (an observable counter):
 * counting is then a Map lookup, where a synchronous counter makes the SDK hash the labels on
 * every add. For counts on the data paths; the label sets must be bounded.
 */
export class Tally {
  private readonly counts = new Map<string, { attributes: Attributes; value: number }>();

  constructor(meter: Meter, name: string, options: MetricOptions) {
    meter.createObservableCounter(name, options).addCallback((result) => {
      for (const { attributes, value } of this.counts.values()) result.observe(value, attributes);
    });
  }

  /** Adds `n` (one) to the series of `attributes`, whose values joined make `key`. */
  add(key: string, attributes: () => Attributes, n = 1): void {
    const count = this.counts.get(key);
    if (count) count.value += n;
    else this.counts.set(key, { attributes: attributes(), value: n });
  }
}
