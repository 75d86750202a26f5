import { describe, expect, it } from '@jest/globals';
import { Batcher } from '../../src/database/batcher.js';
import { deferred } from '../support/deferred.js';

/** Resolves after `n` event-loop turns (setImmediate callbacks). */
async function turns(n: number): Promise<void> {
  for (let i = 0; i < n; i++) await new Promise((resolve) => setImmediate(resolve));
}

/** A flush that records its batches and answers each item doubled, or its error for a negative item. */
function recorder() {
  const batches: number[][] = [];
  const flush = async (items: number[]) => {
    batches.push(items);
    return items.map((i) => (i < 0 ? new Error(`bad ${i}`) : i * 2));
  };
  return { batches, flush };
}

/** A batcher whose first flush waits for `gate`; records every batch and answers each item as is. */
function gated(options: ConstructorParameters<typeof Batcher<number, number>>[1]) {
  const gate = deferred<void>();
  const batches: number[][] = [];
  const batcher = new Batcher(async (items: number[]) => {
    batches.push(items);
    if (batches.length === 1) await gate.promise;
    return items;
  }, options);
  return { gate, batches, batcher };
}

describe('Batcher', () => {
  it('gathers the items of one event-loop turn into one flush, each caller getting its own result or error', async () => {
    const { batches, flush } = recorder();
    const batcher = new Batcher(flush, { max: 50, waitMs: 0, serial: false });
    const results = await Promise.allSettled([batcher.add(1), batcher.add(-2), batcher.add(3)]);
    expect(batches).toEqual([[1, -2, 3]]);
    expect(results.map((r) => (r.status === 'fulfilled' ? r.value : (r.reason as Error).message))).toEqual([
      2,
      'bad -2',
      6,
    ]);
  });

  it('waits the given event-loop turns for company, and starts at once when `ready` items wait', async () => {
    const { batches, flush } = recorder();
    const batcher = new Batcher(flush, { max: 200, ready: 3, waitMs: 0, turns: 2, serial: true });
    const first = batcher.add(1);
    await turns(1);
    expect(batches).toEqual([]);
    // Still inside the wait: joins the first batch.
    const second = batcher.add(2);
    await Promise.all([first, second]);
    expect(batches).toEqual([[1, 2]]);

    const burst = [batcher.add(10), batcher.add(11), batcher.add(12)];
    // The third item made the batch ready: flushed without waiting for the turns.
    expect(batches).toEqual([
      [1, 2],
      [10, 11, 12],
    ]);
    await Promise.all(burst);
  });

  it('serial: one flush at a time, what arrives meanwhile goes next in batches of at most `max`', async () => {
    const { gate, batches, batcher } = gated({ max: 2, waitMs: 0, serial: true });
    const all = [batcher.add(1)];
    await turns(1);
    expect(batches).toEqual([[1]]);
    all.push(batcher.add(2), batcher.add(3), batcher.add(4));
    await turns(3);
    expect(batches).toEqual([[1]]);
    gate.resolve();
    await Promise.all(all);
    expect(batches).toEqual([[1], [2, 3], [4]]);
  });

  it('rejects the whole batch when the flush throws; drained() resolves once nothing waits or runs', async () => {
    const gate = deferred<void>();
    const batcher = new Batcher(
      async (items: number[]) => {
        await gate.promise;
        if (items.includes(0)) throw new Error('database away');
        return items;
      },
      { max: 10, waitMs: 5, serial: true },
    );
    await batcher.drained();
    const calls = [batcher.add(0), batcher.add(1)].map((p) => p.catch((err: Error) => err.message));
    let drained = false;
    void batcher.drained().then(() => (drained = true));
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(drained).toBe(false);
    gate.resolve();
    expect(await Promise.all(calls)).toEqual(['database away', 'database away']);
    await batcher.drained();
    expect(drained).toBe(true);
  });

  it('serial with a timed wait: items that arrive during a short flush still wait their time for company', async () => {
    const { gate, batches, batcher } = gated({ max: 50, ready: Number.POSITIVE_INFINITY, waitMs: 150, serial: true });
    const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
    const all = [batcher.add(1)];
    await sleep(170);
    expect(batches).toEqual([[1]]);
    // Arrives during the flush, which ends long before its 150 ms are up: it keeps waiting.
    all.push(batcher.add(2));
    gate.resolve();
    await sleep(20);
    expect(batches).toEqual([[1]]);
    all.push(batcher.add(3));
    await Promise.all(all);
    expect(batches).toEqual([[1], [2, 3]]);
    // An item that waited out its time during a long flush goes as soon as the flush ends.
    const {
      gate: slow,
      batches: late,
      batcher: long,
    } = gated({
      max: 50,
      ready: Number.POSITIVE_INFINITY,
      waitMs: 30,
      serial: true,
    });
    const first = long.add(1);
    await sleep(40);
    const second = long.add(2);
    await sleep(60);
    expect(late).toEqual([[1]]);
    slow.resolve();
    await first;
    await new Promise((resolve) => setImmediate(resolve));
    expect(late).toEqual([[1], [2]]);
    await second;
  });
});
