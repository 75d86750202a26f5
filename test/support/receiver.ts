import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One request as the receiver saw it. */
export interface ReceivedRequest {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: string;
  at: number;
}

/** How to answer the n-th request (0-based); return nothing to answer 200. */
export type Responder = (
  req: ReceivedRequest,
  n: number,
  res: ServerResponse,
) => void | { status: number; headers?: Record<string, string>; body?: string } | 'hang';

/** A real HTTP server on 127.0.0.1 that records every request and answers as scripted. */
export class Receiver {
  readonly requests: ReceivedRequest[] = [];
  private server!: Server;
  private waiters: { count: number; resolve: () => void }[] = [];
  private hung = new Set<ServerResponse>();

  constructor(private responder: Responder = () => undefined) {}

  async start(port = 0): Promise<this> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c) => chunks.push(c));
      req.on('end', () => {
        const rec: ReceivedRequest = {
          method: req.method ?? '',
          url: req.url ?? '',
          headers: req.headers,
          body: Buffer.concat(chunks).toString('utf8'),
          at: Date.now(),
        };
        const n = this.requests.push(rec) - 1;
        const answer = this.responder(rec, n, res);
        if (answer === 'hang') {
          this.hung.add(res);
        } else if (!res.headersSent && !res.writableEnded) {
          const a = answer ?? { status: 200, body: 'ok' };
          res.writeHead(a.status, a.headers);
          res.end(a.body ?? '');
        }
        this.waiters = this.waiters.filter((w) => (this.requests.length >= w.count ? (w.resolve(), false) : true));
      });
    });
    await new Promise<void>((resolve) => this.server.listen(port, '127.0.0.1', resolve));
    return this;
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  url(path = '/hook'): string {
    return `http://127.0.0.1:${this.port}${path}`;
  }

  respond(responder: Responder): void {
    this.responder = responder;
  }

  /** Resolves once `count` requests have arrived (rejects after `timeoutMs`). */
  waitFor(count: number, timeoutMs = 20_000): Promise<void> {
    if (this.requests.length >= count) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`receiver got ${this.requests.length} of ${count} requests`)),
        timeoutMs,
      );
      this.waiters.push({ count, resolve: () => (clearTimeout(timer), resolve()) });
    });
  }

  async stop(): Promise<void> {
    for (const res of this.hung) res.destroy();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

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

/** Polls `check` until it returns a truthy value (rejects after `timeoutMs`). */
export async function eventually<T>(
  check: () => Promise<T> | T,
  timeoutMs = 20_000,
  everyMs = 50,
): Promise<NonNullable<T>> {
  const until = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v) return v as NonNullable<T>;
    } catch (err) {
      last = err;
    }
    if (Date.now() > until) throw last instanceof Error ? last : new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
