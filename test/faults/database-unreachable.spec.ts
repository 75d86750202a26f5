/**
 * Scenario 5 (PostgreSQL): the database becomes unreachable for the app while it sends. The app
 * reaches PostgreSQL only through a TCP proxy the test owns; the cut drops its connections in the
 * middle of a send's transaction (after its BEGIN, on the statement that writes the message and
 * its deliveries: the named statement `webhooks_send_customer_v1`) and refuses new ones for a while; then the proxy lets connections through again. The shared
 * PostgreSQL server is never touched.
 */
import { describe, expect, it } from '@jest/globals';
import { DataSource } from 'typeorm';
import type { SendResult } from '../../src/interfaces/webhook-service.interface.js';
import { WebhookService } from '../../src/outbound/webhook.service.js';
import { FAST_OUTBOUND, startTestApp } from '../support/app.js';
import { createTestDatabase, PG_URL } from '../support/databases.js';
import type { ReceivedRequest } from '../support/receiver.js';
import { CountingReceiver } from '../support/receiver.js';
import { allSucceeded, sleep } from '../support/deliveries.js';
import { tally, TcpProxy, warningsLogger } from './support.js';

const OUTBOUND = {
  ...FAST_OUTBOUND,
  schedule: [0, 200, 400, 800, 1_600],
  timeoutMs: 5_000,
  relayIntervalMs: 200,
  reconcileIntervalMs: 500,
};
const ENDPOINTS = ['/db-a', '/db-b'];
/** Counted per endpoint and webhook-id: every message goes to both endpoints. */
const perEndpoint = (req: ReceivedRequest) => `${req.url} ${req.headers['webhook-id']}`;

describe('fault: the database unreachable while sending (postgres)', () => {
  it('the caller gets an error for that send, nothing half-written remains, every committed send is delivered', async () => {
    const pg = new URL(PG_URL);
    const proxy = await TcpProxy.start({ host: pg.hostname, port: Number(pg.port || 5432) });
    const db = await createTestDatabase('postgres');
    const receiver = await new CountingReceiver(() => ({}), perEndpoint).start();
    // One process that emits and delivers, connected to the database only through the proxy.
    const app = await startTestApp({ db: proxy.route(db), webhooks: { outbound: OUTBOUND }, logger: warningsLogger() });
    // Outcome of each send by its number (errors from node's own modules fail `instanceof Error`
    // inside jest's sandbox, hence the wrapper).
    type Outcome = { result: SendResult; error?: undefined } | { error: Error; result?: undefined };
    const sent = new Map<number, Outcome>();
    const svc = app.app.get(WebhookService);
    const send = async (n: number): Promise<Outcome> => {
      const outcome = await svc.send('fault.db', { n }, { customerId: 'db' }).then(
        (result) => ({ result }),
        (error: Error) => ({ error }),
      );
      sent.set(n, outcome);
      return outcome;
    };
    try {
      for (const path of ENDPOINTS) await svc.createEndpoint({ url: receiver.url(path), customerId: 'db' });
      let n = 0;
      while (n < 20) await send(n++);
      // The cut lands inside send #20's transaction: begun, its one write statement on the wire.
      const cut = proxy.cutOn(/webhooks_send_customer_v1/);
      const cutSend = n;
      const [duringCut] = await Promise.all([send(n++), cut]);
      // Unreachable for a while: sends fail at once (connection refused).
      const whileDown: Outcome[] = [];
      for (let i = 0; i < 5; i++) whileDown.push(await send(n++));
      await sleep(500);
      await proxy.restore();
      for (let i = 0; i < 20; i++) await send(n++);

      const ok = [...sent.values()].flatMap((o) => (o.result ? [o.result] : []));
      const ds = app.app.get(DataSource);
      const done = await allSucceeded(
        ds,
        ok.flatMap((r) => r.deliveryIds),
      );
      const t = tally(
        'database-unreachable[postgres]',
        ok.flatMap((r) => ENDPOINTS.map((path) => `${path} ${r.messageId}`)),
        receiver.handled,
      );

      // The caller got an error for the send the cut interrupted, and for those while down.
      expect(duringCut.error?.message).toMatch(/Connection terminated/);
      expect(whileDown.map((o) => !!o.error)).toEqual(whileDown.map(() => true));
      expect(ok).toHaveLength(40);
      // Nothing half-written: every message row has both its delivery rows, and the
      // interrupted send left no message row at all.
      const messages: { id: string; body: string; deliveries: string }[] = await ds.query(
        `SELECT m.id, m.body, COUNT(d.id) AS deliveries FROM webhook_messages m
           LEFT JOIN webhook_deliveries d ON d.message_id = m.id GROUP BY m.id, m.body`,
      );
      expect(messages.filter((m) => Number(m.deliveries) !== ENDPOINTS.length)).toEqual([]);
      expect(messages.map((m) => JSON.parse(m.body).data.n)).not.toContain(cutSend);
      expect(messages.map((m) => m.id).sort()).toEqual(ok.map((r) => r.messageId).sort());
      // Every send that resolved was delivered to both endpoints.
      expect(done).toBe(true);
      expect(t.lostIds).toEqual([]);
      expect(t.maxCopies).toBeLessThanOrEqual(2);
    } finally {
      await app.close();
      await proxy.stop();
      await receiver.stop();
      await db.drop();
    }
  }, 90_000);
});
