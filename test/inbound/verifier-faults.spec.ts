import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import request from 'supertest';
import { inboundMessages } from '../../src/inbound/inbound.messages.js';
import type { WebhookVerifier } from '../../src/index.js';
import { CapturingLogger } from '../support/logger.js';
import { testDatabases } from '../support/databases.js';
import { ADAPTERS, inboxRows, SOURCES, startInboundApp } from './support.js';

/** A custom verifier whose parts misbehave as the request's `x-fault` header says. */
const faulty: WebhookVerifier = {
  name: 'faulty',
  verify({ headers }) {
    switch (headers['x-fault']) {
      case 'verify-throws':
        throw new Error('the key store is down');
      case 'verify-undefined':
        return undefined as any;
      case 'verify-truthy':
        return { ok: 'yes' } as any;
      case 'verify-unknown-reason':
        return { ok: false, reason: 'expired_key' } as any;
      default:
        return { ok: true };
    }
  },
  eventType(payload, headers) {
    if (headers['x-fault'] === 'type-throws') throw new Error('no type here');
    return payload.kind;
  },
  eventId(payload, headers) {
    if (headers['x-fault'] === 'id-throws') throw new Error('no id here');
    return payload.id;
  },
};

describe.each(testDatabases())('a custom verifier that fails, on %s', (db) => {
  describe.each(ADAPTERS)('over %s', (http) => {
    let t: Awaited<ReturnType<typeof startInboundApp>>;
    const logger = new CapturingLogger();
    beforeAll(async () => {
      t = await startInboundApp({
        db,
        http,
        logger,
        inbound: { sources: { ...SOURCES, faulty: { scheme: faulty, secrets: ['k'] } } },
      });
    });
    afterAll(() => t?.close());

    const post = (fault: string) =>
      request(t.app.getHttpServer())
        .post('/webhooks/faulty')
        .set({ 'content-type': 'application/json', 'x-fault': fault })
        .send(JSON.stringify({ kind: 'order.completed', id: `evt_${fault}` }));

    it.each([
      'verify-throws',
      'verify-undefined',
      'verify-truthy',
      'verify-unknown-reason',
      'type-throws',
      'id-throws',
    ])('%s: answers the 500 verifier_failed problem, logs why, stores and runs nothing', async (fault) => {
      const before = t.handlers.calls.length;
      const mark = logger.lines.length;
      const res = await post(fault);
      expect([res.status, res.headers['content-type'], JSON.parse(res.text)]).toEqual([
        500,
        'application/problem+json; charset=utf-8',
        expect.objectContaining({ code: 'verifier_failed', detail: inboundMessages.verifierFailed() }),
      ]);
      const part = fault.startsWith('verify') ? 'verify()' : fault.startsWith('type') ? 'eventType()' : 'eventId()';
      expect(
        logger.since(mark, 'error').filter((line) => line.includes('"faulty"') && line.includes(part)),
      ).toHaveLength(1);
      expect((await inboxRows(t.app)).filter((r) => r.source === 'faulty')).toEqual([]);
      expect(t.handlers.calls.length).toBe(before);
    });

    it('still verifies and runs a call when the verifier behaves', async () => {
      const res = await post('none');
      expect(res.status).toBe(200);
      expect((await inboxRows(t.app)).filter((r) => r.source === 'faulty').map((r) => r.eventId)).toEqual(['evt_none']);
    });
  });
});
