/** How a {@link Batcher} gathers items. */
export interface BatcherOptions {
  /** The most items one flush takes. */
  max: number;
  /** Flush at once when this many items wait; `max` when absent (`Infinity`: always wait). */
  ready?: number;
  /** How long the first item of a batch waits for company, in ms; 0 = event-loop turns ({@link turns}). */
  waitMs: number;
  /** With `waitMs` 0: the event-loop turns the first item waits (default 1: until the current turn ends). */
  turns?: number;
  /** One flush at a time: items that arrive during a flush form the next batch (group commit). */
  serial: boolean;
}

interface Waiting<I, R> {
  item: I;
  resolve: (result: R) => void;
  reject: (err: unknown) => void;
}

/**
 * Gathers items added close together (the jobs in flight of one worker, the inbox calls of one
 * burst) and hands them to `flush` as one batch, so that a statement or a commit is paid per
 * batch, not per item. Each `add()` settles only when its batch has been flushed, with its own
 * item's result or error.
 */
export class Batcher<I, R> {
  private waiting: Waiting<I, R>[] = [];
  private cancelWait: (() => void) | null = null;
  private flushing = 0;
  private idle: { done: Promise<void>; resolve: () => void } | null = null;

  constructor(
    private readonly flush: (items: I[]) => Promise<(R | Error)[]>,
    private readonly options: BatcherOptions,
  ) {}

  /** Queues `item`; resolves with its result once its batch is flushed. */
  add(item: I): Promise<R> {
    if (!this.idle) {
      let resolve!: () => void;
      const done = new Promise<void>((r) => (resolve = r));
      this.idle = { done, resolve };
    }
    return new Promise<R>((resolve, reject) => {
      this.waiting.push({ item, resolve, reject });
      if (this.flushing > 0 && this.options.serial) return;
      if (this.waiting.length >= (this.options.ready ?? this.options.max)) this.start();
      else this.cancelWait ??= this.wait();
    });
  }

  /** Items waiting for a flush (not those being flushed). */
  get size(): number {
    return this.waiting.length;
  }

  /** Resolves once every item added so far has been flushed (at shutdown, before the database closes). */
  drained(): Promise<void> {
    return this.idle?.done ?? Promise.resolve();
  }

  private wait(): () => void {
    const { waitMs, turns = 1 } = this.options;
    if (waitMs > 0) {
      const timer = setTimeout(() => this.start(), waitMs);
      return () => clearTimeout(timer);
    }
    let immediate: NodeJS.Immediate;
    const turn = (left: number): void => {
      immediate = left <= 1 ? setImmediate(() => this.start()) : setImmediate(turn, left - 1);
    };
    turn(turns);
    return () => clearImmediate(immediate);
  }

  private start(): void {
    this.cancelWait?.();
    this.cancelWait = null;
    if (this.waiting.length === 0 || (this.flushing > 0 && this.options.serial)) return;
    const batch = this.waiting.splice(0, this.options.max);
    this.flushing++;
    void this.run(batch);
  }

  private async run(batch: Waiting<I, R>[]): Promise<void> {
    try {
      const results = await this.flush(batch.map((w) => w.item));
      batch.forEach((w, i) => (results[i] instanceof Error ? w.reject(results[i]) : w.resolve(results[i] as R)));
    } catch (err) {
      for (const w of batch) w.reject(err);
    } finally {
      this.flushing--;
      // Whatever gathered meanwhile has waited a flush already: it goes now.
      if (this.waiting.length) this.start();
      else if (this.flushing === 0 && !this.cancelWait) {
        this.idle?.resolve();
        this.idle = null;
      }
    }
  }
}
