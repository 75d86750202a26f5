import { getQueueToken, getSharedConfigToken } from '@nestjs/bull';
import type { Provider } from '@nestjs/common';
import Bull, { type QueueOptions } from 'bull';
import type { Redis } from 'ioredis';
import { deliveryBackoff } from '../outbound/retry.policy.js';
import { WebhooksConfigError } from '../errors/webhooks-config.error.js';
import type { ResolvedWebhooksOptions } from '../interfaces/webhooks-options.interface.js';
import { WEBHOOKS_BACKOFF, WEBHOOKS_OPTIONS, WEBHOOKS_QUEUE } from '../webhooks.constants.js';
import { messages } from '../webhooks.messages.js';

/**
 * The module's Bull queue: the app's `BullModule.forRoot` settings plus the delivery backoff,
 * closed at shutdown. It is built only from valid options (it injects {@link WEBHOOKS_OPTIONS}):
 * Nest builds a module's providers side by side, so a queue registered through
 * `BullModule.registerQueueAsync` was still built, and connected to Redis, after an invalid
 * `forRootAsync` option had already failed the boot, with no app left to close it.
 */
export const webhooksQueueProvider: Provider = {
  provide: getQueueToken(WEBHOOKS_QUEUE),
  inject: [{ token: getSharedConfigToken(), optional: true }, WEBHOOKS_OPTIONS],
  useFactory: (
    shared?: QueueOptions & { url?: string; redis?: QueueOptions['redis'] | string },
    resolved?: ResolvedWebhooksOptions,
  ) => {
    // When a dependency of the options is missing (no TypeOrmModule: no DataSource), Nest still
    // calls this, with the options' empty placeholder. A queue built then would hold its Redis
    // connection after the failed boot.
    if (!resolved?.outbound) throw new WebhooksConfigError(messages.optionsUnresolved());
    // Bull also takes `redis` as a URL string; it is read as `url` is, so that options can go with it.
    const url = shared?.url ?? (typeof shared?.redis === 'string' ? shared.redis : undefined);
    const redis = typeof shared?.redis === 'object' ? shared.redis : undefined;
    const options: QueueOptions = {
      ...shared,
      // No CLIENT SETINFO handshake on connect: see nameWorker below.
      redis: { disableClientInfo: true, ...redis },
      settings: {
        ...shared?.settings,
        backoffStrategies: { ...shared?.settings?.backoffStrategies, [WEBHOOKS_BACKOFF]: deliveryBackoff },
      },
    };
    const queue = url ? new Bull(WEBHOOKS_QUEUE, url, options) : new Bull(WEBHOOKS_QUEUE, options);
    nameWorker(queue);
    waitForJobsSafely(queue);
    return Object.assign(queue, { onApplicationShutdown: () => queue.close() });
  },
};

type NamedQueue = Bull.Queue & {
  bclient: Redis;
  bclientInitialized?: boolean;
  processing: Promise<unknown>[];
  clientName(): string;
  setWorkerName(): Promise<void>;
  whenCurrentJobsFinished(): Promise<void>;
};

/**
 * Names the worker's blocking connection (CLIENT SETNAME) with a plain command on each connect,
 * which nothing waits for, instead of Bull's connect handshake: with ioredis 5 a connection that
 * drops during the handshake can stay "ready" with no socket, and the worker never stops
 * (docs/operations.md, Redis). Sent on 'connect', ahead of the commands queued meanwhile, not
 * behind Bull's blocking BRPOPLPUSH. Bull never awaits the naming, so its failure is kept here:
 * an unhandled rejection would end the process.
 */
function nameWorker(queue: Bull.Queue): void {
  const q = queue as NamedQueue;
  let listening = false;
  q.setWorkerName = async () => {
    const bclient = q.bclient;
    const name = q.clientName();
    const send = () =>
      bclient.client('SETNAME', name).then(
        () => undefined,
        () => undefined,
      );
    if (!listening) {
      listening = true;
      bclient.on('connect', send);
    }
    if (bclient.status === 'ready' || bclient.status === 'connect') await send();
  };
}

/**
 * Bull's `whenCurrentJobsFinished()` (the worker's shutdown, and Bull's own close) forces the
 * blocking connection off and back on, and waits for the jobs in flight before it looks at how
 * that went. With Redis away the reconnection fails while a job still runs: that rejection then
 * has no handler yet, and Node ends the process on it (exit code 1 in the middle of a graceful
 * shutdown). Same steps here, with the reconnection's outcome handled at once and still passed on.
 */
function waitForJobsSafely(queue: Bull.Queue): void {
  const q = queue as NamedQueue;
  q.whenCurrentJobsFinished = () => {
    if (!q.bclientInitialized) return Promise.resolve();
    // A local pause that does not wait: the paused state (already set by any caller) plus the
    // forced reconnection of the blocking connection, which is what Bull's own version starts with.
    const reconnected = q.pause(true, true);
    reconnected.catch(() => undefined);
    return Promise.all(Object.values(q.processing)).then(() => reconnected);
  };
}
