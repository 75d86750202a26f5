import { getQueueToken } from '@nestjs/bull';
import { afterEach, describe, expect, it } from '@jest/globals';
import type { FactoryProvider } from '@nestjs/common';
import type { Queue } from 'bull';
import { once } from 'node:events';
import { createServer, type Socket } from 'node:net';
import { Redis } from 'ioredis';
import { WebhookService } from '../../src/outbound/webhook.service.js';
import { settleWithin } from '../../src/utils/settle.js';
import { WEBHOOKS_QUEUE } from '../../src/webhooks.constants.js';
import { webhooksQueueProvider } from '../../src/queue/webhooks.queue.js';
import { resolveWebhooksOptions } from '../../src/webhooks.options.js';
import { FAST_OUTBOUND, startTestApp, type TestApp } from '../support/app.js';
import { type Child, reapChildren, startWorker, stop } from '../support/child.js';
import { testDatabases } from '../support/databases.js';
import { CountingReceiver, eventually } from '../support/receiver.js';
import { REDIS_URL } from '../support/redis.js';
import { PrivateRedis } from '../support/redis-server.js';

/** The receiver answers the slow endpoint after this long: SIGTERM lands in the middle. */
/** The module's queue as its provider builds it, from the app's Bull settings and resolved options. */
function queueFrom(shared: object): unknown {
  return (webhooksQueueProvider as FactoryProvider).useFactory(shared, resolveWebhooksOptions({}));
}

const SLOW_MS = 1_500;
/** One attempt at a time, so a second queued delivery is there to be taken (or not) after SIGTERM. */
const OUTBOUND = { ...FAST_OUTBOUND, timeoutMs: 4_000, concurrency: 1 };
/**
 * How long a SIGTERMed worker may take to exit: the processor waits for attempts in flight up to
 * the attempt timeout plus its 5 s margin; 3 s more for closing Redis and the database (plus
 * any wait of the app's own, see the last test).
 */
const EXIT_BOUND_MS = OUTBOUND.timeoutMs + 5_000 + 3_000;
/**
 * Once Nest's shutdown sequence has finished, the process must end within this: nothing of the
 * module may keep it alive. (A timer left set holds it until it fires, 30 s for the default
 * reconcile pass; a Redis or database connection, for ever. Idle undici sockets are unref'd.)
 */
const LINGER_MS = 2_000;

