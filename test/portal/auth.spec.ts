import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { ForbiddenException, Injectable, type CanActivate, type ExecutionContext } from '@nestjs/common';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { of, type Observable } from 'rxjs';
import request from 'supertest';
import { DataSource } from 'typeorm';
import { WebhooksConfigError } from '../../src/errors/webhooks-config.error.js';
import { WebhookService } from '../../src/outbound/webhook.service.js';
import { createPortalPageController } from '../../src/portal/portal-page.controller.js';
import { PortalService } from '../../src/portal/portal.service.js';
import { WebhookEvents, type WebhookEventMap } from '../../src/webhook.events.js';
import { resolveWebhooksOptions } from '../../src/webhooks.options.js';
import { messages } from '../../src/webhooks.messages.js';
import { PROBLEM_CONTENT_TYPE } from '../../src/utils/problem-type.js';
import { FAST_OUTBOUND, startTestApp, type TestApp } from '../support/app.js';
import { createTestDatabase, testDatabases } from '../support/databases.js';
import { CreateWebhookTables1764000000000 } from '../../src/database/migrations/1764000000000-create-webhook-tables.js';
import { as, EVENT_TYPES, raw, startPortalApp } from './support.js';

/** The app's own login, as a cookie `user=<customer>`; refuses a request without it. */
@Injectable()
class CookieGuard implements CanActivate {
  canActivate(context: ExecutionContext): boolean {
    return /(?:^|;\s*)user=/.test(context.switchToHttp().getRequest().headers.cookie ?? '');
  }
}
const cookieCustomer = (req: { headers: { cookie?: string } }) => /user=([^;]+)/.exec(req.headers.cookie ?? '')![1];

/** The app's operators: a header `x-operator: yes`, or the guard's own 403; answers as an Observable, as guards may. */
@Injectable()
class OperatorGuard implements CanActivate {
  canActivate(context: ExecutionContext): Observable<boolean> {
    if (context.switchToHttp().getRequest().headers['x-operator'] !== 'yes')
      throw new ForbiddenException('operators only');
    return of(true);
  }
}

