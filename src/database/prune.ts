import { WebhookValidationError } from '../errors/webhook-validation.error.js';
import { timeOf } from '../utils/date.js';

/** `olderThan` of a prune as epoch ms; anything but a valid Date is refused. */
export function pruneCutoff(olderThan: unknown): number {
  const ms = timeOf(olderThan);
  if (!Number.isFinite(ms)) throw new WebhookValidationError('olderThan', 'olderThan must be a valid Date.');
  return ms;
}

/**
 * Runs `batch` (one statement deleting up to `size` rows, oldest first, from `after` on, resolving
 * to the keys of the rows it deleted: their ids or times) until one deletes fewer, or `signal` is
 * aborted between batches; resolves to the total. Each batch starts from the largest key the one
 * before deleted (`null` for the first), so the rows a prune keeps (a failed delivery's message, a
 * failed inbox call) and the index entries of rows already deleted are read once, not again by
 * every batch. What was deleted stays deleted.
 */
export async function deleteInBatches<K extends string | number>(
  size: number,
  batch: (after: K | null) => Promise<K[]>,
  signal?: AbortSignal,
): Promise<number> {
  let total = 0;
  let after: K | null = null;
  for (;;) {
    const deleted = await batch(after);
    total += deleted.length;
    if (deleted.length < size || signal?.aborted) return total;
    // RETURNING gives no order: the largest key deleted.
    for (const key of deleted) if (after === null || key > after) after = key;
  }
}