// The workers are child processes that call enableShutdownHooks(); the 'worker' action keeps a
// SIGTERM listener of its own, so the signal Nest re-raises after closing does not kill them:
// exit code 0 soon after Nest's shutdown finished means the process ended by itself, i.e. the
// module closed its Redis and database connections, sockets and timers (the child reports what
// was still open when the shutdown sequence finished, and on stderr what lingers 3 s later).
describe.each(testDatabases())('graceful shutdown of a worker on %s', (kind) => {
  let emitter: TestApp | undefined;
  let receiver: CountingReceiver | undefined;

  afterEach(async () => {
    await reapChildren();
    await emitter?.close();
    await receiver?.stop();
    emitter = receiver = undefined;
  });

  const setup = async (slowAnswer: 'delayed' | 'hang', gracefulShutdownMs = 0) => {
    receiver = await new CountingReceiver((req) =>
      req.url !== '/slow' ? {} : slowAnswer === 'hang' ? 'hang' : { delayMs: SLOW_MS },
    ).start();
    emitter = await startTestApp({ db: kind, webhooks: { role: 'emitter', outbound: OUTBOUND } });
    const svc = emitter.app.get(WebhookService);
    await svc.createEndpoint({ url: receiver.url('/slow'), customerId: 'slow' });
    await svc.createEndpoint({ url: receiver.url('/next'), customerId: 'next' });
    const worker = (name: string) =>
      startWorker({
        db: emitter!.db,
        prefix: emitter!.prefix,
        redisUrl: REDIS_URL,
        name,
        outbound: OUTBOUND,
        gracefulShutdownMs,
      });
    const a = await worker('worker-a');
    // Delivery 1 is in flight at worker-a (concurrency 1); delivery 2 waits in the queue behind it.
    const slow = await svc.send('shutdown.slow', {}, { customerId: 'slow' });
    await eventually(() => receiver!.inFlight('worker-a') === 1);
    const next = await svc.send('shutdown.next', {}, { customerId: 'next' });
    const queue = emitter.app.get<Queue>(getQueueToken(WEBHOOKS_QUEUE));
    expect(await (await queue.getJob(next.deliveryIds[0]))?.getState()).toBe('waiting');
    expect(receiver.inFlight('worker-a')).toBe(1);
    return {
      svc,
      queue,
      a,
      worker,
      slow: slow.deliveryIds[0],
      next: next.deliveryIds[0],
      bound: EXIT_BOUND_MS + gracefulShutdownMs,
    };
  };

  /** SIGTERMs `child`; it must run Nest's shutdown to its end, then exit 0 by itself promptly, within `bound`. */
  const stopsByItself = async (child: Child, bound: number, linger = LINGER_MS) => {
    const end = await stop(child, 'SIGTERM', bound);
    const exitAt = Date.now();
    expect(end).toMatchObject({ code: 0, signal: null, timedOut: false });
    expect(child.messages.some((m) => m.sigterm)).toBe(true);
    const closed = child.messages.find((m) => m.closed);
    // Failing, this shows what was still open when the shutdown sequence finished.
    expect({ closed: !!closed, lingered: exitAt - (closed?.closed ?? 0) < linger, open: closed?.open }).toEqual({
      closed: true,
      lingered: true,
      open: expect.anything(),
    });
  };

  /** After worker-a is gone: delivery 2 was not touched, and worker-b delivers it. */
  const nextTakenOnlyByAnotherWorker = async (s: Awaited<ReturnType<typeof setup>>) => {
    expect(receiver!.requests.filter((r) => r.url === '/next')).toEqual([]);
    expect(await s.svc.getDelivery(s.next)).toMatchObject({ status: 'pending', attempts: 0 });
    expect((await s.svc.listAttempts(s.next)).data).toEqual([]);
    expect(await (await s.queue.getJob(s.next))?.getState()).toBe('waiting');

    receiver!.policy = () => ({});
    const b: Child = await s.worker('worker-b');
    await eventually(async () => (await s.svc.getDelivery(s.next)).status === 'succeeded');
    expect(receiver!.requests.filter((r) => r.url === '/next').map((r) => r.headers['user-agent'])).toEqual([
      'worker-b',
    ]);
    // An idle worker stops by itself too.
    await stopsByItself(b, s.bound);
  };

  /** The attempt in flight at SIGTERM was answered and recorded before the database connection closed. */
  const inFlightAttemptRecorded = async (s: Awaited<ReturnType<typeof setup>>) => {
    expect(receiver!.inFlight('worker-a')).toBe(0);
    expect(receiver!.requests.map((r) => [r.url, r.headers['user-agent']])).toEqual([['/slow', 'worker-a']]);
    expect(await s.svc.getDelivery(s.slow)).toMatchObject({ status: 'succeeded', attempts: 1, lastStatusCode: 200 });
    expect((await s.svc.listAttempts(s.slow)).data).toMatchObject([
      { number: 1, statusCode: 200, responseBody: 'ok', errorClass: null },
    ]);
  };

  it('SIGTERM during an attempt: the attempt finishes and is recorded, no new job is taken, the process exits 0 by itself', async () => {
    const s = await setup('delayed');
    await stopsByItself(s.a, s.bound);

    await inFlightAttemptRecorded(s);
    await nextTakenOnlyByAnotherWorker(s);
  }, 60_000);

  it('SIGTERM during an attempt that never gets an answer: stopped by the attempt timeout, recorded, exit 0 within the bound', async () => {
    const s = await setup('hang');
    await stopsByItself(s.a, s.bound);
    // The attempt ended at its timeout and was logged as such, with the retry scheduled.
    expect(await s.svc.getDelivery(s.slow)).toMatchObject({ status: 'pending', attempts: 1, lastStatusCode: null });
    expect((await s.svc.listAttempts(s.slow)).data).toMatchObject([
      { number: 1, statusCode: null, errorClass: 'timeout' },
    ]);

    await nextTakenOnlyByAnotherWorker(s);
  }, 60_000);

  /*
   * The app around the module waits at shutdown too, as TerminusModule's gracefulShutdownTimeoutMs
   * does for a load balancer to notice (its hook sits under a health module). The wait is longer
   * than the slow answer, so a worker still taking jobs during it finishes the attempt in flight
   * and takes delivery 2. It did while the processor paused the queue in beforeApplicationShutdown:
   * WebhooksModule is global by default, global modules get Nest's largest distance, and that
   * hook runs nearest-to-the-root first, so the pause came after the app's wait. Now it pauses in
   * onModuleDestroy (every module's runs before any beforeApplicationShutdown) and waits for the
   * attempts in flight in beforeApplicationShutdown.
   */
  it('SIGTERM while the app also waits at shutdown (Terminus style): still no new job taken during the wait', async () => {
    const s = await setup('delayed', 2_500);
    await stopsByItself(s.a, s.bound);
    await inFlightAttemptRecorded(s);
    await nextTakenOnlyByAnotherWorker(s);
  }, 60_000);

  // Shutdown used to wait, before pausing the queue, for Bull to name the worker's connection in
  // Redis (CLIENT LIST): with Redis away that wait never ended, and the process never exited.
  it("SIGTERM while Redis is down: Nest's shutdown finishes without Redis, and the process exits 0 by itself", async () => {
    const redis = await PrivateRedis.start();
    try {
      emitter = await startTestApp({ db: kind, webhooks: { role: 'emitter', outbound: OUTBOUND } });
      const worker = await startWorker({
        db: emitter.db,
        prefix: emitter.prefix,
        redisUrl: redis.url,
        name: 'worker-r',
        outbound: OUTBOUND,
      });
      await redis.stop();
      // A Redis connection closed while its server is away keeps a timer of ioredis's own
      // (disconnectTimeout, 2 s) until it gives the socket up: the process may linger that long.
      await stopsByItself(worker, EXIT_BOUND_MS, LINGER_MS + 2_000);
    } finally {
      await redis.stop();
    }
  }, 60_000);

  it('SIGTERM to a worker that booted while Redis was already down: the process exits 0 by itself', async () => {
    const redis = await PrivateRedis.start();
    try {
      emitter = await startTestApp({ db: kind, webhooks: { role: 'emitter', outbound: OUTBOUND } });
      await redis.stop();
      const worker = await startWorker({
        db: emitter.db,
        prefix: emitter.prefix,
        redisUrl: redis.url,
        name: 'worker-d',
        outbound: OUTBOUND,
      });
      await stopsByItself(worker, EXIT_BOUND_MS, LINGER_MS + 2_000);
    } finally {
      await redis.stop();
    }
  }, 60_000);
});

