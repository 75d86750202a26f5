import { WebhookValidationError } from '../errors/webhook-validation.error.js';

/** `olderThan` of a prune as epoch ms; anything but a valid Date is refused. */
export function pruneCutoff(olderThan: unknown): number {
  const ms = olderThan instanceof Date ? olderThan.getTime() : NaN;
  if (!Number.isFinite(ms)) throw new WebhookValidationError('olderThan', 'olderThan must be a valid Date.');
  return ms;
}

/**
 * Runs `batch` (one statement deleting up to `size` rows with ids after `after`, oldest first,
 * resolving to the ids it deleted) until one deletes fewer, or `signal` is aborted between
 * batches; resolves to the total. Each batch starts after the last id the one before deleted, so
 * the rows a prune keeps (a failed delivery's message, a failed inbox call) are read once per
 * prune, not again by every batch. What was deleted stays deleted.
 */
export async function deleteInBatches(
  size: number,
  batch: (after: string) => Promise<string[]>,
  signal?: AbortSignal,
): Promise<number> {
  let total = 0;
  let after = '';
  for (;;) {
    const deleted = await batch(after);
    total += deleted.length;
    if (deleted.length < size || signal?.aborted) return total;
    // RETURNING gives no order: the largest id deleted.
    for (const id of deleted) if (id > after) after = id;
  }
}
