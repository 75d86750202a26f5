import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { DataSource } from 'typeorm';
import { WebhookInboxError } from '../../src/errors/webhook-inbox.error.js';
import { WebhookNotFoundError } from '../../src/errors/webhook-not-found.error.js';
import { WebhookValidationError } from '../../src/errors/webhook-validation.error.js';
import { WebhookInbox } from '../../src/inbound/webhook-inbox.service.js';
import { WebhookService } from '../../src/outbound/webhook.service.js';
import { PortalService } from '../../src/portal/portal.service.js';
import { FAST_OUTBOUND, startTestApp, type TestApp } from '../support/app.js';
import { testDatabases } from '../support/databases.js';

/**
 * Arguments of the wrong kind, as an app's own route hands them on from a query string
 * (`?id=a&id=b` is an array) or untyped JSON: each call answers the module's own error for its
 * argument, never a TypeError or a database error, and writes nothing.
 */
describe.each(testDatabases())('service arguments of the wrong kind on %s', (db) => {
  let t: TestApp;
  let svc: WebhookService;
  let endpointId: string;
  const proxyDate = new Proxy(new Date(), {}) as Date;
  const throwingThen = Object.defineProperty({}, 'then', {
    get() {
      throw new Error('then getter');
    },
  });
  const cyclic: Record<string, unknown> = Object.create(null);
  cyclic.self = cyclic;
  const KINDS: [string, unknown][] = [
    ['an array', ['x', 'y']],
    ['an object', { id: 'x' }],
    ['a null-prototype object', cyclic],
    ['a number', 5],
    ['a symbol', Symbol('id')],
    ['NaN', Number.NaN],
  ];

  beforeAll(async () => {
    t = await startTestApp({ db, webhooks: { outbound: FAST_OUTBOUND, portal: {} } });
    svc = t.app.get(WebhookService);
    endpointId = (await svc.createEndpoint({ url: 'https://example.com/args' })).id;
  });
  afterAll(async () => t?.close());

  const counts = async () => {
    const ds = t.app.get(DataSource);
    const [[m], [e], [d]] = await Promise.all(
      ['webhook_messages', 'webhook_endpoints', 'webhook_deliveries'].map((table) =>
        ds.query(`SELECT COUNT(*) AS n FROM ${table}`),
      ),
    );
    return [Number(m.n), Number(e.n), Number(d.n)];
  };

  /** What each call rejects with, by its class name and the field it names. */
  async function refusal(call: () => Promise<unknown>): Promise<string> {
    try {
      await call();
      return 'resolved';
    } catch (err) {
      if (err instanceof WebhookValidationError) return `validation:${err.field}`;
      if (err instanceof WebhookNotFoundError) return 'not found';
      if (err instanceof WebhookInboxError) return `inbox:${err.code}`;
      return `${(err as Error)?.constructor?.name}: ${(err as Error)?.message}`;
    }
  }

  /** Each call refuses as expected (name, call, refusal), and none of them wrote a row. */
  async function expectRefusals(calls: [string, () => Promise<unknown>, string][]): Promise<void> {
    const before = await counts();
    const got = [];
    for (const [name, call] of calls) got.push([name, await refusal(call)]);
    expect(got).toEqual(calls.map(([name, , expected]) => [name, expected]));
    expect(await counts()).toEqual(before);
  }

  it.each(KINDS)(
    'answers %s as a filter, an id or an options object with the error of that argument',
    async (_kind, v) => {
      const any = v as any;
      const calls: [string, () => Promise<unknown>, string][] = [
        ['listEndpoints customerId', () => svc.listEndpoints({ customerId: any }), 'validation:customerId'],
        ['listMessages customerId', () => svc.listMessages({ customerId: any }), 'validation:customerId'],
        ['listMessages type', () => svc.listMessages({ type: any }), 'validation:type'],
        ['listDeliveries messageId', () => svc.listDeliveries({ messageId: any }), 'validation:messageId'],
        ['listDeliveries endpointId', () => svc.listDeliveries({ endpointId: any }), 'validation:endpointId'],
        ['listDeliveries status', () => svc.listDeliveries({ status: any }), 'validation:status'],
        ['listAttempts deliveryId', () => svc.listAttempts(any), 'validation:deliveryId'],
        ['getEndpoint', () => svc.getEndpoint(any), 'not found'],
        ['getMessage', () => svc.getMessage(any), 'not found'],
        ['redeliver', () => svc.redeliver(any), 'not found'],
        ['updateEndpoint id', () => svc.updateEndpoint(any, {}), 'not found'],
        ['rotateEndpointSecret id', () => svc.rotateEndpointSecret(any), 'not found'],
        ['recoverFailed endpointId', () => svc.recoverFailed({ endpointId: any, since: new Date(0) }), 'not found'],
        ['send manager', () => svc.send('args.sent', {}, { manager: any }), 'validation:manager'],
        ['inbox list source', () => t.app.get(WebhookInbox).list({ source: any }), 'validation:source'],
        ['inbox replay', () => t.app.get(WebhookInbox).replay(any), 'inbox:not_found'],
      ];
      await expectRefusals(calls);
    },
  );

  it('answers null or a non-object where an options object or input goes', async () => {
    const calls: [string, () => Promise<unknown>, string][] = [
      ['send', () => svc.send('args.sent', {}, null as any), 'validation:options'],
      ['createEndpoint', () => svc.createEndpoint(null as any), 'validation:input'],
      [
        'createEndpoint enabled',
        () => svc.createEndpoint({ url: 'https://e.com/', enabled: 'yes' as any }),
        'validation:enabled',
      ],
      ['updateEndpoint', () => svc.updateEndpoint(endpointId, null as any), 'validation:patch'],
      ['listEndpoints', () => svc.listEndpoints(null as any), 'validation:options'],
      ['listAttempts', () => svc.listAttempts('dlv_x', 'all' as any), 'validation:options'],
      ['rotateEndpointSecret', () => svc.rotateEndpointSecret(endpointId, null as any), 'validation:options'],
      ['recoverFailed', () => svc.recoverFailed(null as any), 'validation:options'],
      ['inbox list', () => t.app.get(WebhookInbox).list(null as any), 'validation:options'],
      ['inbox replayable', () => t.app.get(WebhookInbox).list({ replayable: 'yes' as any }), 'validation:replayable'],
      // A Proxy of a Date passes instanceof, and its getTime() throws a TypeError.
      ['recoverFailed since proxy', () => svc.recoverFailed({ endpointId, since: proxyDate }), 'validation:since'],
      ['prune proxy', () => svc.prune(proxyDate), 'validation:olderThan'],
      ['send data with a throwing then', () => svc.send('args.sent', throwingThen), 'validation:data'],
      [
        'portal session customerId',
        () => t.app.get(PortalService).createSession({ customerId: 'a\u0000b' }),
        'validation:customerId',
      ],
    ];
    await expectRefusals(calls);
  });

  it('refuses an option the call does not read, naming it and the key it most likely meant, and a cursor of another kind', async () => {
    const inbox = t.app.get(WebhookInbox);
    const day = new Date(Date.now() - 86_400_000);
    const typo: any = (o: object) => o;
    const calls: [string, () => Promise<unknown>, string][] = [
      // Ignored, a misspelt customerId sent the tenant's event to the endpoints of no customer.
      ['send', () => svc.send('args.sent', {}, typo({ customerID: 'c1' })), 'validation:customerID'],
      [
        'createEndpoint',
        () => svc.createEndpoint(typo({ url: 'https://e.com/', eventType: ['a.b'] })),
        'validation:eventType',
      ],
      ['updateEndpoint', () => svc.updateEndpoint(endpointId, typo({ secret: 'whsec_x' })), 'validation:secret'],
      ['rotateEndpointSecret', () => svc.rotateEndpointSecret(endpointId, typo({ grace: 0 })), 'validation:grace'],
      ['listEndpoints', () => svc.listEndpoints(typo({ customer: 'c1' })), 'validation:customer'],
      ['listMessages', () => svc.listMessages(typo({ endpointId })), 'validation:endpointId'],
      ['listDeliveries', () => svc.listDeliveries(typo({ customerId: 'c1' })), 'validation:customerId'],
      ['listAttempts', () => svc.listAttempts('dlv_x', typo({ limt: 5 })), 'validation:limt'],
      ['recoverFailed', () => svc.recoverFailed(typo({ endpointId, since: day, until: day })), 'validation:until'],
      ['replayMissing', () => svc.replayMissing(typo({ endpointId, since: day, untill: day })), 'validation:untill'],
      ['prune', () => svc.prune(day, typo({ singal: undefined })), 'validation:singal'],
      ['prune null', () => svc.prune(day, null as any), 'validation:options'],
      ['inbox list', () => inbox.list(typo({ customerId: 'c1' })), 'validation:customerId'],
      ['inbox prune', () => inbox.prune(day, null as any), 'validation:options'],
      // A cursor must be an id of the list's kind: compared with <, zzzz paged from the start.
      ['listEndpoints cursor', () => svc.listEndpoints({ cursor: 'zzzz' }), 'validation:cursor'],
      ['listMessages cursor', () => svc.listMessages({ cursor: endpointId }), 'validation:cursor'],
      ['inbox list cursor', () => inbox.list({ cursor: endpointId.toLowerCase() }), 'validation:cursor'],
      [
        'portal session',
        () => t.app.get(PortalService).createSession(typo({ customerId: 'c1', expiresAt: new Date() })),
        'validation:expiresAt',
      ],
    ];
    await expectRefusals(calls);
    await expect(svc.send('args.sent', {}, typo({ customerID: 'c1' }))).rejects.toThrow(
      'options has no "customerID" (did you mean "customerId"?); it takes customerId, idempotencyKey, manager, endpointId.',
    );
  });

  it('refuses custom headers the HTTP client would refuse at every attempt, or given twice, or too many', async () => {
    const headers = (h: Record<string, string>) =>
      refusal(() => svc.createEndpoint({ url: 'https://e.com/h', headers: h }));
    const many = Object.fromEntries(Array.from({ length: 51 }, (_, i) => [`x-h${i}`, 'v']));
    for (const bad of [
      { 'x-v': '€' },
      { 'x-v': 'a\u0001b' },
      { 'x-v': 'a\uD800' },
      { 'X-A': '1', 'x-a': '2' },
      many,
      { 'x-big': 'v'.repeat(8_200) },
      // The HTTP client manages these itself and refuses to send them (undici: not supported / invalid).
      { Expect: '100-continue' },
      { Upgrade: 'h2c' },
      { 'Keep-Alive': 'timeout=5' },
    ])
      expect(await headers(bad)).toBe('validation:headers');
    // Latin-1 goes out as one byte a character, as the client sends it; `__proto__` is a header like any other.
    const kept = await svc.createEndpoint({
      url: 'https://e.com/h',
      headers: JSON.parse('{"__proto__":"x","x-ok":"caf\\u00e9\\t1"}'),
    });
    expect(Object.entries(kept.headers!)).toEqual([
      ['__proto__', 'x'],
      ['x-ok', 'caf\u00e9\t1'],
    ]);
    expect(Object.entries((await svc.getEndpoint(kept.id)).headers!)).toEqual([
      ['__proto__', 'x'],
      ['x-ok', 'caf\u00e9\t1'],
    ]);
    await svc.deleteEndpoint(kept.id);
  });

  it("sends to one endpoint only when it is the customer's and enabled, writing nothing otherwise", async () => {
    const mine = await svc.createEndpoint({ url: 'https://e.com/mine', customerId: 'c-target' });
    const theirs = await svc.createEndpoint({ url: 'https://e.com/theirs', customerId: 'c-other' });
    const off = await svc.createEndpoint({ url: 'https://e.com/off', customerId: 'c-target', enabled: false });
    const before = await counts();
    const send = (endpointId: string, customerId?: string) =>
      refusal(() => svc.send('args.sent', {}, { customerId, endpointId, idempotencyKey: `k-${endpointId}` }));
    expect([
      await send('ep_01ZZZZZZZZZZZZZZZZZZZZZZZZ', 'c-target'),
      await send(theirs.id, 'c-target'),
      await send(mine.id),
      await send(off.id, 'c-target'),
    ]).toEqual(['not found', 'not found', 'not found', 'validation:endpointId']);
    await expect(svc.send('args.sent', {}, { customerId: 'c-target', endpointId: off.id })).rejects.toThrow(
      `Endpoint ${off.id} is disabled; re-enable it with updateEndpoint before sending to it.`,
    );
    await expect(svc.recoverFailed({ endpointId: off.id, since: new Date(0) })).rejects.toMatchObject({
      field: 'endpointId',
    });
    expect(await counts()).toEqual(before);
    // The idempotency keys were not used up: the same key to the right endpoint makes a message.
    const sent = await svc.send(
      'args.sent',
      {},
      { customerId: 'c-target', endpointId: mine.id, idempotencyKey: `k-${off.id}` },
    );
    expect([sent.created, sent.deliveryIds.length]).toEqual([true, 1]);
  });

  (db === 'postgres' ? it : it.skip)(
    'checks a chosen endpoint in the writing transaction: a disable in progress is waited for, then refuses',
    async () => {
      const target = await svc.createEndpoint({ url: 'https://e.com/racing', customerId: 'c-race' });
      const before = await counts();
      const disabling = t.app.get(DataSource).createQueryRunner();
      await disabling.connect();
      try {
        await disabling.startTransaction();
        await disabling.query('UPDATE webhook_endpoints SET enabled = FALSE WHERE id = $1', [target.id]);
        let settled = false;
        const sending = refusal(() => svc.send('args.sent', {}, { customerId: 'c-race', endpointId: target.id }));
        void sending.then(() => (settled = true));
        await new Promise((resolve) => setTimeout(resolve, 300));
        // Before, the check read the committed row (enabled) and the send went on, unlocked.
        expect(settled).toBe(false);
        await disabling.commitTransaction();
        expect(await sending).toBe('validation:endpointId');
      } finally {
        if (disabling.isTransactionActive) await disabling.rollbackTransaction();
        await disabling.release();
      }
      expect(await counts()).toEqual(before);
      await svc.deleteEndpoint(target.id);
    },
  );

  it('fails writes after the app closed at once, saying so, every time', async () => {
    const closed = await startTestApp({ db, webhooks: { role: 'emitter', outbound: FAST_OUTBOUND } });
    const service = closed.app.get(WebhookService);
    await closed.close();
    for (let i = 0; i < 3; i++) {
      const started = Date.now();
      for (const call of [
        () => service.send('args.sent', {}),
        () => service.send('args.sent', {}, { idempotencyKey: `k${i}` }),
        () => service.createEndpoint({ url: 'https://e.com/closed' }),
      ])
        await expect(call()).rejects.toThrow(/DataSource is not initialized \(the app has shut down/);
      // Before, SQLite's runner stayed marked in a transaction and each write waited sqliteWaitMs (5 s).
      expect(Date.now() - started).toBeLessThan(2_000);
    }
  });

  it('treats a portal token or session id of the wrong kind as unknown', async () => {
    const portal = t.app.get(PortalService);
    for (const [, v] of KINDS) {
      expect(await portal.authenticate(v as any)).toBeNull();
      expect(await portal.revokeSession(v as any)).toBe(false);
    }
    expect(await portal.revokeSession('ps_\u0000')).toBe(false);
  });
});
