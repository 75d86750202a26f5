/** Carries the processor's chosen delay to Bull's backoff strategy. */
export class RetryLaterError extends Error {
  override readonly name = 'RetryLaterError';
  constructor(
    readonly delayMs: number,
    reason: string,
  ) {
    super(reason);
  }
}
