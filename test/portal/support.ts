import request from 'supertest';
import type { WebhooksModuleOptions } from '../../src/interfaces/webhooks-options.interface.js';
import { FAST_OUTBOUND, startTestApp, type TestAppOptions } from '../support/app.js';
import type { DbKind } from '../support/databases.js';

/** The catalog the portal specs use. */
export const EVENT_TYPES = [
  { name: 'order.completed', description: 'An order was paid', example: { id: 'ord_1', total: 42 } },
  { name: 'invoice.paid', example: { id: 'in_1' } },
];

/** An app with the portal mounted at the default path, loopback receivers allowed. */
export function startPortalApp(
  db: DbKind,
  portal: WebhooksModuleOptions['portal'] = {},
  extra: Partial<TestAppOptions> = {},
) {
  return startTestApp({
    db,
    http: 'express',
    webhooks: { outbound: FAST_OUTBOUND, eventTypes: EVENT_TYPES, portal },
    ...extra,
  });
}

/** A supertest agent factory that sends the bearer token (and the portal header) on every call. */
export function as(server: unknown, token: string | null, base = '/webhooks/portal/api') {
  const withAuth = (r: request.Test) => {
    r.set('X-Webhooks-Portal', '1');
    return token === null ? r : r.set('Authorization', `Bearer ${token}`);
  };
  const agent = request(server as never);
  return {
    get: (path: string) => withAuth(agent.get(base + path)),
    post: (path: string, body: object = {}) => withAuth(agent.post(base + path)).send(body),
    patch: (path: string, body: object = {}) => withAuth(agent.patch(base + path)).send(body),
    delete: (path: string) => withAuth(agent.delete(base + path)),
  };
}
