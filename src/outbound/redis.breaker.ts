import type { Logger } from '@nestjs/common';
import type { Queue } from 'bull';
import { RedisStalledError } from '../errors/redis-stalled.error.js';
import { messages } from '../webhooks.messages.js';

/**
 * Remembers that Redis stopped answering while its connection looked fine. A hung server keeps
 * the socket open, so ioredis stays 'ready' and every enqueue would wait for its whole timeout,
 * leaving its commands in ioredis's queue. Once tripped, enqueues fail at once and a single PING
 * waits for Redis instead; Redis answers in order, so that answer means it works again and
 * closes the breaker.
 */
export class RedisBreaker {
  private stalled = false;
  private probe: Promise<void> | null = null;
  private lastError: string | null = null;

  constructor(
    private readonly queue: Queue,
    private readonly logger: Logger,
  ) {
    // ioredis reports why each reconnection failed only through 'error' events: kept for the message.
    queue.client.on('error', (err: Error) => (this.lastError = err.message));
    queue.client.on('ready', () => (this.lastError = null));
  }

  /** True while Redis is known stalled (a probe is then waiting for it). */
  blocked(): boolean {
    if (this.stalled) this.startProbe();
    return this.stalled;
  }

  /**
   * Throws {@link RedisStalledError} while Redis is known stalled, and an error naming Redis's
   * address and the connection's last error while it is not connected.
   */
  check(): void {
    if (this.blocked()) throw new RedisStalledError('Redis is not answering; the relay enqueues once it does');
    const { status, options } = this.queue.client;
    if (['end', 'close', 'reconnecting'].includes(status)) {
      const address = options.path ?? `${options.host}:${options.port}`;
      throw new Error(messages.redisAway(address, status, this.lastError));
    }
  }

  /** Marks Redis stalled after a command ran out of time on a connection that looked ready. */
  trip(reason: string): void {
    if (this.stalled) return;
    this.stalled = true;
    this.logger.warn(`${reason}: Redis is treated as stalled, deliveries are left to the relay until it answers.`);
    this.startProbe();
  }

  private startProbe(): void {
    if (this.probe) return;
    // No timeout: ioredis keeps the PING until Redis answers or the connection drops, so one
    // command waits however long Redis hangs. After a drop, the next check sends another.
    this.probe = this.queue.client
      .ping()
      .then(
        () => {
          this.stalled = false;
          this.logger.log('Redis answers again; enqueuing right after commit again.');
        },
        () => undefined,
      )
      .finally(() => (this.probe = null));
  }
}