describe.each(testDatabases())('portal authentication on %s', (db) => {
  describe('sessions', () => {
    let t: TestApp;
    let portal: PortalService;
    let server: unknown;
    beforeAll(async () => {
      t = await startPortalApp(db, { baseUrl: 'https://app.example.com/' });
      portal = t.app.get(PortalService);
      server = t.app.getHttpServer();
    });
    afterAll(async () => t?.close());

    it('makes a magic link with the token in the fragment, and stores only a hash of it', async () => {
      const link = await portal.createSession({ customerId: 'cust-a', scope: 'manage', expiresIn: 60_000 });
      expect(link.url).toBe(`https://app.example.com/webhooks/portal#token=${link.token}`);
      expect(link.expiresAt!.getTime()).toBeGreaterThan(Date.now() + 50_000);
      const ds = t.app.get(DataSource);
      const rows = await ds.query(`SELECT * FROM webhook_portal_sessions`);
      expect(rows).toHaveLength(1);
      expect(JSON.stringify(rows)).not.toContain(link.token.split('.')[1]);
      const session = await as(server, link.token).get('/session').expect(200);
      expect(session.body).toEqual({
        customerId: 'cust-a',
        scope: 'manage',
        expiresAt: link.expiresAt!.toISOString(),
        theme: { primaryColor: '#4f46e5', mode: 'auto' },
      });
    });

    it('answers 401 problem+json to a missing, malformed, tampered, unknown, expired or revoked token', async () => {
      const good = await portal.createSession({ customerId: 'cust-a' });
      const short = await portal.createSession({ customerId: 'cust-a', expiresIn: 1 });
      const revoked = await portal.createSession({ customerId: 'cust-a' });
      expect(await portal.revokeSession(revoked.id)).toBe(true);
      expect(await portal.revokeSession(revoked.id)).toBe(false);
      await new Promise((r) => setTimeout(r, 20));
      const [id, secret] = good.token.split('.');
      const flipped = secret[0] === 'A' ? `B${secret.slice(1)}` : `A${secret.slice(1)}`;
      const cases: [string, string | null][] = [
        ['missing', null],
        ['malformed', 'not-a-token'],
        ['tampered', `${id}.${flipped}`],
        ['unknown session', `ps_00000000000000000000000000.${secret}`],
        ['expired', short.token],
        ['revoked', revoked.token],
      ];
      for (const [what, token] of cases) {
        const res = await as(server, token).get('/endpoints');
        expect([what, res.status, res.body.code]).toEqual([what, 401, 'unauthorized']);
        expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
      }
      await as(server, good.token).get('/endpoints').expect(200);
    });

    it('refuses bad createSession input', async () => {
      await expect(portal.createSession({ customerId: '' })).rejects.toThrow(/customerId/);
      await expect(portal.createSession({ customerId: 'c', scope: 'admin' as never })).rejects.toThrow(/scope/);
      await expect(portal.createSession({ customerId: 'c', expiresIn: -1 })).rejects.toThrow(/expiresIn/);
      // Past what a Date holds, the expiry would be an Invalid Date that no database keeps.
      await expect(portal.createSession({ customerId: 'c', expiresIn: Number.MAX_SAFE_INTEGER })).rejects.toThrow(
        /expiresIn must be .* at most 3153600000000 \(100 years\)/,
      );
      const century = await portal.createSession({ customerId: 'c', expiresIn: 3_153_600_000_000 });
      expect(century.expiresAt!.getTime()).toBeGreaterThan(Date.now() + 3_153_000_000_000);
      await as(server, century.token).get('/endpoints').expect(200);
    });

    it('does not mount the admin API unless configured', async () => {
      await request(server as never)
        .get('/webhooks/portal/admin/api/endpoints')
        .set('X-Webhooks-Portal', '1')
        .expect(404);
    });
  });

  describe('app-auth mode and the admin API', () => {
    let t: TestApp;
    let server: unknown;
    beforeAll(async () => {
      t = await startPortalApp(db, {
        path: 'hooks/portal',
        guard: CookieGuard,
        customerId: cookieCustomer,
        admin: { guard: OperatorGuard },
      });
      server = t.app.getHttpServer();
      const svc = t.app.get(WebhookService);
      await svc.createEndpoint({ url: 'https://a.example.com/hook', customerId: 'cust-a' });
      await svc.createEndpoint({ url: 'https://b.example.com/hook', customerId: 'cust-b' });
    });
    afterAll(async () => t?.close());

    const api = (path: string) => request(server as never).get(`/hooks/portal/api${path}`);

    it("serves the app's logged-in user their customer's data, only with the X-Webhooks-Portal header", async () => {
      const ok = await api('/endpoints').set('Cookie', 'user=cust-a').set('X-Webhooks-Portal', '1').expect(200);
      expect(ok.body.data.map((e: any) => e.url)).toEqual(['https://a.example.com/hook']);
      // A cross-site form carries the cookie but cannot set the header.
      const csrf = await request(server as never)
        .post('/hooks/portal/api/endpoints')
        .set('Cookie', 'user=cust-a')
        .send({ url: 'https://evil.example.com/' })
        .expect(403);
      expect(csrf.body.code).toBe('portal_header_missing');
      const noLogin = await api('/endpoints').set('X-Webhooks-Portal', '1').expect(401);
      expect(noLogin.body.code).toBe('unauthorized');
      const session = await api('/session').set('Cookie', 'user=cust-b').set('X-Webhooks-Portal', '1').expect(200);
      expect(session.body).toMatchObject({ customerId: 'cust-b', scope: 'manage', expiresAt: null });
    });

    it('lists every customer behind the admin guard, filters by customerId, and needs customerId to create', async () => {
      const admin = (r: request.Test) => r.set('X-Webhooks-Portal', '1').set('x-operator', 'yes');
      const all = await admin(request(server as never).get('/hooks/portal/admin/api/endpoints')).expect(200);
      expect(all.body.data.map((e: any) => e.customerId).sort()).toEqual(['cust-a', 'cust-b']);
      const b = await admin(request(server as never).get('/hooks/portal/admin/api/endpoints?customerId=cust-b'));
      expect(b.body.data.map((e: any) => e.customerId)).toEqual(['cust-b']);
      const post = (body: object) =>
        admin(request(server as never).post('/hooks/portal/admin/api/endpoints')).send(body);
      expect((await post({ url: 'https://c.example.com/' }).expect(422)).body.detail).toMatch(/customerId/);
      const created = await post({ url: 'https://c.example.com/', customerId: 'cust-c' }).expect(201);
      expect(created.body.customerId).toBe('cust-c');

      const refused = await request(server as never)
        .get('/hooks/portal/admin/api/endpoints')
        .set('X-Webhooks-Portal', '1')
        .expect(403);
      expect(refused.headers['content-type']).toMatch(/^application\/problem\+json/);
      await request(server as never)
        .get('/hooks/portal/admin/api/endpoints')
        .set('x-operator', 'yes')
        .expect(403);
      // A customer's login is not an operator's.
      await request(server as never)
        .get('/hooks/portal/admin/api/endpoints')
        .set('Cookie', 'user=cust-a')
        .set('X-Webhooks-Portal', '1')
        .expect(403);
    });
  });

  describe('the page', () => {
    let t: TestApp;
    let dir: string;
    beforeAll(async () => {
      dir = mkdtempSync(join(tmpdir(), 'portal-ui-'));
      mkdirSync(join(dir, 'assets'));
      writeFileSync(
        join(dir, 'index.html'),
        '<!doctype html><html><head><meta name="webhooks-portal-theme" content="{}" />' +
          '<script type="module" src="./assets/index-abc123.js"></script></head><body></body></html>',
      );
      writeFileSync(join(dir, 'assets', 'index-abc123.js'), 'console.log(1)');
      t = await startTestApp({
        db,
        http: 'express',
        webhooks: {
          outbound: FAST_OUTBOUND,
          eventTypes: EVENT_TYPES,
          portal: { theme: { primaryColor: '#112233', mode: 'dark' }, frameAncestors: ['https://app.example.com'] },
        },
        controllers: [
          createPortalPageController('built/portal', dir),
          createPortalPageController('empty', join(dir, 'none')),
        ],
      });
    });
    afterAll(async () => {
      await t?.close();
      rmSync(dir, { recursive: true, force: true });
    });

    it('serves the page with the theme in a meta tag, a <base> for its assets and a strict CSP', async () => {
      const res = await request(t.app.getHttpServer()).get('/built/portal?theme=light&primary=%23abcdef').expect(200);
      expect(res.headers['content-type']).toMatch(/^text\/html/);
      const csp = res.headers['content-security-policy'];
      expect(csp).toContain("script-src 'self'");
      expect(csp).not.toContain('unsafe-inline');
      expect(csp).toContain('frame-ancestors https://app.example.com');
      expect(res.text).toContain('<base href="/built/portal/" />');
      expect(res.text).toContain(
        'content="{&quot;primaryColor&quot;:&quot;#abcdef&quot;,&quot;mode&quot;:&quot;light&quot;}"',
      );
      const configured = await request(t.app.getHttpServer()).get('/built/portal?primary=red%22%3E%3Cscript%3E');
      expect(configured.text).toContain(
        '&quot;primaryColor&quot;:&quot;#112233&quot;,&quot;mode&quot;:&quot;dark&quot;',
      );
      expect(configured.text).not.toContain('<script>');
    });

    it('serves assets with a long cache, refuses other paths, and answers 503 while the page is not built', async () => {
      const asset = await request(t.app.getHttpServer()).get('/built/portal/assets/index-abc123.js').expect(200);
      expect(asset.headers['cache-control']).toContain('immutable');
      expect(asset.headers['content-type']).toMatch(/^text\/javascript/);
      // The file's bytes, not a JSON rendering of the Buffer read from disk.
      expect(asset.text).toBe('console.log(1)');
      await request(t.app.getHttpServer()).get('/built/portal/assets/..%2Findex.html').expect(404);
      await request(t.app.getHttpServer()).get('/built/portal/assets/missing.js').expect(404);
      const missing = await request(t.app.getHttpServer()).get('/empty').expect(503);
      expect(missing.body).toMatchObject({ code: 'ui_not_built', status: 503 });
      expect(missing.body.detail).toContain('npm run build:portal');
    });
  });
});

