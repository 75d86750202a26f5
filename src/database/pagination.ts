import { LessThan, type FindOptionsWhere, type ObjectLiteral, type Repository } from 'typeorm';
import { WebhookValidationError } from '../errors/webhook-validation.error.js';
import { holdsNul } from './sql.js';
import type { Page, PageOptions } from '../interfaces/webhook-service.interface.js';

/**
 * One page of rows, newest first, by their time-ordered ids: `cursor` is the last id of the
 * previous page. `where` may be a list (rows matching any of them); the cursor applies to each.
 */
export async function findPage<T extends { id: string }>(
  repo: Repository<T>,
  where: ObjectLiteral | ObjectLiteral[],
  opts: PageOptions,
): Promise<Page<T>> {
  const limit = pageLimit(opts);
  const wheres = Array.isArray(where) ? where : [where];
  // A filter holding U+0000 matches no row; PostgreSQL would refuse it rather than say so.
  if (wheres.every((w) => Object.values(w).some((v) => typeof v === 'string' && holdsNul(v))))
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

/** The checked page size of `opts` (default 50, at most 500); a cursor must be a previous page's. */
export function pageLimit(opts: PageOptions): number {
  const limit = opts.limit ?? 50;
  if (!Number.isSafeInteger(limit) || limit < 1 || limit > 500)
    throw new WebhookValidationError('limit', 'limit must be an integer from 1 to 500.');
  if (opts.cursor !== undefined && (typeof opts.cursor !== 'string' || opts.cursor === '' || holdsNul(opts.cursor))) {
    throw new WebhookValidationError('cursor', 'cursor must be the nextCursor of a previous page.');
  }
  return limit;
}
