import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { DataSource, type EntitySubscriberInterface } from 'typeorm';
import { WebhookDelivery } from '../../src/database/entities/webhook-delivery.entity.js';
import { WebhookEndpoint } from '../../src/database/entities/webhook-endpoint.entity.js';
import { WebhookMessage } from '../../src/database/entities/webhook-message.entity.js';
import { WebhookValidationError } from '../../src/errors/webhook-validation.error.js';
import { forDriver, SQLITE } from '../../src/database/sql.js';
import { WebhookService } from '../../src/outbound/webhook.service.js';
import { FAST_OUTBOUND, startTestApp, type TestApp } from '../support/app.js';
import { testDatabases } from '../support/databases.js';

/**
 * A worker's write landing inside a service call: run once, right after the call loads a row of
 * `entity` (between its read and its write) or right before it updates one, whichever comes first.
 */
class WorkerWrite implements EntitySubscriberInterface {
  private pending = true;
  constructor(
    private readonly entity: Function,
    private readonly write: () => Promise<unknown>,
  ) {}

  listenTo(): Function {
    return this.entity;
  }

  afterLoad(): Promise<unknown> | void {
    return this.once();
  }

  beforeUpdate(): Promise<unknown> | void {
    return this.once();
  }

  private once(): Promise<unknown> | void {
    if (!this.pending) return;
    this.pending = false;
    return this.write();
  }
}

