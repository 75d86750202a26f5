/** How a {@link Batcher} gathers items. */
export interface BatcherOptions {
  /** Flush at once when this many items wait. */
  max: number;
  /** How long the first item of a batch waits for company; 0 = until the current event-loop turn ends. */
  waitMs: number;
  /** One flush at a time: items that arrive during a flush form the next batch (group commit). */
  serial: boolean;
}

interface Waiting<I, R> {
  item: I;
  resolve: (result: R) => void;
  reject: (err: unknown) => void;
}

/**
 * Gathers items added close together (the jobs in flight of one worker) and hands them to
 * `flush` as one batch, so that a statement or a commit is paid per batch, not per item. Each
 * `add()` settles only when its batch has been flushed, with its own item's result or error.
 */
export class Batcher<I, R> {
  private waiting: Waiting<I, R>[] = [];
  private timer: NodeJS.Timeout | NodeJS.Immediate | null = null;
  private flushing = false;

  constructor(
    private readonly flush: (items: I[]) => Promise<(R | Error)[]>,
    private readonly options: BatcherOptions,
  ) {}

  /** Queues `item`; resolves with its result once its batch is flushed. */
  add(item: I): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.waiting.push({ item, resolve, reject });
      if (this.flushing && this.options.serial) return;
      if (this.waiting.length >= this.options.max) this.start();
      else
        this.timer ??=
          this.options.waitMs > 0
            ? setTimeout(() => this.start(), this.options.waitMs)
            : setImmediate(() => this.start());
    });
  }

  private start(): void {
    if (this.timer) {
      clearTimeout(this.timer as NodeJS.Timeout);
      clearImmediate(this.timer as NodeJS.Immediate);
    }
    this.timer = null;
    if (this.waiting.length === 0 || (this.flushing && this.options.serial)) return;
    const batch = this.waiting.splice(0, this.options.max);
    this.flushing = true;
    void this.run(batch);
  }

  private async run(batch: Waiting<I, R>[]): Promise<void> {
    try {
      const results = await this.flush(batch.map((w) => w.item));
      batch.forEach((w, i) => (results[i] instanceof Error ? w.reject(results[i]) : w.resolve(results[i] as R)));
    } catch (err) {
      for (const w of batch) w.reject(err);
    } finally {
      this.flushing = false;
      // Whatever gathered meanwhile has waited a flush already: it goes now.
      if (this.waiting.length) this.start();
    }
  }
}