describe.each(['express', 'fastify'] as const)('the portal page over %s', (http) => {
  let t: TestApp;
  let dir: string;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'portal-ui-'));
    writeFileSync(join(dir, 'index.html'), '<!doctype html><html><head></head><body></body></html>');
    t = await startTestApp({
      db: testDatabases()[0],
      http,
      webhooks: { outbound: FAST_OUTBOUND, portal: {} },
      controllers: [createPortalPageController('built/portal', dir)],
    });
  });
  afterAll(async () => {
    await t?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('takes only the path of an absolute-form request-target into its <base>', async () => {
    const page = (path: string) => raw(t.app.getHttpServer(), { method: 'GET', path });
    const absolute = await page('http://evil.example/built/portal?theme=dark');
    expect(absolute.status).toBe(200);
    expect(absolute.text).toContain('<base href="/built/portal/" />');
    expect(absolute.text).not.toContain('evil.example');
    expect((await page('/built/portal?x=1')).text).toContain('<base href="/built/portal/" />');
  });
});

describe('portal options', () => {
  it.each(testDatabases())(
    'fails at boot, naming the table, when the portal migration has not run (%s)',
    async (kind) => {
      const db = await createTestDatabase(kind);
      try {
        const ds = await new DataSource({
          ...db.options,
          migrations: [CreateWebhookTables1764000000000],
        } as any).initialize();
        await ds.runMigrations();
        await ds.destroy();
        const boot = startTestApp({ db, skipMigrations: true, webhooks: { outbound: FAST_OUTBOUND, portal: {} } });
        await expect(boot).rejects.toThrow(messages.migrationsMissing('webhook_portal_sessions'));
      } finally {
        await db.drop();
      }
    },
  );

  it.each(testDatabases())('strictEventTypes refuses send() of a type missing from the catalog (%s)', async (db) => {
    const webhooks = { outbound: FAST_OUTBOUND, eventTypes: EVENT_TYPES, strictEventTypes: true };
    const t = await startTestApp({ db, webhooks });
    try {
      const svc = t.app.get(WebhookService);
      await expect(svc.send('user.signed_up', {})).rejects.toThrow(messages.unknownEventType('user.signed_up'));
      expect((await svc.send('order.completed', { id: 'o', total: 1 })).created).toBe(true);
    } finally {
      await t.close();
    }
  });

  it('refuses the admin API without a guard, and half of app-auth mode, at boot', () => {
    expect(() => resolveWebhooksOptions({ portal: { admin: {} as never } })).toThrow(
      new WebhooksConfigError(messages.portalAdminWithoutGuard()),
    );
    expect(() => resolveWebhooksOptions({ portal: { guard: CookieGuard } })).toThrow(
      new WebhooksConfigError(messages.portalAppAuthHalf()),
    );
    expect(() => resolveWebhooksOptions({ portal: { theme: { primaryColor: 'red;}' } } })).toThrow(/primaryColor/);
  });

  it('validates the event-type catalog: valid, unique names', () => {
    expect(() => resolveWebhooksOptions({ eventTypes: [{ name: 'order completed' }] })).toThrow(
      /eventTypes\[0\]\.name/,
    );
    expect(() => resolveWebhooksOptions({ eventTypes: [{ name: 'a.b' }, { name: 'a.b' }] })).toThrow(
      /eventTypes\[1\]\.name/,
    );
    expect(resolveWebhooksOptions({ eventTypes: EVENT_TYPES }).eventTypes).toEqual(EVENT_TYPES);
  });

  it.each(testDatabases())(
    'refuses a portal in forRootAsync options, whose routes cannot be mounted (%s)',
    async (db) => {
      await expect(
        startTestApp({ db, async: true, webhooks: { outbound: FAST_OUTBOUND, portal: {} } }),
      ).rejects.toThrow(new WebhooksConfigError(messages.portalInForRootAsync()));
    },
  );
});

