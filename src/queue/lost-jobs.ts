import type { Queue } from 'bull';
import { chunks } from '../database/sql.js';

/** Ids whose jobs one pipelined round trip checks: 3 commands each. */
const IDS_PER_ROUND_TRIP = 1_000;

/**
 * Of `ids` (Bull job ids), those whose job is gone (Redis lost it) or finished (in Bull's failed or
 * completed set, as a job Bull failed for stalling is); a finished job is removed so that adding
 * it again is not a no-op. The same reads as `getJob`, `isFailed` and `isCompleted`, pipelined: a
 * round trip per {@link IDS_PER_ROUND_TRIP} ids instead of up to three per id. Used by the
 * reconcilers, whose pages of ids run to thousands.
 */
export async function lostJobs(queue: Queue, ids: readonly string[]): Promise<string[]> {
  const lost: string[] = [];
  if (ids.length === 0) return lost;
  for (const page of chunks(ids, IDS_PER_ROUND_TRIP)) {
    const pipeline = queue.client.pipeline();
    for (const id of page) {
      pipeline.exists(queue.toKey(id));
      pipeline.zscore(queue.toKey('failed'), id);
      pipeline.zscore(queue.toKey('completed'), id);
    }
    const replies = (await pipeline.exec()) ?? [];
    const reply = (i: number): unknown => {
      const [err, result] = replies[i] ?? [new Error('Redis gave no reply to a job check.'), null];
      if (err) throw err;
      return result;
    };
    for (const [k, id] of page.entries()) {
      const gone = Number(reply(3 * k)) === 0;
      const finished = !gone && (reply(3 * k + 1) !== null || reply(3 * k + 2) !== null);
      if (finished) await (await queue.getJob(id))?.remove();
      if (gone || finished) lost.push(id);
    }
  }
  return lost;
}
