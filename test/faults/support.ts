/**
 * The fault-injection kit: a receiver that counts what it handled per `webhook-id`, the tally
 * every scenario prints, a TCP proxy that makes PostgreSQL unreachable for one app, and small
 * helpers to send many events and wait for the outcome. Also used by the workers and shutdown
 * integration tests.
 */
import type { LoggerService } from '@nestjs/common';
import { createServer, type Server, type Socket, connect } from 'node:net';
import type { ServerResponse } from 'node:http';
import type { DataSource } from 'typeorm';
import type { WebhookService } from '../../src/outbound/webhook.service.js';
import type { TestDatabase } from '../support/databases.js';
import { eventually, type ReceivedRequest, Receiver } from '../support/receiver.js';
import { freePort } from '../support/redis-server.js';

/** Bull settings that make a dead worker's jobs stall (and be noticed) within about 1.5 s. */
export const SHORT_LOCKS = { lockDuration: 1_000, stalledInterval: 500 };

/** How the receiver treats one request: handle it (answer 200, at once or after a delay), or hang. */
export type Answer = { delayMs?: number } | 'hang';

/**
 * A receiver that counts, per `webhook-id` (or another key), the requests it handled. A handled
 * request is one it answers 200, at once or after `delayMs`: it counts on arrival, as a real
 * receiver processes the event before its answer reaches the sender (or fails to, when the
 * sender died meanwhile). A request it hangs is never answered and not counted.
 */
export class CountingReceiver {
  readonly handled = new Map<string, number>();
  /** Requests handled, by the sender's user agent (the tests name each worker by it). */
  readonly bySender = new Map<string, number>();
  /** Responses not written yet (delayed or hung), with the user agent of their sender. */
  readonly open = new Map<ServerResponse, string>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly receiver: Receiver;
  private port = 0;

  /**
   * @param policy how to treat each request
   * @param keyOf what is counted: the webhook-id by default (one endpoint per message); with
   *   several endpoints, the path and the webhook-id.
   */
  constructor(
    public policy: (req: ReceivedRequest) => Answer = () => ({}),
    private readonly keyOf: (req: ReceivedRequest) => string = (req) => String(req.headers['webhook-id']),
  ) {
    this.receiver = new Receiver((req, _n, res) => this.answer(req, res));
  }

  async start(): Promise<this> {
    await this.receiver.start(this.port);
    this.port = this.receiver.port;
    return this;
  }

  /** Closes the listener and drops every connection: senders get "connection refused" until {@link start}. */
  async stop(): Promise<void> {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    this.open.clear();
    await this.receiver.stop();
  }

  /** The URL of `path` on this receiver; it stays the same across stop and start. */
  url(path = '/hook'): string {
    return `http://127.0.0.1:${this.port}${path}`;
  }

  /** Every request that arrived, handled or not. */
  get requests(): ReceivedRequest[] {
    return this.receiver.requests;
  }

  /** Requests from `sender` still waiting for their answer. */
  inFlight(sender: string): number {
    return [...this.open.values()].filter((s) => s === sender).length;
  }

  private answer(req: ReceivedRequest, res: ServerResponse): 'hang' | { status: number; body: string } {
    const sender = String(req.headers['user-agent']);
    const answer = this.policy(req);
    if (answer === 'hang') {
      this.open.set(res, sender);
      return 'hang';
    }
    const key = this.keyOf(req);
    this.handled.set(key, (this.handled.get(key) ?? 0) + 1);
    this.bySender.set(sender, (this.bySender.get(sender) ?? 0) + 1);
    if (!answer.delayMs) return { status: 200, body: 'ok' };
    this.open.set(res, sender);
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      this.open.delete(res);
      if (!res.destroyed && !res.writableEnded) res.writeHead(200).end('ok');
    }, answer.delayMs);
    this.timers.add(timer);
    return 'hang';
  }
}

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

/** Sends `count` events to `customerId`, `parallel` at a time; returns the message ids (the webhook-ids). */
export async function sendMany(svc: WebhookService, count: number, customerId: string, parallel = 10): Promise<{ messageIds: string[]; deliveryIds: string[] }> {
  const messageIds: string[] = [];
  const deliveryIds: string[] = [];
  for (let i = 0; i < count; i += parallel) {
    const batch = await Promise.all(
      Array.from({ length: Math.min(parallel, count - i) }, (_, k) => svc.send('fault.test', { n: i + k }, { customerId })),
    );
    for (const r of batch) {
      messageIds.push(r.messageId);
      deliveryIds.push(...r.deliveryIds);
    }
  }
  return { messageIds, deliveryIds };
}

/** Delivery rows by status, for the deliveries in `ids` (all of them when omitted). */
export async function statusCounts(ds: DataSource, ids?: string[]): Promise<Record<string, number>> {
  const qb = ds.createQueryBuilder().select('d.status', 'status').addSelect('COUNT(*)', 'n').from('webhook_deliveries', 'd').groupBy('d.status');
  if (ids) qb.where('d.id IN (:...ids)', { ids });
  const rows: { status: string; n: string | number }[] = await qb.getRawMany();
  return Object.fromEntries(rows.map((r) => [r.status, Number(r.n)]));
}

/**
 * Waits until every delivery in `ids` has succeeded; resolves false instead of throwing on
 * timeout, so the scenario still prints its tally before its assertions fail.
 */
export async function allSucceeded(ds: DataSource, ids: string[], timeoutMs = 60_000): Promise<boolean> {
  return eventually(async () => (await statusCounts(ds, ids)).succeeded === ids.length, timeoutMs, 100).then(
    () => true,
    () => false,
  );
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A Nest logger that keeps warnings (to see which recovery path ran) and drops the rest. */
export function warningsLogger(): LoggerService & { warnings: string[] } {
  const warnings: string[] = [];
  const none = () => undefined;
  return { warnings, log: none, error: none, debug: none, verbose: none, fatal: none, warn: (m: unknown) => void warnings.push(String(m)) };
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
