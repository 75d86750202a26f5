/**
 * The epoch milliseconds of a Date, or NaN for anything else: also for a Proxy of a Date, which
 * passes `instanceof` but whose `getTime()` throws a TypeError.
 */
export function timeOf(value: unknown): number {
  if (!(value instanceof Date)) return Number.NaN;
  try {
    return value.getTime();
  } catch {
    return Number.NaN;
  }
}
