import { describe, expect, it } from '@jest/globals';
import { isIdOf, newId } from '../../src/database/ids.js';

describe('newId', () => {
  it('is prefixed, 26 Crockford base32 characters, and sorts by time', () => {
    const a = newId('msg', 1_700_000_000_000);
    const b = newId('msg', 1_700_000_000_001);
    expect(a).toMatch(/^msg_[0-9A-HJKMNP-TV-Z]{26}$/);
    expect(a < b).toBe(true);
    expect(a.slice(4, 14)).toBe(newId('msg', 1_700_000_000_000).slice(4, 14));
  });

  it('has 80 random bits: no collisions and every character used in the tail', () => {
    const ids = new Set(Array.from({ length: 20_000 }, () => newId('dlv', 0)));
    expect(ids.size).toBe(20_000);
    const seen = new Set([...ids].flatMap((id) => [...id.slice(14)]));
    expect(seen.size).toBe(32);
  });
});

describe('newId within one millisecond', () => {
  it('sorts in the order the ids were made, whatever their prefix', () => {
    const made = Array.from({ length: 5_000 }, (_, i) => newId(i % 2 ? 'ep' : 'dlv', 1_700_000_000_123).split('_')[1]);
    expect([...made].sort()).toEqual(made);
    expect(new Set(made).size).toBe(made.length);
  });
});

describe('isIdOf', () => {
  it('takes an id of the prefix as newId makes it, and nothing else', () => {
    const id = newId('msg');
    expect(isIdOf('msg', id)).toBe(true);
    expect(isIdOf('ep', id)).toBe(false);
    for (const bad of [id.toLowerCase(), `${id}0`, id.slice(0, -1), `${id.slice(0, -1)}U`, 'zzzz', '', null, 42])
      expect(isIdOf('msg', bad)).toBe(false);
  });
});
