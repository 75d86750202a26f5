import { describe, expect, it } from '@jest/globals';
import {
  filtersMatching,
  isValidEventFilter,
  isValidEventType,
  matchesAnyFilter,
  matchesEventFilter,
} from '../../src/utils/event-types.js';

describe('event types and filters', () => {
  it.each(['order.completed', 'a', 'invoice.payment_failed', 'x-y.z_1'])('accepts type %s', (t) =>
    expect(isValidEventType(t)).toBe(true),
  );
  it.each(['', '.a', 'a.', 'a..b', 'a b', 'a.*', 'ä', 'a/b', 'x'.repeat(256), 42, null])('refuses type %p', (t) =>
    expect(isValidEventType(t)).toBe(false),
  );

  it('validates filters', () => {
    for (const f of ['*', 'order.*', 'order.completed', 'a.b.*']) expect(isValidEventFilter(f)).toBe(true);
    for (const f of ['', '**', 'order*', '*.completed', 'order.*.x', 'a..*']) expect(isValidEventFilter(f)).toBe(false);
  });

  it('matches exact, prefix and catch-all filters', () => {
    expect(matchesEventFilter('order.completed', 'order.completed')).toBe(true);
    expect(matchesEventFilter('order.completed', 'order.created')).toBe(false);
    expect(matchesEventFilter('order.*', 'order.completed')).toBe(true);
    expect(matchesEventFilter('order.*', 'order.item.added')).toBe(true);
    expect(matchesEventFilter('order.*', 'order')).toBe(false);
    expect(matchesEventFilter('order.*', 'orders.completed')).toBe(false);
    expect(matchesEventFilter('*', 'anything.at.all')).toBe(true);
  });

  it('treats no filters as every event', () => {
    expect(matchesAnyFilter(null, 'x.y')).toBe(true);
    expect(matchesAnyFilter([], 'x.y')).toBe(true);
    expect(matchesAnyFilter(['a.*', 'b.c'], 'b.c')).toBe(true);
    expect(matchesAnyFilter(['a.*', 'b.c'], 'b.d')).toBe(false);
  });

  it('lists exactly the filters that match a type, the rule the database applies', () => {
    expect(filtersMatching('order.item.added').sort()).toEqual(
      ['*', 'order.*', 'order.item.*', 'order.item.added'].sort(),
    );
    expect(filtersMatching('ping')).toEqual(['*', 'ping']);
    const types = ['a', 'a.b', 'a.b.c', 'ab.c', 'a-b.c_d.e', 'b.a'];
    const filters = ['*', 'a', 'a.*', 'a.b', 'a.b.*', 'a.b.c', 'a.b.c.*', 'ab.*', 'b.*', 'a-b.*', 'a-b.c_d.*'];
    for (const type of types) {
      for (const filter of filters)
        expect([type, filter, filtersMatching(type).includes(filter)]).toEqual([
          type,
          filter,
          matchesEventFilter(filter, type),
        ]);
    }
  });
});
