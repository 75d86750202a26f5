/** Time beyond the attempt timeout that shutdown allows for recording the last attempts. */
export const SHUTDOWN_MARGIN_MS = 5_000;

/**
 * The longest wait a Node timer takes (2^31 - 1 ms, about 24.8 days). A longer one is not an
 * error: Node warns and fires it after 1 ms. Options that set a timer are bounded by it.
 */
export const MAX_TIMER_MS = 2_147_483_647;

/**
 * Races `work` against a timer of `ms` that is cleared as soon as either side wins, so a settled
 * wait leaves no timer holding the process. `onLate` gives the timer's outcome; a throw rejects.
 */
async function raceTimer<T, L>(work: Promise<T>, ms: number, onLate: () => L): Promise<T | L> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<L>((resolve) => {
    // The inner executor turns a throw of `onLate` into a rejection instead of an uncaught error.
    // A bound made of sums (timeoutMs + a margin) may pass Node's longest timer: it waits that long.
    timer = setTimeout(() => resolve(new Promise<L>((lateValue) => lateValue(onLate()))), Math.min(ms, MAX_TIMER_MS));
  });
  try {
    return await Promise.race([work, late]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Waits for `work` for at most `ms`: 'done' when it settled in time (resolved or rejected),
 * 'late' otherwise. Shutdown uses it so that a database or Redis that stops answering cannot
 * hold the process beyond its documented bound.
 */
export function settleWithin(work: Promise<unknown>, ms: number): Promise<'done' | 'late'> {
  const settled = work.then(
    () => 'done' as const,
    () => 'done' as const,
  );
  return raceTimer(settled, ms, () => 'late' as const);
}

/**
 * `work`'s result, or a rejection with `Error(message)` when it takes longer than `ms`.
 * `onTimeout` runs when the timer fires, before the rejection (a breaker trips there).
 */
export function withTimeout<T>(work: Promise<T>, ms: number, message: string, onTimeout?: () => void): Promise<T> {
  return raceTimer(work, ms, (): never => {
    onTimeout?.();
    throw new Error(message);
  });
}
