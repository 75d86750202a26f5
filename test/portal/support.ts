import { request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
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

/** What {@link raw} sends: the request-target as written on the request line, and the headers as given. */
export interface RawRequest {
  method: string;
  path: string;
  headers?: Record<string, string>;
  /** Sent chunked (Transfer-Encoding) unless `headers` give a Content-Length. */
  body?: string | Buffer;
}

/**
 * One request with exactly the given request line and headers (supertest adds a Content-Type to a
 * string body, and cannot send an absolute-form target), on the app's server listening for it.
 */
export async function raw(server: unknown, req: RawRequest) {
  const http = server as Server;
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  try {
    const { port } = http.address() as AddressInfo;
    return await new Promise<{ status: number; headers: Record<string, unknown>; text: string }>((resolve, reject) => {
      const sent = httpRequest({
        host: '127.0.0.1',
        port,
        method: req.method,
        path: req.path,
        headers: req.headers,
        agent: false,
      });
      sent.on('error', reject);
      sent.on('response', (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, text }));
      });
      if (req.body !== undefined) sent.write(req.body);
      sent.end();
    });
  } finally {
    await new Promise((resolve) => http.close(resolve));
  }
}
