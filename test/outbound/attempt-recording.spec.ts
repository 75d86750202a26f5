/**
 * Once a POST has gone out, its outcome is recorded: whatever the receiver answered, and even when
 * the database refuses the write for a while. A failure to record must never cause a second POST,
 * and a delivery the reconciler re-adds keeps the attempts it already made.
 */
import { getQueueToken } from '@nestjs/bull';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Queue } from 'bull';
import { randomBytes } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import { DataSource, type QueryRunner } from 'typeorm';
import { WebhookDelivery } from '../../src/database/entities/webhook-delivery.entity.js';
import { WebhookEndpoint } from '../../src/database/entities/webhook-endpoint.entity.js';
import { OutboxRelay } from '../../src/outbound/outbox.relay.js';
import { WebhookService } from '../../src/outbound/webhook.service.js';
import { WEBHOOKS_QUEUE } from '../../src/webhooks.constants.js';
import { FAST_OUTBOUND, startTestApp, type TestApp } from '../support/app.js';
import { testDatabases, type DbKind } from '../support/databases.js';
import { eventually, Receiver } from '../support/receiver.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// Timers off: the test decides when the reconciler looks. The third attempt waits an hour, so a
// test can make a job vanish while it waits.
const DISABLE_AFTER_MS = 60_000;
const OUTBOUND = {
  ...FAST_OUTBOUND,
  schedule: [0, 50, 3_600_000],
  timeoutMs: 10_000,
  disableAfterMs: DISABLE_AFTER_MS,
  relayIntervalMs: 3_600_000,
  reconcileIntervalMs: 3_600_000,
};
const SQLITE_WAIT_MS = 200;

