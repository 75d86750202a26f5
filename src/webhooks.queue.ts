import { getQueueToken, getSharedConfigToken } from '@nestjs/bull';
import type { Provider } from '@nestjs/common';
import Bull, { type QueueOptions } from 'bull';
import { deliveryBackoff } from './outbound/retry.policy.js';
import { WEBHOOKS_BACKOFF, WEBHOOKS_OPTIONS, WEBHOOKS_QUEUE } from './webhooks.constants.js';

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
  useFactory: (shared?: QueueOptions & { url?: string }) => {
    const options: QueueOptions = {
      ...shared,
      settings: {
        ...shared?.settings,
        backoffStrategies: { ...shared?.settings?.backoffStrategies, [WEBHOOKS_BACKOFF]: deliveryBackoff },
      },
    };
    const queue = shared?.url ? new Bull(WEBHOOKS_QUEUE, shared.url, options) : new Bull(WEBHOOKS_QUEUE, options);
    // Bull names the worker's connection (CLIENT SETNAME) in a promise it never awaits, started by
    // each process(). If the queue closes before that settles (a shutdown right after boot), the
    // promise rejects with nobody listening, which ends a Node process. The name only labels the
    // connection in CLIENT LIST: keep that rejection here, so that shutdown need not wait for the
    // naming (which, with Redis away, never comes).
    const named = queue as unknown as { setWorkerName(): Promise<void> };
    const setWorkerName = named.setWorkerName.bind(queue);
    named.setWorkerName = () => setWorkerName().catch(() => undefined);
    return Object.assign(queue, { onApplicationShutdown: () => queue.close() });
  },
};
