/** How a {@link Batcher} gathers items. */
export interface BatcherOptions {
  /** The most items one flush takes. */
  max: number;
  /** Flush at once when this many items wait; `max` when absent (`Infinity`: always wait). */
  ready?: number;
  /**
   * How long the first item of a batch waits for company, in ms, counted from its arrival; 0 =
   * event-loop turns ({@link turns}). With `serial`, items that arrive during a flush still wait
   * their time (a flush shorter than `waitMs` does not cut it short), and go as soon as that
   * flush ends if they have waited long enough. With `waitMs` 0 they go as soon as it ends.
   */
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
  /** When the first of `waiting` arrived (ms, `Date.now()`). */
  private firstAt = 0;
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
      if (this.waiting.length === 0 && this.options.waitMs > 0) this.firstAt = Date.now();
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

  private wait(waitMs = this.options.waitMs): () => void {
    const { turns = 1 } = this.options;
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

  /** After a flush: the next batch at once, or when its first item's wait ends. */
  private next(): void {
    const { waitMs, ready, max } = this.options;
    const left = waitMs > 0 ? this.firstAt + waitMs - Date.now() : 0;
    if (left > 0 && this.waiting.length < (ready ?? max)) this.cancelWait ??= this.wait(left);
    else this.start();
  }

  private async run(batch: Waiting<I, R>[]): Promise<void> {
    try {
      const results = await this.flush(batch.map((w) => w.item));
      batch.forEach((w, i) => (results[i] instanceof Error ? w.reject(results[i]) : w.resolve(results[i] as R)));
    } catch (err) {
      for (const w of batch) w.reject(err);
    } finally {
      this.flushing--;
      // Whatever gathered meanwhile goes now, unless its first item has a timed wait left.
      if (this.waiting.length) this.next();
      else if (this.flushing === 0 && !this.cancelWait) {
        this.idle?.resolve();
        this.idle = null;
      }
    }
  }
}
