/** Event types are dot-delimited segments of `[A-Za-z0-9_-]`: `order.completed`. */
const EVENT_TYPE = /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/;

/** True for a valid event type of at most 255 characters. */
export function isValidEventType(type: unknown): type is string {
  return typeof type === 'string' && type.length <= 255 && EVENT_TYPE.test(type);
}

/** True for a valid filter: an exact type, `prefix.*` (any depth below prefix) or `*`. */
export function isValidEventFilter(filter: unknown): filter is string {
  if (filter === '*') return true;
  if (typeof filter !== 'string') return false;
  return isValidEventType(filter.endsWith('.*') ? filter.slice(0, -2) : filter);
}

/** Does `type` match `filter`? `order.*` matches `order.completed` and `order.item.added`, not `order`. */
export function matchesEventFilter(filter: string, type: string): boolean {
  if (filter === '*') return true;
  if (filter.endsWith('.*')) return type.startsWith(filter.slice(0, -1));
  return filter === type;
}

/** Does `type` match any of `filters`? No filters (null or empty) means every type. */
export function matchesAnyFilter(filters: readonly string[] | null | undefined, type: string): boolean {
  if (!filters || filters.length === 0) return true;
  return filters.some((f) => matchesEventFilter(f, type));
}

/**
 * Every filter that matches `type`: `*`, the type itself, and `prefix.*` for each of its proper
 * prefixes (`order.*` and `order.item.*` for `order.item.added`). A filter list matches `type`
 * exactly when it holds one of these, which lets a database do the matching with one array test.
 */
export function filtersMatching(type: string): string[] {
  const filters = ['*', type];
  for (let at = type.indexOf('.'); at >= 0; at = type.indexOf('.', at + 1)) filters.push(`${type.slice(0, at)}.*`);
  return filters;
}
