import { describe, expect, it } from '@jest/globals';
import { WebhookValidationError } from '../../src/errors/webhook-validation.error.js';
import { deleteInBatches, pruneCutoff } from '../../src/database/prune.js';

describe('deleteInBatches', () => {
  it('runs full batches until one deletes fewer, and adds them up', async () => {
    const results = [3, 3, 1, 3];
    const calls: number[] = [];
    const total = await deleteInBatches(3, async () => {
      calls.push(calls.length);
      return results[calls.length - 1];
    });
    expect([total, calls.length]).toEqual([7, 3]);
  });

  it('stops between batches once its signal is aborted, keeping what it deleted', async () => {
    const abort = new AbortController();
    let calls = 0;
    const total = await deleteInBatches(
      10,
      async () => {
        if (++calls === 2) abort.abort();
        return 10;
      },
      abort.signal,
    );
    expect([total, calls]).toEqual([20, 2]);
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
