import { WebhookValidationError } from '../errors/webhook-validation.error.js';

/** `olderThan` of a prune as epoch ms; anything but a valid Date is refused. */
export function pruneCutoff(olderThan: unknown): number {
  const ms = olderThan instanceof Date ? olderThan.getTime() : NaN;
  if (!Number.isFinite(ms)) throw new WebhookValidationError('olderThan', 'olderThan must be a valid Date.');
  return ms;
}

/**
 * Runs `batch` (one statement deleting up to `size` rows, resolving to how many went) until one
 * deletes fewer, or `signal` is aborted between batches; resolves to the total. What was deleted
 * stays deleted.
 */
export async function deleteInBatches(
  size: number,
  batch: () => Promise<number>,
  signal?: AbortSignal,
): Promise<number> {
  let total = 0;
  for (;;) {
    const deleted = await batch();
    total += deleted;
    if (deleted < size || signal?.aborted) return total;
  }
}
