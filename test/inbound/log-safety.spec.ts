import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import request from 'supertest';
import { postWebhook } from '../../src/testing/index.js';
import { testDatabases } from '../support/databases.js';
import { CapturingLogger } from '../support/logger.js';
import { ADAPTERS, startInboundApp } from './support.js';

describe.each(testDatabases())('log lines of inbound calls on %s', (kind) => {
  describe.each(ADAPTERS)('over %s', (http) => {
    const logger = new CapturingLogger();
    let t: Awaited<ReturnType<typeof startInboundApp>>;
    beforeAll(async () => {
      t = await startInboundApp({ db: kind, http, logger });
    });
    afterAll(() => t?.close());
    const post = (path: string) =>
      request(t.app.getHttpServer()).post(path).set('content-type', 'application/json').send('{}');

    it('escapes a line break in the :source segment instead of writing it into the log', async () => {
      const mark = logger.lines.length;
      const res = await post('/webhooks/a%0Aforged%0D%1B[31m');
      expect(res.status).toBe(404);
      const lines = logger.since(mark);
      expect(lines).toHaveLength(1);
      expect(lines[0]).toContain('"a\\nforged\\r\\u001b[31m"');
      for (const line of lines) expect(line).not.toMatch(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/);
    });

    it('caps what one rejected call writes, however long its source segment', async () => {
      const mark = logger.lines.length;
      const res = await post(`/webhooks/${'x'.repeat(6000)}`);
      // Fastify refuses a path parameter over 100 characters itself (414), before the route.
      expect(res.status).toBe(http === 'express' ? 404 : 414);
      const lines = logger.since(mark);
      expect(lines).toHaveLength(http === 'express' ? 1 : 0);
      for (const line of lines) expect([line.length < 300, line.includes('… (5900 more)')]).toEqual([true, true]);
    });

    it('escapes control characters in a verified event type and id that reach the log', async () => {
      const mark = logger.lines.length;
      const res = await postWebhook(t.app, 'orders', { event: 'unhandled\nforged', id: `id\u2028${Math.random()}` });
      expect([res.status, res.body.status]).toEqual([200, 'ignored']);
      const lines = logger.since(mark);
      expect(lines.some((l) => l.includes('"unhandled\\nforged"'))).toBe(true);
      for (const line of lines) expect(line).not.toMatch(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/);
    });
  });
});
