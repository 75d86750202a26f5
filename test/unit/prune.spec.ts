import { describe, expect, it } from '@jest/globals';
import { WebhookValidationError } from '../../src/errors/webhook-validation.error.js';
import { deleteInBatches, pruneCutoff } from '../../src/database/prune.js';

describe('deleteInBatches', () => {
  it('runs full batches until one deletes fewer, adds them up, and starts each after the largest id the one before deleted', async () => {
    // RETURNING gives no order: the ids come back shuffled.
    const results = [['b', 'c', 'a'], ['f', 'd', 'e'], ['g'], ['h', 'i', 'j']];
    const afters: (string | null)[] = [];
    const total = await deleteInBatches(3, async (after: string | null) => {
      afters.push(after);
      return results[afters.length - 1];
    });
    expect([total, afters]).toEqual([7, [null, 'c', 'f']]);
  });

  it('compares numeric keys as numbers', async () => {
    const afters: (number | null)[] = [];
    await deleteInBatches(2, async (after: number | null) => {
      afters.push(after);
      return afters.length === 1 ? [9, 10] : [];
    });
    expect(afters).toEqual([null, 10]);
  });

  it('stops between batches once its signal is aborted, keeping what it deleted', async () => {
    const abort = new AbortController();
    let calls = 0;
    const total = await deleteInBatches(
      2,
      async () => {
        if (++calls === 2) abort.abort();
        return [`a${calls}`, `b${calls}`];
      },
      abort.signal,
    );
    expect([total, calls]).toEqual([4, 2]);
  });
});

describe('pruneCutoff', () => {
  it('takes a valid Date and refuses anything else', () => {
    expect(pruneCutoff(new Date(1_700_000_000_000))).toBe(1_700_000_000_000);
    for (const bad of [new Date('nope'), '2026-01-01', 1_700_000_000_000, undefined]) {
      expect(() => pruneCutoff(bad)).toThrow(WebhookValidationError);
    }
  });
});