describe.each(testDatabases())('attempt recording on %s', (kind) => {
  let t: TestApp;
  let svc: WebhookService;
  let ds: DataSource;
  let queue: Queue;
  let receiver: Receiver;
  /** What the receiver does with a request to `/<path>`: write the answer on `res` (now or later). */
  const routes = new Map<string, (res: ServerResponse, n: number) => void>();

  beforeAll(async () => {
    receiver = await new Receiver((req, _n, res) => {
      const route = routes.get(req.url);
      if (!route) return undefined;
      route(res, receiver.requests.filter((r) => r.url === req.url).length - 1);
      return 'hang';
    }).start();
    t = await startTestApp({ db: kind, webhooks: { sqliteWaitMs: SQLITE_WAIT_MS, outbound: OUTBOUND } });
    svc = t.app.get(WebhookService);
    ds = t.app.get(DataSource);
    queue = t.app.get<Queue>(getQueueToken(WEBHOOKS_QUEUE));
  });
  afterAll(async () => {
    await t?.close();
    await receiver?.stop();
  });

  const requestsTo = (path: string) => receiver.requests.filter((r) => r.url === path);
  const delivery = (id: string) => ds.getRepository(WebhookDelivery).findOneByOrFail({ id });
  const ended = (id: string) =>
    eventually(async () => {
      const d = await delivery(id);
      return ['succeeded', 'failed', 'discarded'].includes(d.status) ? d : null;
    });
  async function endpoint(path: string, answer: (res: ServerResponse, n: number) => void): Promise<WebhookEndpoint> {
    routes.set(`/${path}`, answer);
    return svc.createEndpoint({ url: receiver.url(`/${path}`), customerId: path });
  }
  const reply = (res: ServerResponse, status: number, body: Buffer | string = '') => {
    res.writeHead(status, { 'content-type': 'application/octet-stream' });
    res.end(body);
  };

  describe.each([
    ['a NUL byte', Buffer.from('ok\0done'), 'ok\uFFFDdone'],
    ['invalid UTF-8', Buffer.from([0x6f, 0x6b, 0xff, 0xfe, 0xc3]), 'ok\uFFFD\uFFFD\uFFFD'],
    ['4 KiB of random binary', randomBytes(4096), null],
  ])('a 200 whose body holds %s', (_what, body, stored) => {
    it('is recorded after exactly one POST, and the delivery succeeds', async () => {
      const path = `body-${randomBytes(4).toString('hex')}`;
      await endpoint(path, (res) => reply(res, 200, body));
      const [id] = (await svc.send('body.odd', {}, { customerId: path })).deliveryIds;
      const d = await ended(id);
      // Time for a second POST, had the attempt been retried.
      await sleep(300);
      expect(requestsTo(`/${path}`)).toHaveLength(1);
      expect(d).toMatchObject({ status: 'succeeded', attempts: 1, lastStatusCode: 200 });
      const attempts = (await svc.listAttempts(id)).data;
      expect(attempts).toHaveLength(1);
      expect(attempts[0]).toMatchObject({ number: 1, statusCode: 200 });
      expect(attempts[0].responseBody).not.toContain('\0');
      if (stored !== null) expect(attempts[0].responseBody).toBe(stored);
      else expect(attempts[0].responseBody!.length).toBeGreaterThan(1000);
    });
  });

  it("stores each attempt's headers as sent and as answered, the answer's bounded", async () => {
    const path = `headers-${randomBytes(4).toString('hex')}`;
    // First answer: 80 small headers (over the count bound); second: 80 long ones (over the size bound).
    const ep = await endpoint(path, (res, n) => {
      const value = n === 0 ? 'v' : 'v'.repeat(100);
      const extra = Object.fromEntries(Array.from({ length: 80 }, (_, i) => [`x-extra-${i}`, value]));
      res.writeHead(n === 0 ? 500 : 200, { 'x-receiver-answer': `answer-${n}`, ...extra });
      res.end('');
    });
    const [id] = (await svc.send('headers.kept', {}, { customerId: path })).deliveryIds;
    expect(await ended(id)).toMatchObject({ status: 'succeeded', attempts: 2 });
    const got = requestsTo(`/${path}`);
    expect(got).toHaveLength(2);
    const attempts = (await svc.listAttempts(id)).data.sort((x, y) => x.number - y.number);
    expect(attempts).toHaveLength(2);
    attempts.forEach((a, n) => {
      const sent = got[n].headers;
      expect(a.requestHeaders).toMatchObject({
        'content-type': 'application/json',
        'user-agent': sent['user-agent'],
        'webhook-id': sent['webhook-id'],
        'webhook-timestamp': sent['webhook-timestamp'],
        'webhook-signature': sent['webhook-signature'],
      });
      expect(JSON.stringify(a.requestHeaders)).not.toContain(ep.secret);
      expect(a.responseHeaders!['x-receiver-answer']).toBe(`answer-${n}`);
      expect(Buffer.byteLength(JSON.stringify(a.responseHeaders))).toBeLessThanOrEqual(4096);
    });
    expect(Object.keys(attempts[0].responseHeaders!)).toHaveLength(50);
    expect(Object.keys(attempts[1].responseHeaders!).length).toBeLessThan(50);
  });

  /**
   * Sends to `/<path>`, whose answer (200) waits for `during` to release it; `during` runs inside
   * a transaction the test holds open. Then: one POST, one attempt recorded, the delivery succeeded.
   */
  async function answerWhileHeld(
    path: string,
    during: (id: string, runner: QueryRunner, answer: () => void) => Promise<void>,
  ) {
    let answer!: () => void;
    const answered = new Promise<void>((resolve) => (answer = resolve));
    await endpoint(path, (res) => void answered.then(() => reply(res, 200, 'ok')));
    const [id] = (await svc.send('held.write', {}, { customerId: path })).deliveryIds;
    await eventually(() => requestsTo(`/${path}`).length === 1);
    const runner = ds.createQueryRunner();
    await runner.startTransaction();
    try {
      await during(id, runner, answer);
    } finally {
      await runner.commitTransaction();
      await runner.release();
    }
    const d = await ended(id);
    // Time for a second POST, had the attempt been retried.
    await sleep(300);
    expect(requestsTo(`/${path}`)).toHaveLength(1);
    expect(d).toMatchObject({ status: 'succeeded', attempts: 1 });
    expect((await svc.listAttempts(id)).data).toHaveLength(1);
  }

  if (kind !== 'postgres') {
    it('records an attempt that ends while the app holds a transaction longer than sqliteWaitMs, without a second POST', async () => {
      await answerWhileHeld('held', async (_id, _runner, answer) => {
        answer();
        // The attempt's write waits for this transaction, gives up after sqliteWaitMs, and must try again.
        await sleep(SQLITE_WAIT_MS * 4);
      });
    });
  } else {
    it('records an attempt whose write fails once (its connection killed), without a second POST', async () => {
      await answerWhileHeld('killed', async (id, runner, answer) => {
        // The transaction locks the delivery row, so the attempt's write waits on it ...
        await runner.query('SELECT id FROM webhook_deliveries WHERE id = $1 FOR UPDATE', [id]);
        answer();
        // ... and the connection it waits on is killed: the write fails. (Asked outside the
        // transaction: inside one, PostgreSQL answers pg_stat_activity from its first snapshot.)
        const [blocked] = await eventually(async () => {
          const rows: { pid: number }[] = await ds.query(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND query ILIKE '%webhook_attempts%'",
          );
          return rows.length ? rows : null;
        });
        await ds.query('SELECT pg_terminate_backend($1)', [blocked.pid]);
      });
    });
  }

  describe('reconciler', () => {
    const outbox = () => t.app.get(OutboxRelay);

    /** Makes the job of `id` vanish as after a Redis restart, and lets the reconciler find it. */
    async function loseJob(id: string): Promise<void> {
      // After a redelivery, its enqueue marks the row a moment later: let that land first.
      await eventually(async () => (await delivery(id)).enqueuedAt !== null);
      await (await queue.getJob(id))!.remove();
      await ds.getRepository(WebhookDelivery).update({ id }, { enqueuedAt: new Date(Date.now() - 7_200_000) });
      expect(await outbox().reconcile()).toBe(1);
    }
    /** Waits until `n` attempts are recorded and the job waits for its next, an hour away. */
    async function waitingAfter(id: string, n: number): Promise<void> {
      await eventually(async () => (await delivery(id)).attempts === n && (await queue.getJob(id))?.isDelayed());
    }

    it('re-adds a delivery whose job vanished with the rest of its schedule, not a fresh one', async () => {
      await endpoint('resume', (res) => reply(res, 500, 'down'));
      const [id] = (await svc.send('resume.it', {}, { customerId: 'resume' })).deliveryIds;
      await waitingAfter(id, 2);

      await loseJob(id);
      const job = (await queue.getJob(id))!;
      expect(job.opts.attempts).toBe(1);
      expect(job.data).toMatchObject({ deliveryId: id, trigger: 'scheduled', attemptsBefore: 2 });
      // The one attempt left is the schedule's last: it ends the delivery.
      expect(await ended(id)).toMatchObject({ status: 'failed', attempts: 3 });
      await sleep(300);
      expect(requestsTo('/resume')).toHaveLength(3);
    });

    it("counts a manual redelivery's schedule from its own first attempt, also when its job vanishes before it", async () => {
      await endpoint('manual', (res) => reply(res, 500, 'down'));
      const [id] = (await svc.send('manual.it', {}, { customerId: 'manual' })).deliveryIds;
      await waitingAfter(id, 2);
      await loseJob(id);
      await ended(id);

      // A manual redelivery starts a fresh schedule; its job vanishes after two of its attempts.
      await svc.redeliver(id);
      await waitingAfter(id, 5);
      await loseJob(id);
      expect((await queue.getJob(id))!.data).toMatchObject({ trigger: 'scheduled', attemptsBefore: 2 });
      expect(await ended(id)).toMatchObject({ status: 'failed', attempts: 6 });
      const triggers = (await svc.listAttempts(id)).data.map((a) => [a.number, a.trigger]).reverse();
      expect(triggers).toEqual([
        [1, 'scheduled'],
        [2, 'scheduled'],
        [3, 'scheduled'],
        [4, 'manual'],
        [5, 'scheduled'],
        [6, 'scheduled'],
      ]);

      // One whose job vanishes before its first attempt gets the whole schedule, as asked.
      await queue.pause();
      try {
        await svc.redeliver(id);
        await loseJob(id);
        const job = (await queue.getJob(id))!;
        expect(job.data).toEqual({ deliveryId: id, trigger: 'manual' });
        expect(job.opts.attempts).toBe(3);
      } finally {
        await queue.resume();
      }
      await waitingAfter(id, 8);
      expect(requestsTo('/manual')).toHaveLength(8);
    });
  });

  it('keeps a recovered endpoint enabled when a failure in flight with its success is recorded after it', async () => {
    // Requests wait here for the test to answer them, until `open`.
    const held: ServerResponse[] = [];
    let open = false;
    const ep = await endpoint('race', (res) => (open ? reply(res, 200, 'ok') : held.push(res)));
    // Failing for just under the limit: a failure recorded against this streak would disable it.
    const failingSince = new Date(Date.now() - DISABLE_AFTER_MS + 1_000);
    await ds.getRepository(WebhookEndpoint).update({ id: ep.id }, { failingSince, consecutiveFailures: 5 });
    const [ok] = (await svc.send('race.ok', {}, { customerId: 'race' })).deliveryIds;
    const [bad] = (await svc.send('race.bad', {}, { customerId: 'race' })).deliveryIds;
    // Both attempts are in flight (both read the streak), then the success is recorded ...
    await eventually(() => held.length === 2);
    const okAt = requestsTo('/race').findIndex((r) => JSON.parse(r.body).type === 'race.ok');
    reply(held[okAt], 200, 'ok');
    expect(await ended(ok)).toMatchObject({ status: 'succeeded' });
    // ... and, once the old streak would be past the limit, the failure.
    await sleep(Math.max(0, failingSince.getTime() + DISABLE_AFTER_MS + 100 - Date.now()));
    reply(held[1 - okAt], 502, 'bad gateway');
    await eventually(async () => (await delivery(bad)).attempts === 1);
    const after = await ds.getRepository(WebhookEndpoint).findOneByOrFail({ id: ep.id });
    expect(after).toMatchObject({ enabled: true, disabledReason: null, consecutiveFailures: 1 });
    expect(after.failingSince!.getTime()).toBeGreaterThan(failingSince.getTime() + DISABLE_AFTER_MS);
    expect(await delivery(bad)).toMatchObject({ status: 'pending' });

    open = true;
    for (const res of held.slice(2)) reply(res, 200, 'ok');
    expect(await ended(bad)).toMatchObject({ status: 'succeeded', attempts: 2 });
  });
});

