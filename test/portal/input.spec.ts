import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { DataSource } from 'typeorm';
import { WebhookService } from '../../src/outbound/webhook.service.js';
import { isoDate } from '../../src/portal/portal-api.service.js';
import { PortalService } from '../../src/portal/portal.service.js';
import type { TestApp } from '../support/app.js';
import { testDatabases } from '../support/databases.js';
import { as, startPortalApp } from './support.js';

/** The portal API's checks of what a caller sends: flags, dates, cursors, and a test event's target. */
describe.each(testDatabases())('portal API input on %s', (db) => {
  let t: TestApp;
  let svc: WebhookService;
  let api: ReturnType<typeof as>;
  let endpointId: string;
  const messageCount = async () =>
    Number((await t.app.get(DataSource).query('SELECT COUNT(*) AS n FROM webhook_messages'))[0].n);

  beforeAll(async () => {
    t = await startPortalApp(db);
    svc = t.app.get(WebhookService);
    const token = (await t.app.get(PortalService).createSession({ customerId: 'cust-a', scope: 'manage' })).token;
    api = as(t.app.getHttpServer(), token);
    // Test events go to a closed loopback port: refused at once, nothing leaves the machine.
    endpointId = (await svc.createEndpoint({ url: 'http://127.0.0.1:9/hook', customerId: 'cust-a' })).id;
  });
  afterAll(async () => t?.close());

  it('refuses a test event to a disabled endpoint before storing anything', async () => {
    await api.patch(`/endpoints/${endpointId}`, { disabled: true }).expect(200);
    const before = await messageCount();
    const refused = await api.post(`/endpoints/${endpointId}/test`, { eventType: 'order.completed' }).expect(422);
    expect(refused.body.detail).toMatch(/is disabled/);
    expect(await messageCount()).toBe(before);
    expect((await api.get('/messages').expect(200)).body.data).toEqual([]);

    await api.patch(`/endpoints/${endpointId}`, { disabled: false }).expect(200);
    const sent = await api.post(`/endpoints/${endpointId}/test`, { eventType: 'order.completed' }).expect(202);
    expect(sent.body.deliveryIds).toHaveLength(1);
    expect(await messageCount()).toBe(before + 1);
  });

  it('takes only true or false as disabled when creating an endpoint, as when changing one', async () => {
    const count = async () => (await svc.listEndpoints({ customerId: 'cust-a' })).data.length;
    const before = await count();
    for (const disabled of ['false', 'true', 1, 0, null, {}]) {
      const res = await api.post('/endpoints', { url: 'https://b.example.com/hook', disabled });
      expect([disabled, res.status, res.body.detail]).toEqual([disabled, 422, 'disabled must be true or false.']);
      const patched = await api.patch(`/endpoints/${endpointId}`, { disabled });
      expect([disabled, patched.status, patched.body.detail]).toEqual([
        disabled,
        422,
        'disabled must be true or false.',
      ]);
    }
    expect(await count()).toBe(before);
    const off = await api.post('/endpoints', { url: 'https://b.example.com/hook', disabled: true }).expect(201);
    const on = await api.post('/endpoints', { url: 'https://c.example.com/hook', disabled: false }).expect(201);
    const plain = await api.post('/endpoints', { url: 'https://d.example.com/hook' }).expect(201);
    expect([off.body.disabled, on.body.disabled, plain.body.disabled]).toEqual([true, false, false]);
    for (const { id } of [off.body, on.body, plain.body]) await svc.deleteEndpoint(id);
  });

  const loose = [
    '1',
    '0',
    'March 7',
    '2024-02-30',
    '2023-02-29',
    '2024-13-01',
    '2024-03-01T00:00:00',
    '2024-03-01T24:00Z',
    '2024-03-01T12:60Z',
    '2024-03-01T23:59:60Z',
    '2024-03-01T12:00+24:00',
    '2024-03-01 12:00Z',
    '2024-3-1',
    '20240301',
    ' 2024-03-01',
    'Fri, 01 Mar 2024 00:00:00 GMT',
  ];

  it('reads since / until of the message log as ISO 8601 only, with a zone', async () => {
    for (const key of ['since', 'until']) {
      for (const value of loose) {
        const res = await api.get(`/messages?${key}=${encodeURIComponent(value)}`);
        expect([key, value, res.status, res.body.code]).toEqual([key, value, 422, 'invalid_input']);
        expect(res.body.detail).toMatch(new RegExp(`^${key} must be an ISO 8601 date \\(2026-01-31`));
      }
    }
    const all = (await api.get('/messages').expect(200)).body.data.length;
    expect(all).toBeGreaterThan(0);
    const ok = async (q: string) => (await api.get(`/messages?${q}`).expect(200)).body.data.length;
    expect(await ok('since=2024-02-29')).toBe(all);
    expect(await ok(`since=${encodeURIComponent('2024-03-01T00:00:00.123456+02:00')}`)).toBe(all);
    expect(await ok('until=2024-03-01T10:00Z')).toBe(0);
    expect(await ok('since=9999-12-31')).toBe(0);
  });

  it('reads since / until of recover and replay-missing the same way', async () => {
    for (const value of [...loose, 5, null]) {
      const recover = await api.post(`/endpoints/${endpointId}/recover`, { since: value });
      expect([value, recover.status, recover.body.detail]).toEqual([value, 422, expect.stringMatching(/^since must/)]);
      const replay = await api.post(`/endpoints/${endpointId}/replay-missing`, {
        since: '2024-03-01',
        until: value,
      });
      expect([value, replay.status, replay.body.detail]).toEqual([value, 422, expect.stringMatching(/^until must/)]);
    }
    await api.post(`/endpoints/${endpointId}/recover`, { since: '2024-03-01T00:00Z' }).expect(200);
    await api.post(`/endpoints/${endpointId}/replay-missing`, { since: '2024-03-01', until: '2024-03-02' }).expect(200);
  });

  it('gives each accepted form its instant: a date alone is midnight UTC', () => {
    const at = (text: string) => isoDate('since', text).toISOString();
    expect(at('2024-02-29')).toBe('2024-02-29T00:00:00.000Z');
    expect(at('2024-03-01T00:30+02:00')).toBe('2024-02-29T22:30:00.000Z');
    expect(at('2024-03-01T00:30:15.1234-01:30')).toBe('2024-03-01T02:00:15.123Z');
    expect(at('0099-01-01')).toBe('0099-01-01T00:00:00.000Z');
  });

  it('takes as cursor only an id of the listed kind', async () => {
    const messageId = (await api.get('/messages').expect(200)).body.data[0].id;
    const refused: [string, string][] = [
      ['/endpoints', 'zzzz'],
      ['/endpoints', messageId],
      ['/endpoints', endpointId.toLowerCase()],
      ['/endpoints', `${endpointId}0`],
      ['/messages', endpointId],
      ['/messages', 'msg_'],
      ['/messages', `${messageId}_x`],
    ];
    for (const [list, cursor] of refused) {
      const res = await api.get(`${list}?cursor=${encodeURIComponent(cursor)}`);
      expect([list, cursor, res.status, res.body.code]).toEqual([list, cursor, 422, 'invalid_input']);
      expect(res.body.detail).toMatch(/^cursor must be the nextCursor of a previous page of this list/);
    }
    // A real cursor pages on.
    const other = await svc.createEndpoint({ url: 'https://e.example.com/hook', customerId: 'cust-a' });
    const first = await api.get('/endpoints?limit=1').expect(200);
    expect(first.body.data.map((e: { id: string }) => e.id)).toEqual([other.id]);
    const next = await api.get(`/endpoints?limit=1&cursor=${first.body.nextCursor}`).expect(200);
    expect(next.body.data.map((e: { id: string }) => e.id)).toEqual([endpointId]);
    const empty = await api.get(`/messages?cursor=${messageId}`).expect(200);
    expect(empty.body.data).toEqual([]);
  });
});
