import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import Bull from 'bull';
import { lostJobs } from '../../src/queue/lost-jobs.js';
import { deletePrefix, REDIS_URL, testPrefix } from '../support/redis.js';

/**
 * The job check of both reconcilers (deliveries and, in queue mode, inbox rows), on a Bull queue
 * of the test's own, past one pipelined round trip's worth of ids.
 */
describe('lostJobs', () => {
  const prefix = testPrefix();
  let queue: Bull.Queue;

  beforeAll(async () => {
    queue = new Bull('lost-jobs', REDIS_URL, { prefix });
    await queue.pause(true);
  });
  afterAll(async () => {
    await queue?.close();
    await deletePrefix(prefix);
  });

  it('finds the gone and the finished among 2,500 jobs, by id, and removes the finished ones', async () => {
    const ids = Array.from({ length: 2_500 }, (_, i) => `job_${String(i).padStart(4, '0')}`);
    await queue.addBulk(ids.map((jobId) => ({ data: {}, opts: { jobId } })));
    const gone = ids.filter((_, i) => i % 7 === 3);
    const failed = ids.filter((_, i) => i % 7 !== 3 && i % 11 === 5);
    const completed = ids.filter((_, i) => i % 7 !== 3 && i % 11 !== 5 && i % 13 === 8);
    for (const id of gone) await (await queue.getJob(id))!.remove();
    // As Bull leaves a job it failed or completed with its data kept: out of the wait list, in its set.
    const moved = queue.client.multi();
    for (const [set, members] of [
      ['failed', failed],
      ['completed', completed],
    ] as const)
      for (const id of members) moved.lrem(queue.toKey('paused'), 0, id).zadd(queue.toKey(set), Date.now(), id);
    await moved.exec();

    const lost = await lostJobs(queue, ids);
    expect(lost.sort()).toEqual([...gone, ...failed, ...completed].sort());
    for (const id of [...failed, ...completed]) expect(await queue.getJob(id)).toBeNull();
    const live = ids.filter((id) => !lost.includes(id));
    expect(live.length).toBeGreaterThan(1_500);
    expect(await lostJobs(queue, live)).toEqual([]);
    expect(await lostJobs(queue, [])).toEqual([]);
  });
});
