import { afterEach, beforeEach, describe, expect, it, jest } from '@jest/globals';
import { IntervalLoop } from '../../src/utils/interval-loop.js';
import { deferred } from '../support/deferred.js';

/** A logger that keeps its warnings (and, apart, its other lines). */
function warnings() {
  const lines: string[] = [];
  const logs: string[] = [];
  return {
    lines,
    logs,
    logger: {
      warn: (line: unknown) => void lines.push(String(line)),
      log: (line: unknown) => void logs.push(String(line)),
    },
  };
}

describe('IntervalLoop', () => {
  beforeEach(() => {
    jest.useFakeTimers();
  });
  afterEach(() => {
    jest.useRealTimers();
  });

  it('runs passes one at a time: the next one an interval after the previous one ended', async () => {
    const passes: ReturnType<typeof deferred<void>>[] = [];
    const { logger } = warnings();
    const loop = new IntervalLoop(
      () => {
        passes.push(deferred<void>());
        return passes[passes.length - 1].promise;
      },
      { name: 'test pass', intervalMs: 1_000, firstDelayMs: 100 },
      logger,
    );
    loop.start();
    await jest.advanceTimersByTimeAsync(99);
    expect(passes).toHaveLength(0);
    await jest.advanceTimersByTimeAsync(1);
    expect(passes).toHaveLength(1);
    // A slow pass: no second pass starts while it runs, however long.
    await jest.advanceTimersByTimeAsync(10_000);
    expect(passes).toHaveLength(1);
    expect(loop.running).not.toBeNull();
    passes[0].resolve();
    await jest.advanceTimersByTimeAsync(999);
    expect(passes).toHaveLength(1);
    expect(loop.running).toBeNull();
    await jest.advanceTimersByTimeAsync(1);
    expect(passes).toHaveLength(2);
    passes[1].resolve();
    await loop.stop(1_000);
  });

  it('logs a failing pass with its name (or its own text) and goes on', async () => {
    const { lines, logger } = warnings();
    let calls = 0;
    const fail = async () => {
      calls++;
      throw new Error('database away');
    };
    const named = new IntervalLoop(fail, { name: 'Retention pass', intervalMs: 1_000 }, logger);
    const texted = new IntervalLoop(
      fail,
      { name: 'reconcile', intervalMs: 1_000, failureText: (m) => `Oh: ${m}` },
      logger,
    );
    named.start();
    texted.start();
    await jest.advanceTimersByTimeAsync(2_000);
    expect(calls).toBe(4);
    expect(lines).toEqual([
      'Retention pass failed: database away',
      'Oh: database away',
      'Retention pass failed: database away (1 failed passes since the last report)',
      'Oh: database away (1 failed passes since the last report)',
    ]);
    await Promise.all([named.stop(1_000), texted.stop(1_000)]);
  });

  it('logs a failure that repeats every second at a bounded rate, and the recovery once', async () => {
    const { lines, logs, logger } = warnings();
    let failing = true;
    const loop = new IntervalLoop(
      async () => {
        if (failing) throw new Error('Redis at 127.0.0.1:6390 is reconnecting (connect ECONNREFUSED 127.0.0.1:6390)');
      },
      { name: 'outbox pass', intervalMs: 1_000 },
      logger,
    );
    loop.start();
    await jest.advanceTimersByTimeAsync(600_000); // ten minutes, a pass a second
    // At 1, 2, 4, 8, 16, 32 and 64 s, then every minute.
    expect(lines.length).toBeLessThanOrEqual(16);
    expect(lines[0]).toBe(
      'outbox pass failed: Redis at 127.0.0.1:6390 is reconnecting (connect ECONNREFUSED 127.0.0.1:6390)',
    );
    expect(lines.at(-1)).toMatch(/ \(60 failed passes since the last report\)$/);
    failing = false;
    await jest.advanceTimersByTimeAsync(3_000);
    expect(logs).toEqual(['outbox pass works again, after 600 failed passes.']);
    await loop.stop(1_000);
  });

  it('stops: no pass after stop, and the running pass is awaited within the bound', async () => {
    const { logger } = warnings();
    const pass = deferred<void>();
    let calls = 0;
    const loop = new IntervalLoop(
      () => {
        calls++;
        return pass.promise;
      },
      { name: 'test pass', intervalMs: 1_000 },
      logger,
    );
    loop.start();
    await jest.advanceTimersByTimeAsync(1_000);
    expect(calls).toBe(1);
    let outcome: string | undefined;
    const stopped = loop.stop(5_000).then((o) => (outcome = o));
    await jest.advanceTimersByTimeAsync(4_999);
    expect(outcome).toBeUndefined();
    pass.resolve();
    await stopped;
    expect(outcome).toBe('done');
    await jest.advanceTimersByTimeAsync(10_000);
    expect(calls).toBe(1);
    expect(jest.getTimerCount()).toBe(0);
  });

  it("stop gives up on a pass that hangs past the bound ('late')", async () => {
    const { logger } = warnings();
    const loop = new IntervalLoop(() => deferred<void>().promise, { name: 'test pass', intervalMs: 1_000 }, logger);
    loop.start();
    await jest.advanceTimersByTimeAsync(1_000);
    const stopped = loop.stop(5_000);
    await jest.advanceTimersByTimeAsync(5_000);
    await expect(stopped).resolves.toBe('late');
    expect(jest.getTimerCount()).toBe(0);
  });

  it('a loop stopped before its first pass runs none', async () => {
    const pass = jest.fn(async () => undefined);
    const loop = new IntervalLoop(pass, { name: 'test pass', intervalMs: 1_000 }, warnings().logger);
    loop.start();
    await expect(loop.stop(1_000)).resolves.toBe('done');
    await jest.advanceTimersByTimeAsync(5_000);
    expect(pass).not.toHaveBeenCalled();
  });

  it('runs the next pass at once while `again` says a pass left work, then an interval later', async () => {
    const { logger } = warnings();
    const left = [500, 500, 120];
    const results: number[] = [];
    const loop = new IntervalLoop(
      async () => {
        const n = left.shift() ?? 0;
        results.push(n);
        return n;
      },
      { name: 'test pass', intervalMs: 60_000, firstDelayMs: 0, again: (n) => n === 500 },
      logger,
    );
    loop.start();
    await jest.advanceTimersByTimeAsync(10);
    // Two full passes, and the one after each without waiting the minute.
    expect(results).toEqual([500, 500, 120]);
    await jest.advanceTimersByTimeAsync(59_000);
    expect(results).toHaveLength(3);
    await jest.advanceTimersByTimeAsync(1_000);
    expect(results).toEqual([500, 500, 120, 0]);
    await loop.stop(1_000);
  });
});
