import { describe, expect, it } from '@jest/globals';
import { shown } from '../../src/utils/shown.js';
import { messages } from '../../src/webhooks.messages.js';

describe('shown: a caller-controlled value in a message', () => {
  it('quotes a string, escapes what could forge or break a log line, and bounds it', () => {
    expect(shown('ep_1')).toBe('"ep_1"');
    expect(shown('a\nb\u0000c\u2028d\u0085')).toBe('"a\\nb\\u0000c\\u2028d\\u0085"');
    expect(shown('x'.repeat(150))).toBe(`"${'x'.repeat(100)}"… (50 more)`);
  });

  it('describes every other kind without throwing', () => {
    const cyclic: Record<string, unknown> = Object.create(null);
    cyclic.self = cyclic;
    const cases: [unknown, string][] = [
      [undefined, 'undefined'],
      [null, 'null'],
      [12, '12'],
      [10n, '10n'],
      [Symbol('s'), 'Symbol(s)'],
      [() => 'source text', 'a function'],
      [{ a: [1, 2] }, '{"a":[1,2]}'],
      [cyclic, 'an object that JSON cannot show'],
      [[cyclic], 'an array that JSON cannot show'],
      [{ n: 1n }, 'an object that JSON cannot show'],
      [
        Array.from({ length: 60 }, (_, i) => i),
        `${JSON.stringify(Array.from({ length: 60 }, (_, i) => i)).slice(0, 100)}… (71 more)`,
      ],
    ];
    expect(cases.map(([value]) => shown(value))).toEqual(cases.map(([, text]) => text));
  });

  it('keeps a not-found id or a bad threshold from reaching a log raw or throwing', () => {
    expect(messages.notFound('endpoint', 'ep_\u0000\n')).toBe('No webhook endpoint with id "ep_\\u0000\\n".');
    expect(messages.healthThreshold('maxBacklog', 10n, 'a number >= 0')).toContain('(got 10n)');
  });
});