describe("the module's Bull queue", () => {
  // Bull names the worker's connection (CLIENT SETNAME) in a promise it never awaits, started by
  // each process() call. A queue closed before that settled (a shutdown right after boot)
  // rejected it with nobody listening, which ends a Node process; shutdown used to wait for the
  // naming instead, and with Redis away that wait never ended.
  it('closed before its worker is named: the naming settles without a rejection', async () => {
    const redis = await PrivateRedis.start();
    const queue = queueFrom({ url: redis.url }) as Queue & { setWorkerName(): Promise<void> };
    try {
      await queue.isReady();
      // Redis holds every command for a while: the naming cannot finish before the close.
      const admin = new Redis(redis.url);
      await admin.call('CLIENT', 'PAUSE', '3000');
      admin.disconnect();
      // process() starts the same call; made here directly so that the test holds its promise.
      const naming = queue.setWorkerName();
      await queue.close();
      await expect(naming).resolves.toBeUndefined();
    } finally {
      await queue.close();
      await redis.stop();
    }
  });

  // ioredis 5 marks a connection that closed during its connect handshake (CLIENT SETINFO, and the
  // CLIENT SETNAME of a Bull worker's name) "ready" once a manual disconnect flushes that
  // handshake (its issue 2099), though its socket is gone; Bull's close then waited for that
  // client for ever, and a worker told to stop while Redis was away never exited. The module's
  // queue connects without a handshake and names the worker afterwards.
  it('a connection dropped during its handshake: the shutdown pause and close still finish', async () => {
    // A "Redis" that accepts connections and never answers: a connect's handshake stays pending.
    const sockets = new Set<Socket>();
    const server = createServer((socket) => {
      sockets.add(socket);
      socket.on('error', () => undefined);
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const url = `redis://127.0.0.1:${(server.address() as { port: number }).port}`;
    const queue = queueFrom({ url }) as Queue & { bclient: Redis };
    queue.on('error', () => undefined);
    try {
      // As process() does: the worker's connection, named.
      void (queue as unknown as { setWorkerName(): Promise<void> }).setWorkerName();
      const bclient = queue.bclient;
      bclient.on('error', () => undefined);
      await once(bclient, 'connect');
      await new Promise((resolve) => setTimeout(resolve, 50));
      // The server goes away mid-handshake, for good: every reconnection is refused.
      const closed = once(bclient, 'close');
      server.close();
      for (const socket of sockets) socket.destroy();
      await closed;
      // What the worker's shutdown does: a local pause that forces the blocking connection off.
      expect(
        await settleWithin(
          queue.pause(true, true).catch(() => undefined),
          3_000,
        ),
      ).toBe('done');
      expect(bclient.status).not.toBe('ready');
      expect(await settleWithin(queue.close(), 3_000)).toBe('done');
    } finally {
      for (const socket of sockets) socket.destroy();
      if (server.listening) server.close();
      await settleWithin(queue.close(), 3_000);
      // A connection closed after its socket was gone keeps ioredis's disconnectTimeout (2 s).
      await new Promise((resolve) => setTimeout(resolve, 2_100));
    }
  });

  // The Redis settings come from the app's BullModule.forRoot in any of Bull's forms; the queue
  // adds disableClientInfo (see above) unless the app chose otherwise.
  const db7 = Object.assign(new URL(REDIS_URL), { pathname: '/7' }).href;
  it.each([
    ['url', { url: db7 }, true],
    ['redis as a URL string', { redis: db7 }, true],
    [
      'redis as options',
      { redis: { host: new URL(db7).hostname, port: Number(new URL(db7).port || 6379), db: 7 } },
      true,
    ],
    [
      'url with redis options that set disableClientInfo: false',
      { url: db7, redis: { disableClientInfo: false } },
      false,
    ],
  ])("takes the app's Redis settings as %s", async (_form, shared, handshakeOff) => {
    const queue = queueFrom(shared) as Queue & { client: Redis };
    try {
      await queue.isReady();
      expect(queue.client.options).toMatchObject({ db: 7, disableClientInfo: handshakeOff });
      expect(await queue.client.ping()).toBe('PONG');
    } finally {
      await queue.close();
    }
  });

  it("names the worker's connection (what getWorkers() lists), and again at once when Redis is back", async () => {
    const redis = await PrivateRedis.start();
    const queue = queueFrom({ url: redis.url }) as Queue & { bclient: Redis; clientName(): string };
    queue.on('error', () => undefined);
    const admin = new Redis(redis.url, { lazyConnect: true, maxRetriesPerRequest: 1 });
    admin.on('error', () => undefined);
    const named = async () => String(await admin.client('LIST')).includes(` name=${queue.clientName()} `);
    try {
      void queue.process('named', 1, async () => undefined).catch(() => undefined);
      await eventually(async () => (await queue.getWorkers()).length === 1);
      await redis.stop();
      const back = new Promise((resolve) => queue.bclient.once('ready', resolve));
      await redis.start();
      await back;
      // A new server knows no names. The name must go out ahead of the BRPOPLPUSH queued while
      // Redis was away, which holds the connection for 5 s (Bull's drainDelay) when the queue is
      // empty: listed well before that.
      await eventually(named, 2_500);
    } finally {
      admin.disconnect();
      await queue.close();
      await redis.stop();
    }
  }, 30_000);

  // Bull's whenCurrentJobsFinished() left the failed reconnection of its blocking connection
  // without a handler while a job still ran; with Redis away, Node ended the worker on it (exit
  // code 1 in a graceful shutdown, seen in "SIGTERM while Redis is down").
  it('waiting for a running job while Redis is away leaves no unhandled rejection', async () => {
    const redis = await PrivateRedis.start();
    const queue = queueFrom({ url: redis.url }) as Queue & { whenCurrentJobsFinished(): Promise<void> };
    queue.on('error', () => undefined);
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let started!: () => void;
    const running = new Promise<void>((resolve) => (started = resolve));
    try {
      void queue.process('held', 1, async () => (started(), gate)).catch(() => undefined);
      await queue.add('held', {});
      await running;
      await redis.stop();
      void queue.whenCurrentJobsFinished().catch(() => undefined);
      // The forced reconnection gives up after Bull's 500 ms QUIT wait and a refused connect.
      await new Promise((resolve) => setTimeout(resolve, 1_500));
      expect(unhandled).toEqual([]);
    } finally {
      release();
      process.off('unhandledRejection', onUnhandled);
      await settleWithin(queue.close(true), 3_000);
      await redis.stop();
      // A connection closed while its server is away keeps ioredis's disconnectTimeout (2 s).
      await new Promise((resolve) => setTimeout(resolve, 2_100));
    }
  }, 30_000);
});
