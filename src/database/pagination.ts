import { IsNull, LessThan, type FindOptionsWhere, type ObjectLiteral, type Repository } from 'typeorm';
import { WebhookValidationError } from '../errors/webhook-validation.error.js';
import { isIdOf, type IdPrefix } from './ids.js';
import { unstorable } from './sql.js';
import type { Page, PageOptions } from '../interfaces/webhook-service.interface.js';
import { didYouMean, unknownKey } from '../utils/known-keys.js';

/**
 * One page of rows, newest first, by their time-ordered ids: `cursor` is the last id of the
 * previous page. `where` may be a list (rows matching any of them); the cursor applies to each.
 */
export async function findPage<T extends { id: string }>(
  repo: Repository<T>,
  where: ObjectLiteral | ObjectLiteral[],
  opts: PageOptions,
): Promise<Page<T>> {
  const limit = pageLimit(opts, ID_PREFIXES[repo.metadata.tableName]);
  const wheres = Array.isArray(where) ? where : [where];
  // A filter holding U+0000 or a lone surrogate matches no row; PostgreSQL would refuse it, or
  // match it as U+FFFD (another tenant's id), rather than say so.
  if (wheres.every((w) => Object.values(w).some((v) => typeof v === 'string' && unstorable(v))))
    return { data: [], nextCursor: null };
  const bounded = (w: ObjectLiteral) => (opts.cursor ? { ...w, id: LessThan(opts.cursor) } : w);
  const rows = await repo.find({
    where: wheres.map(bounded) as FindOptionsWhere<T>[],
    order: { id: 'DESC' } as never,
    take: limit + 1,
  });
  const more = rows.length > limit;
  const data = more ? rows.slice(0, limit) : rows;
  return { data, nextCursor: more ? data[data.length - 1].id : null };
}

/** The kind of id each table's rows have, which its cursors are. */
const ID_PREFIXES: Record<string, IdPrefix> = {
  webhook_endpoints: 'ep',
  webhook_messages: 'msg',
  webhook_deliveries: 'dlv',
  webhook_attempts: 'atm',
  webhook_inbox: 'in',
};

/**
 * The checked page size of `opts` (default 50, at most 500); a cursor must be a previous page's:
 * an id of the list's kind (`prefix`). Compared with `<`, any other string would page from the
 * start (`zzzz`) or give an empty page (another kind of id), both in silence.
 */
export function pageLimit(opts: PageOptions, prefix: IdPrefix): number {
  const limit = opts.limit ?? 50;
  if (!Number.isSafeInteger(limit) || limit < 1 || limit > 500)
    throw new WebhookValidationError('limit', 'limit must be an integer from 1 to 500.');
  if (opts.cursor !== undefined && !isIdOf(prefix, opts.cursor)) {
    throw new WebhookValidationError(
      'cursor',
      `cursor must be the nextCursor of a previous page of this list (a ${prefix}_ id).`,
    );
  }
  return limit;
}

/** The page options every list takes besides its filters. */
const PAGE_KEYS = ['limit', 'cursor'] as const;

/**
 * An options argument: an object, or undefined for none, holding only `known` keys. Anything
 * else (null, a string, an array) is a {@link WebhookValidationError} naming it, not a TypeError
 * from reading a field; so is a key the call does not read, which would otherwise be ignored in
 * silence (`customerID` for `customerId` sent a tenant's event to the endpoints of no customer).
 */
export function optionsObject<T extends object>(name: string, value: T | undefined, known: readonly string[]): T {
  if (value === undefined) return {} as T;
  if (value === null || typeof value !== 'object' || Array.isArray(value))
    throw new WebhookValidationError(name, `${name} must be an object.`);
  const unknown = unknownKey(value, known);
  if (unknown)
    throw new WebhookValidationError(
      unknown.key,
      `${name} has no "${unknown.key}"${didYouMean(unknown.suggestion)}; it takes ${known.join(', ')}.`,
    );
  return value;
}

/** An argument that must be an object: {@link optionsObject} without the default. */
export function requiredObject<T extends object>(name: string, value: T, known: readonly string[]): T {
  if (value === undefined) throw new WebhookValidationError(name, `${name} must be an object.`);
  return optionsObject(name, value, known);
}

/** How a list filter is checked by {@link listFilters}. */
export interface FilterRule {
  /** `null` is a filter too (rows where the column is null). */
  nullable?: boolean;
  /** The only values it takes. */
  values?: readonly string[];
}

/**
 * The `where` of a list's filters. Each given one must be a string (or `null` where the rule
 * allows, or one of its values): a number, an array or an object is a
 * {@link WebhookValidationError} naming the filter, not a query error or a filter ignored. The
 * options may hold the filters, `limit`, `cursor` and the `extra` keys the list reads itself.
 */
export function listFilters(
  opts: object | undefined,
  rules: Record<string, FilterRule>,
  extra: readonly string[] = [],
): ObjectLiteral {
  const known = [...Object.keys(rules), ...extra, ...PAGE_KEYS];
  const given = optionsObject('options', opts, known) as Record<string, unknown>;
  const where: ObjectLiteral = {};
  for (const [key, rule] of Object.entries(rules)) {
    const value = given[key];
    if (value === undefined) continue;
    if (value === null && rule.nullable) {
      where[key] = IsNull();
      continue;
    }
    if (typeof value !== 'string' || (rule.values !== undefined && !rule.values.includes(value))) {
      const allowed = rule.values ? `one of ${rule.values.join(', ')}` : `a string${rule.nullable ? ' or null' : ''}`;
      throw new WebhookValidationError(key, `${key} must be ${allowed}.`);
    }
    where[key] = value;
  }
  return where;
}
