/** Time beyond the attempt timeout that shutdown allows for recording the last attempts. */
export const SHUTDOWN_MARGIN_MS = 5_000;

/**
 * Waits for `work` for at most `ms`: 'done' when it settled in time (resolved or rejected),
 * 'late' otherwise. Shutdown uses it so that a database or Redis that stops answering cannot
 * hold the process beyond its documented bound.
 */
export async function settleWithin(work: Promise<unknown>, ms: number): Promise<'done' | 'late'> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), ms)));
  try {
    return await Promise.race([
      work.then(
        () => 'done' as const,
        () => 'done' as const,
      ),
      late,
    ]);
  } finally {
    clearTimeout(timer);
  }
}
