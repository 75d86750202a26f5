import { afterEach, beforeEach, describe, expect, it, jest } from '@jest/globals';
import { settleWithin, withTimeout } from '../../src/utils/settle.js';
import { deferred } from '../support/deferred.js';

// Both helpers race a timer: a fake clock moves it.
beforeEach(() => {
  jest.useFakeTimers();
});
afterEach(() => {
  jest.useRealTimers();
});

describe('withTimeout', () => {
  it('rejects with the message once the time is up, running onTimeout first', async () => {
    const work = deferred<string>();
    const order: string[] = [];
    const result = withTimeout(work.promise, 2_000, 'Redis did not answer', () => order.push('onTimeout'));
    const settled = result.catch((err: Error) => order.push(`rejected: ${err.message}`));
    await jest.advanceTimersByTimeAsync(1_999);
    expect(order).toEqual([]);
    await jest.advanceTimersByTimeAsync(1);
    await settled;
    expect(order).toEqual(['onTimeout', 'rejected: Redis did not answer']);
    expect(jest.getTimerCount()).toBe(0);
  });

  it("gives the work's result and clears its timer when the work is in time", async () => {
    const onTimeout = jest.fn();
    const result = withTimeout(Promise.resolve('added'), 2_000, 'late', onTimeout);
    await expect(result).resolves.toBe('added');
    expect(jest.getTimerCount()).toBe(0);
    await jest.advanceTimersByTimeAsync(5_000);
    expect(onTimeout).not.toHaveBeenCalled();
  });

  it("passes the work's own rejection on and clears its timer", async () => {
    const onTimeout = jest.fn();
    await expect(withTimeout(Promise.reject(new Error('refused')), 2_000, 'late', onTimeout)).rejects.toThrow(
      'refused',
    );
    expect(jest.getTimerCount()).toBe(0);
    expect(onTimeout).not.toHaveBeenCalled();
  });
});

describe('settleWithin', () => {
  it("says 'late' once the time is up and 'done' for work that settled in time, either way", async () => {
    const hung = settleWithin(deferred<void>().promise, 5_000);
    await jest.advanceTimersByTimeAsync(5_000);
    await expect(hung).resolves.toBe('late');
    await expect(settleWithin(Promise.resolve(), 5_000)).resolves.toBe('done');
    await expect(settleWithin(Promise.reject(new Error('x')), 5_000)).resolves.toBe('done');
    expect(jest.getTimerCount()).toBe(0);
  });
});