describe.each(testDatabases())('targeted writes of the service API on %s', (db) => {
  let t: TestApp;
  let svc: WebhookService;
  let ds: DataSource;
  const sql = (text: string, params: unknown[]) => ds.query(forDriver(text, SQLITE.has(ds.options.type)), params);

  /** Runs `call` with the worker's `write` planted inside it (see {@link WorkerWrite}). */
  async function racing<T>(entity: Function, write: () => Promise<unknown>, call: () => Promise<T>): Promise<T> {
    const hook = new WorkerWrite(entity, write);
    ds.subscribers.push(hook);
    try {
      return await call();
    } finally {
      ds.subscribers.splice(ds.subscribers.indexOf(hook), 1);
    }
  }
  const gone = (id: string) => () =>
    sql('UPDATE webhook_endpoints SET enabled = FALSE, disabled_reason = ? WHERE id = ?', ['gone (410)', id]);

  beforeAll(async () => {
    // Emitter: no worker touches the rows but the test's own writes.
    t = await startTestApp({ db, webhooks: { role: 'emitter', outbound: FAST_OUTBOUND } });
    svc = t.app.get(WebhookService);
    ds = t.app.get(DataSource);
  });
  afterAll(async () => {
    await t?.close();
  });

  it('updateEndpoint keeps a 410 that disabled the endpoint meanwhile', async () => {
    const ep = await svc.createEndpoint({ url: 'https://example.com/update', customerId: 'race-update' });
    const updated = await racing(WebhookEndpoint, gone(ep.id), () =>
      svc.updateEndpoint(ep.id, { description: 'ERP', eventTypes: ['order.*'] }),
    );
    expect(updated).toMatchObject({ id: ep.id, description: 'ERP', eventTypes: ['order.*'] });
    expect(await svc.getEndpoint(ep.id)).toMatchObject({
      description: 'ERP',
      eventTypes: ['order.*'],
      enabled: false,
      disabledReason: 'gone (410)',
    });
  });

  it('updateEndpoint returns the endpoint as written, and enabled: false keeps a reason already there', async () => {
    const ep = await svc.createEndpoint({
      url: 'https://example.com/returned',
      customerId: 'race-returned',
      headers: { 'X-A': '1' },
    });
    await sql('UPDATE webhook_endpoints SET consecutive_failures = 4 WHERE id = ?', [ep.id]);
    const updated = await svc.updateEndpoint(ep.id, { url: 'https://example.com/moved', headers: null });
    expect(updated).toMatchObject({
      url: 'https://example.com/moved',
      headers: null,
      consecutiveFailures: 4,
      enabled: true,
      customerId: 'race-returned',
    });
    expect(updated.updatedAt.getTime()).toBeGreaterThanOrEqual(ep.updatedAt.getTime());
    await gone(ep.id)();
    expect(await svc.updateEndpoint(ep.id, { enabled: false })).toMatchObject({
      enabled: false,
      disabledReason: 'gone (410)',
    });
    expect(await svc.updateEndpoint(ep.id, { enabled: true })).toMatchObject({
      enabled: true,
      disabledReason: null,
      consecutiveFailures: 0,
    });
    await expect(svc.updateEndpoint('ep_missing', { description: 'x' })).rejects.toThrow(/No webhook endpoint/);
  });

  it('rotateEndpointSecret keeps a 410 that disabled the endpoint meanwhile', async () => {
    const ep = await svc.createEndpoint({ url: 'https://example.com/rotate', customerId: 'race-rotate' });
    const rotated = await racing(WebhookEndpoint, gone(ep.id), () =>
      svc.rotateEndpointSecret(ep.id, { graceSeconds: 60 }),
    );
    expect(rotated.secret).not.toBe(ep.secret);
    expect(rotated.previousSecret).toBe(ep.secret);
    expect(await svc.getEndpoint(ep.id)).toMatchObject({
      secret: rotated.secret,
      previousSecret: ep.secret,
      enabled: false,
      disabledReason: 'gone (410)',
    });
    const again = await svc.rotateEndpointSecret(ep.id, { graceSeconds: 0 });
    expect(again).toMatchObject({ previousSecret: null, previousSecretExpiresAt: null });
    await expect(svc.rotateEndpointSecret('ep_missing')).rejects.toThrow(/No webhook endpoint/);
  });

  it('redeliver keeps the attempt count and last result a worker wrote meanwhile', async () => {
    await svc.createEndpoint({ url: 'https://example.com/redeliver', customerId: 'race-redeliver' });
    const {
      deliveryIds: [id],
    } = await svc.send('race.redeliver', {}, { customerId: 'race-redeliver' });
    await sql(
      "UPDATE webhook_deliveries SET status = 'failed', attempts = 3, last_status_code = 500, last_error = 'HTTP 500' WHERE id = ?",
      [id],
    );
    const worker = () =>
      sql("UPDATE webhook_deliveries SET attempts = 4, last_status_code = 503, last_error = 'HTTP 503' WHERE id = ?", [
        id,
      ]);
    const returned = await racing(WebhookDelivery, worker, () => svc.redeliver(id));
    // (Not enqueuedAt: the send's own enqueue marks the row a few ms later, not awaited.)
    expect(returned).toMatchObject({ id, status: 'pending', attempts: 4 });
    expect(await svc.getDelivery(id)).toMatchObject({
      status: 'pending',
      attempts: 4,
      lastStatusCode: 503,
      lastError: 'HTTP 503',
    });
  });

  it('refuses an idempotency key whose scope overflows its column, writing nothing', async () => {
    const before = await ds.getRepository(WebhookMessage).count();
    // Each quote is escaped in the stored scope: 255 characters take 510 there.
    const quotes = '"'.repeat(255);
    const err = await svc
      .send('scope.long', {}, { customerId: quotes, idempotencyKey: quotes })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WebhookValidationError);
    expect(err).toMatchObject({ field: 'idempotencyKey' });
    expect((err as Error).message).toMatch(/idempotencyKey .* too long/);
    const control = '\u0001'.repeat(120);
    await expect(svc.send('scope.long', {}, { idempotencyKey: control })).rejects.toBeInstanceOf(
      WebhookValidationError,
    );
    expect(await ds.getRepository(WebhookMessage).count()).toBe(before);
    // Right at the limit is still taken: 600 characters once escaped.
    const fits = await svc.send('scope.long', {}, { customerId: 'x'.repeat(83), idempotencyKey: '"'.repeat(255) });
    expect(fits.created).toBe(true);
  });
});
