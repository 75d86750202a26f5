import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import {
  Controller,
  ForbiddenException,
  Injectable,
  Module,
  Post,
  RequestMethod,
  type CanActivate,
  type ExecutionContext,
  type MiddlewareConsumer,
  type NestMiddleware,
  type NestModule,
} from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import request from 'supertest';
import { isWebhookRoute } from '../../src/inbound/webhook-route.js';
import { postWebhook } from '../../src/testing/index.js';
import { testDatabases } from '../support/databases.js';
import { ADAPTERS, startInboundApp } from './support.js';

/** An app's global auth guard, written as docs/inbound.md shows: webhook calls carry a signature instead. */
@Injectable()
class AppAuthGuard implements CanActivate {
  canActivate(context: ExecutionContext): boolean {
    if (isWebhookRoute(context)) return true;
    const req = context.switchToHttp().getRequest();
    if (req.headers.authorization !== 'Bearer letmein') throw new ForbiddenException('login required');
    return true;
  }
}

/** The same guard without the exemption: what breaks webhooks in many apps. */
@Injectable()
class NaiveAuthGuard implements CanActivate {
  canActivate(context: ExecutionContext): boolean {
    return context.switchToHttp().getRequest().headers.authorization === 'Bearer letmein';
  }
}

/** A CSRF check in the style of csurf / csrf-csrf: state-changing calls need a token. */
@Injectable()
class CsrfMiddleware implements NestMiddleware {
  use(req: { method: string; headers: Record<string, string> }, res: any, next: () => void) {
    if (req.method === 'POST' && req.headers['x-csrf-token'] !== 'token') {
      res.statusCode = 403;
      res.end('csrf');
      return;
    }
    next();
  }
}

/** The app's CSRF wiring, with the webhook route excluded as docs/inbound.md shows. */
@Module({})
class CsrfModule implements NestModule {
  configure(consumer: MiddlewareConsumer) {
    consumer.apply(CsrfMiddleware).exclude({ path: 'webhooks/*source', method: RequestMethod.POST }).forRoutes('*path');
  }
}

@Controller('api')
class OrdersController {
  @Post('orders')
  create() {
    return { created: true };
  }
}

const event = () => ({ type: 'order.completed', data: { n: Math.random() } });

describe.each(testDatabases())('webhook route beside global guards and CSRF, on %s', (db) => {
  describe.each(ADAPTERS)('over %s', (http) => {
    let t: Awaited<ReturnType<typeof startInboundApp>>;
    beforeAll(async () => {
      t = await startInboundApp({
        db,
        http,
        controllers: [OrdersController],
        imports: [CsrfModule],
        providers: [{ provide: APP_GUARD, useClass: AppAuthGuard }],
      });
    });
    afterAll(() => t?.close());

    it('keeps protecting the app routes', async () => {
      const server = t.app.getHttpServer();
      await request(server).post('/api/orders').set('x-csrf-token', 'token').expect(403);
      await request(server).post('/api/orders').set('authorization', 'Bearer letmein').expect(403);
      await request(server)
        .post('/api/orders')
        .set({ authorization: 'Bearer letmein', 'x-csrf-token': 'token' })
        .expect(201);
    });

    it('lets a signed webhook through without token or CSRF header, and still verifies it', async () => {
      const res = await postWebhook(t.app, 'partner', event());
      expect([res.status, res.body.status]).toEqual([200, 'processed']);
      expect(
        (await postWebhook(t.app, 'partner', event(), { secret: 'whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' })).status,
      ).toBe(401);
    });
  });
});

describe('a global guard that does not exempt the webhook route', () => {
  it('blocks signed webhooks: the reason for isWebhookRoute', async () => {
    const t = await startInboundApp({ db: 'sqlite', providers: [{ provide: APP_GUARD, useClass: NaiveAuthGuard }] });
    try {
      expect((await postWebhook(t.app, 'partner', event())).status).toBe(403);
      expect(t.handlers.calls).toHaveLength(0);
    } finally {
      await t.close();
    }
  });
});
