/**
 * The fault-injection kit: the tally every scenario prints, Bull settings that make a dead
 * worker's jobs stall soon, a logger that keeps warnings, and a TCP proxy that makes PostgreSQL
 * unreachable for one app. The receiver that counts what it handled is test/support/receiver.ts's
 * CountingReceiver; sending many events and waiting for them is test/support/deliveries.ts.
 */
import type { LoggerService } from '@nestjs/common';
import { createServer, type Server, type Socket, connect } from 'node:net';
import type { TestDatabase } from '../support/databases.js';
import { freePort } from '../support/redis-server.js';

/** Bull settings that make a dead worker's jobs stall (and be noticed) within about 1.5 s. */
export const SHORT_LOCKS = { lockDuration: 1_000, stalledInterval: 500 };

/** What a scenario ends with; `maxCopies` is the most times one webhook-id was handled. */
export interface Tally {
  sent: number;
  delivered: number;
  duplicate: number;
  lost: number;
  maxCopies: number;
  lostIds: string[];
}

/**
 * Counts, over the webhook-ids `sent`, how many the receiver handled at least once (delivered),
 * how many extra copies it handled (duplicate) and how many it never handled (lost), and prints
 * the scenario's line.
 */
export function tally(scenario: string, sent: string[], handled: Map<string, number>): Tally {
  let delivered = 0;
  let duplicate = 0;
  let maxCopies = 0;
  const lostIds: string[] = [];
  for (const id of sent) {
    const n = handled.get(id) ?? 0;
    if (n === 0) lostIds.push(id);
    else delivered += 1;
    duplicate += Math.max(0, n - 1);
    maxCopies = Math.max(maxCopies, n);
  }
  const t = { sent: sent.length, delivered, duplicate, lost: lostIds.length, maxCopies, lostIds };
  console.log(`${scenario}: sent=${t.sent} delivered=${t.delivered} duplicate=${t.duplicate} lost=${t.lost}`);
  return t;
}

/** A Nest logger that keeps warnings (to see which recovery path ran) and drops the rest. */
export function warningsLogger(): LoggerService & { warnings: string[] } {
  const warnings: string[] = [];
  const none = () => undefined;
  return {
    warnings,
    log: none,
    error: none,
    debug: none,
    verbose: none,
    fatal: none,
    warn: (m: unknown) => void warnings.push(String(m)),
  };
}

/**
 * A TCP proxy on 127.0.0.1 that the test owns, between one app and the shared PostgreSQL: `cut()`
 * drops every connection through it and refuses new ones, `restore()` accepts them again. The
 * server itself is never touched. `cutOn(pattern)` arms a cut that happens instead of forwarding
 * the first client packet matching `pattern` (a statement in the middle of a transaction);
 * `freezeOn(pattern)` a freeze, after which the database seems to hang.
 */
export class TcpProxy {
  private server: Server | null = null;
  private readonly sockets = new Set<Socket>();
  private trigger: { pattern: RegExp; freeze: boolean; fired: () => void } | null = null;
  /** Set by {@link freezeOn}: nothing passes, nothing is closed. */
  private frozen = false;
  /** Connections refused or dropped by cuts so far (incoming ones while cut are refused by the OS). */
  cuts = 0;

  private constructor(
    readonly port: number,
    private readonly target: { host: string; port: number },
  ) {}

  static async start(target: { host: string; port: number }): Promise<TcpProxy> {
    const proxy = new TcpProxy(await freePort(), target);
    await proxy.restore();
    return proxy;
  }

  /** `db` with its connection URL pointing at this proxy. */
  route(db: TestDatabase): TestDatabase {
    const url = new URL((db.options as { url: string }).url);
    url.hostname = '127.0.0.1';
    url.port = String(this.port);
    return { ...db, options: { ...db.options, url: url.toString() } as TestDatabase['options'] };
  }

  /** Accepts connections (again), on the same port. */
  async restore(): Promise<void> {
    if (this.server) return;
    const server = createServer((client) => this.pipe(client));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
    this.server = server;
  }

  /** Refuses new connections and drops the open ones. */
  async cut(): Promise<void> {
    this.cuts += 1;
    this.frozen = false;
    const server = this.server;
    this.server = null;
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /**
   * Arms a {@link cut} for the first client packet matching `pattern` (the packet is dropped);
   * resolves once it happened, rejects if no such packet came within `timeoutMs`.
   */
  cutOn(pattern: RegExp, timeoutMs = 10_000): Promise<void> {
    return this.arm(pattern, false, timeoutMs);
  }

  /**
   * Arms a freeze for the first client packet matching `pattern` (dropped): from then on nothing
   * passes either way and no connection is closed; new ones are accepted and never answered, as
   * with a database host that hangs. {@link cut} or {@link stop} ends it.
   */
  freezeOn(pattern: RegExp, timeoutMs = 10_000): Promise<void> {
    return this.arm(pattern, true, timeoutMs);
  }

  private arm(pattern: RegExp, freeze: boolean, timeoutMs: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.trigger = null;
        reject(new Error(`no packet matching ${pattern} went through the proxy within ${timeoutMs} ms`));
      }, timeoutMs);
      this.trigger = { pattern, freeze, fired: () => (clearTimeout(timer), resolve()) };
    });
  }

  async stop(): Promise<void> {
    this.trigger = null;
    await this.cut();
  }

  private pipe(client: Socket): void {
    const upstream = connect(this.target.port, this.target.host);
    this.sockets.add(client).add(upstream);
    const drop = () => {
      client.destroy();
      upstream.destroy();
      this.sockets.delete(client);
      this.sockets.delete(upstream);
    };
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
    client.on('data', (chunk: Buffer) => {
      if (this.frozen) return;
      const trigger = this.trigger;
      if (trigger && trigger.pattern.test(chunk.toString('latin1'))) {
        this.trigger = null;
        if (trigger.freeze) {
          this.frozen = true;
          trigger.fired();
        } else {
          void this.cut().then(trigger.fired);
        }
        return;
      }
      upstream.write(chunk);
    });
    upstream.on('data', (chunk: Buffer) => {
      if (!this.frozen) client.write(chunk);
    });
  }
}