(testDatabases().includes('sqlite') ? describe.each : describe.skip.each)<DbKind>(['sqlite'])(
  'attempt recording at shutdown on %s',
  (kind) => {
    it('stops retrying a write the database keeps refusing once the shutdown bound has passed, leaving the job to Bull', async () => {
      let answer!: () => void;
      const answered = new Promise<void>((resolve) => (answer = resolve));
      const receiver = await new Receiver((_req, _n, res) => {
        void answered.then(() => res.end('ok'));
        return 'hang';
      }).start();
      // Bound at shutdown: the attempt timeout plus 5 s.
      const t = await startTestApp({
        db: kind,
        webhooks: { sqliteWaitMs: SQLITE_WAIT_MS, outbound: { ...OUTBOUND, timeoutMs: 500 } },
      });
      const runner = t.app.get(DataSource).createQueryRunner();
      let closed = false;
      // Bull's local 'active' event hands over the promise of the job's run.
      let attempt: Promise<unknown> | undefined;
      t.app.get<Queue>(getQueueToken(WEBHOOKS_QUEUE)).on('active', (_job, run: Promise<unknown>) => (attempt = run));
      try {
        const svc = t.app.get(WebhookService);
        await svc.createEndpoint({ url: receiver.url('/stuck'), customerId: 'stuck' });
        await svc.send('stuck.write', {}, { customerId: 'stuck' });
        await receiver.waitFor(1);
        // An app transaction that never ends: every try to record the attempt fails.
        await runner.startTransaction();
        answer();
        await sleep(SQLITE_WAIT_MS * 3);
        await t.close();
        closed = true;
        // The run ends (the test times out otherwise) without its outcome: Bull retries it as stalled.
        await expect(attempt).rejects.toThrow(/transaction has been open|not initialized|closed/i);
        expect(receiver.requests).toHaveLength(1);
      } finally {
        await runner.release().catch(() => undefined);
        if (!closed) await t.close();
        await receiver.stop();
      }
    }, 30_000);
  },
);