describe.each(['express', 'fastify'] as const)('portal API bodies the adapter refuses, over %s', (http) => {
  let t: TestApp;
  let token: string;
  beforeAll(async () => {
    t = await startPortalApp(testDatabases()[0], { admin: { guard: OperatorGuard } }, { http });
    token = (await t.app.get(PortalService).createSession({ customerId: 'cust-a', scope: 'manage' })).token;
  });
  afterAll(async () => t?.close());

  const huge = JSON.stringify({ url: 'https://a.example.com/', description: 'x'.repeat(2 * 1024 * 1024) });
  it.each([
    ['not JSON', 400, 'invalid_body', '{"url":'],
    ['over the adapter limit', 413, 'payload_too_large', huge],
  ])('answers a body %s as a portal problem (%i %s), and creates nothing', async (_label, status, code, body) => {
    const routes: [string, Record<string, string>][] = [
      ['/webhooks/portal/api/endpoints', { Authorization: `Bearer ${token}` }],
      ['/webhooks/portal/admin/api/endpoints', { 'x-operator': 'yes' }],
    ];
    for (const [path, auth] of routes) {
      const res = await request(t.app.getHttpServer())
        .post(path)
        .set({ ...auth, 'X-Webhooks-Portal': '1', 'Content-Type': 'application/json' })
        .send(body);
      expect([path, res.status, res.headers['content-type'], JSON.parse(res.text).code]).toEqual([
        path,
        status,
        PROBLEM_CONTENT_TYPE,
        code,
      ]);
    }
    expect((await t.app.get(WebhookService).listEndpoints()).data).toEqual([]);
  });

  it.each(['null', '5', '"x"', '[]'])(
    'answers a JSON body that is not an object (%s) 422 invalid_input, and creates nothing',
    async (json) => {
      const res = await request(t.app.getHttpServer())
        .post('/webhooks/portal/api/endpoints')
        .set({ Authorization: `Bearer ${token}`, 'X-Webhooks-Portal': '1', 'Content-Type': 'application/json' })
        .send(json);
      expect([res.status, res.headers['content-type'], JSON.parse(res.text)]).toEqual([
        422,
        PROBLEM_CONTENT_TYPE,
        expect.objectContaining({ code: 'invalid_input', detail: 'The body must be a JSON object.' }),
      ]);
      expect((await t.app.get(WebhookService).listEndpoints()).data).toEqual([]);
    },
  );

  it('gives every problem the one Content-Type, whichever part of the module answers', async () => {
    const api = as(t.app.getHttpServer(), token);
    const answers = [
      await api.get('/endpoints/ep_unknown'), // the exception filter: 404
      await api.get('/messages?limit=x'), // the exception filter: 422
      await as(t.app.getHttpServer(), 'bogus').get('/endpoints'), // the guard through the filter: 401
      await request(t.app.getHttpServer()) // the body refusal hook: 400
        .post('/webhooks/portal/api/endpoints')
        .set({ Authorization: `Bearer ${token}`, 'X-Webhooks-Portal': '1', 'Content-Type': 'application/json' })
        .send('{"url":'),
    ];
    expect(answers.map((res) => [res.status, res.headers['content-type']])).toEqual(
      [404, 422, 401, 400].map((status) => [status, PROBLEM_CONTENT_TYPE]),
    );
  });

  it('answers 415 to a body of another type than JSON on every route, changing nothing; bodiless calls still work', async () => {
    const svc = t.app.get(WebhookService);
    const endpoint = await svc.createEndpoint({ url: 'https://a.example.com/hook', customerId: 'cust-a' });
    const actions: WebhookEventMap['portal.action'][] = [];
    t.app.get(WebhookEvents).on('portal.action', (e) => void actions.push(e));
    const api = '/webhooks/portal/api';
    const auth = { Authorization: `Bearer ${token}`, 'X-Webhooks-Portal': '1' };
    // [method, path, body, Content-Type (none when null), with a Content-Length (else chunked)]
    const cases: [string, string, string, string | null, boolean][] = [
      ['POST', `/endpoints/${endpoint.id}/secret/rotate`, '{"graceMs":0}', 'text/plain', true],
      ['POST', `/endpoints/${endpoint.id}/secret/rotate`, '{"graceMs":0}', null, true],
      ['POST', `/endpoints/${endpoint.id}/secret/rotate`, '{"graceMs":0}', 'text/plain', false],
      ['PATCH', `/endpoints/${endpoint.id}`, '{"disabled":true}', 'text/plain; charset=utf-8', true],
      ['PATCH', `/endpoints/${endpoint.id}`, '<disabled>true</disabled>', 'application/xml', true],
      ['PATCH', `/endpoints/${endpoint.id}`, '{"disabled":true}', 'application/vnd.api+json', true],
      ['PATCH', `/endpoints/${endpoint.id}`, 'disabled=true', 'application/x-www-form-urlencoded', true],
      ['POST', '/endpoints', 'url=https%3A%2F%2Fb.example.com%2F', 'application/x-www-form-urlencoded', true],
      ['POST', '/endpoints', '{"url":"https://b.example.com/"}', null, false],
      ['DELETE', `/endpoints/${endpoint.id}`, 'x', 'text/plain', true],
    ];
    for (const [method, path, body, type, withLength] of cases) {
      const headers: Record<string, string> = { ...auth };
      if (type !== null) headers['Content-Type'] = type;
      if (withLength) headers['Content-Length'] = String(Buffer.byteLength(body));
      const res = await raw(t.app.getHttpServer(), { method, path: api + path, headers, body });
      expect([method, path, type, res.status, res.headers['content-type'], JSON.parse(res.text).code]).toEqual([
        method,
        path,
        type,
        415,
        PROBLEM_CONTENT_TYPE,
        'unsupported_media_type',
      ]);
    }
    const after = await svc.getEndpoint(endpoint.id);
    expect([after.secret, after.enabled, after.previousSecret]).toEqual([endpoint.secret, true, null]);
    expect((await svc.listEndpoints()).data.map((e) => e.id)).toEqual([endpoint.id]);
    expect(actions).toEqual([]);

    // Without a body (no Content-Length, or 0), as the page sends them, and JSON with a charset.
    const bodiless = (method: string, path: string, length?: string) =>
      raw(t.app.getHttpServer(), {
        method,
        path: api + path,
        headers: length === undefined ? auth : { ...auth, 'Content-Length': length },
      });
    expect((await bodiless('POST', `/endpoints/${endpoint.id}/secret/reveal`)).status).toBe(200);
    expect((await bodiless('POST', `/endpoints/${endpoint.id}/secret/reveal`, '0')).status).toBe(200);
    await request(t.app.getHttpServer())
      .patch(`${api}/endpoints/${endpoint.id}`)
      .set({ ...auth, 'Content-Type': 'application/json; charset=utf-8' })
      .send('{"description":"d"}')
      .expect(200);
    expect((await bodiless('DELETE', `/endpoints/${endpoint.id}`, '0')).status).toBe(204);
  });

  it('refuses a body that is not UTF-8, by its bytes or its declared charset, changing nothing', async () => {
    const svc = t.app.get(WebhookService);
    const endpoint = await svc.createEndpoint({ url: 'https://a.example.com/hook', customerId: 'cust-a' });
    const path = `/webhooks/portal/api/endpoints/${endpoint.id}`;
    const auth = { Authorization: `Bearer ${token}`, 'X-Webhooks-Portal': '1' };
    const latin1 = Buffer.concat([Buffer.from('{"description":"caf'), Buffer.from([0xe9]), Buffer.from('"}')]);
    const utf16 = Buffer.from('\ufeff{"description":"x"}', 'utf16le');
    // [body, Content-Type, status, code]
    const cases: [Buffer, string, number, string][] = [
      [latin1, 'application/json', 400, 'invalid_body'],
      [latin1, 'application/json; charset=utf-8', 400, 'invalid_body'],
      [Buffer.from('{"description":"\xed\xa0\x80"}', 'latin1'), 'application/json', 400, 'invalid_body'],
      [latin1, 'application/json; charset=iso-8859-1', 415, 'unsupported_media_type'],
      [utf16, 'application/json; charset=utf-16', 415, 'unsupported_media_type'],
      [Buffer.from('{"description":"x"}'), 'application/json; charset="latin1"', 415, 'unsupported_media_type'],
      // Express's parser refuses the spelling without the hyphen; Fastify is made to agree.
      [Buffer.from('{"description":"x"}'), 'application/json; charset=utf8', 415, 'unsupported_media_type'],
    ];
    for (const [body, type, status, code] of cases) {
      const headers = { ...auth, 'Content-Type': type, 'Content-Length': String(body.length) };
      const res = await raw(t.app.getHttpServer(), { method: 'PATCH', path, headers, body });
      expect([type, res.status, res.headers['content-type'], JSON.parse(res.text).code]).toEqual([
        type,
        status,
        PROBLEM_CONTENT_TYPE,
        code,
      ]);
    }
    expect((await svc.getEndpoint(endpoint.id)).description).toBe(endpoint.description);

    // UTF-8 as such, declared or not; U+FFFD sent as itself is kept.
    for (const type of ['application/json', 'application/json; charset=UTF-8', 'application/json;charset="utf-8"']) {
      const body = Buffer.from(JSON.stringify({ description: `café \ufffd ${type}` }));
      const headers = { ...auth, 'Content-Type': type, 'Content-Length': String(body.length) };
      const res = await raw(t.app.getHttpServer(), { method: 'PATCH', path, headers, body });
      expect([type, res.status]).toEqual([type, 200]);
      expect((await svc.getEndpoint(endpoint.id)).description).toBe(`café \ufffd ${type}`);
    }
    await svc.deleteEndpoint(endpoint.id);
  });

  it("leaves the app's other routes to the adapter's own answer", async () => {
    const res = await request(t.app.getHttpServer())
      .post('/elsewhere')
      .set('Content-Type', 'application/json')
      .send('{"url":');
    expect(res.headers['content-type']).not.toMatch(/problem\+json/);
  });
});
