import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Controller, Get, Post } from '@nestjs/common';
import request from 'supertest';
import { WebhookService } from '../../src/outbound/webhook.service.js';
import { FAST_OUTBOUND, startTestApp, type TestApp } from '../support/app.js';
import { testDatabases } from '../support/databases.js';

@Controller('orders')
class OrdersController {
  constructor(private readonly webhooks: WebhookService) {}

  @Post('bad-type')
  badType() {
    return this.webhooks.send('not a type!', {});
  }

  @Post('bad-endpoint')
  badEndpoint() {
    return this.webhooks.createEndpoint({ url: 'ftp://example.com/hook' });
  }

  @Get('broken')
  broken() {
    throw new Error('a bug of the app');
  }
}

describe.each(testDatabases())('a WebhookValidationError escaping an app route, on %s', (kind) => {
  for (const http of ['express', 'fastify'] as const) {
    describe(http, () => {
      let t: TestApp;
      beforeAll(async () => {
        t = await startTestApp({
          db: kind,
          http,
          controllers: [OrdersController],
          webhooks: { outbound: FAST_OUTBOUND },
        });
      });
      afterAll(() => t?.close());

      it('is answered 400 with its message', async () => {
        const res = await request(t.app.getHttpServer()).post('/orders/bad-type').expect(400);
        expect(res.body).toEqual({
          statusCode: 400,
          error: 'Bad Request',
          message: expect.stringContaining('not a type!'),
        });
        await request(t.app.getHttpServer()).post('/orders/bad-endpoint').expect(400);
      });

      it("leaves every other error to the app's own handling (500 here)", async () => {
        await request(t.app.getHttpServer()).get('/orders/broken').expect(500);
        await request(t.app.getHttpServer()).get('/orders/missing').expect(404);
      });
    });
  }
});
