import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { Injectable, Logger, Scope, type Type } from '@nestjs/common';
import { DiscoveryModule } from '@nestjs/core';
import { Test } from '@nestjs/testing';
import { OnWebhook } from '../../src/decorators/on-webhook.decorator.js';
import { InboundSources } from '../../src/inbound/inbound.sources.js';
import { inboundMessages } from '../../src/inbound/inbound.messages.js';
import { WebhookDispatcher } from '../../src/inbound/webhook.dispatcher.js';
import { WebhookExplorer } from '../../src/inbound/webhook.explorer.js';
import { WebhookMetadataAccessor } from '../../src/inbound/webhook-metadata.accessor.js';
import { WebhookTelemetry } from '../../src/observability/webhook-telemetry.js';
import { WEBHOOKS_OPTIONS } from '../../src/webhooks.constants.js';
import { resolveWebhooksOptions } from '../../src/webhooks.options.js';
import { testDatabases } from '../support/databases.js';
import { SOURCES, startInboundApp } from './support.js';

@Injectable()
class UnknownSourceHandlers {
  @OnWebhook('order.completed', { source: 'stirpe' })
  handle() {}
}

@Injectable()
class BadFilterHandlers {
  @OnWebhook('order completed')
  handle() {}
}

@Injectable({ scope: Scope.REQUEST })
class RequestScopedHandlers {
  @OnWebhook('order.completed')
  handle() {}
}

/** Boots only the discovery half of the module (no database or Redis needed to fail a boot). */
async function discover(handlers: Type<unknown>) {
  const moduleRef = await Test.createTestingModule({
    imports: [DiscoveryModule],
    providers: [
      { provide: WEBHOOKS_OPTIONS, useValue: resolveWebhooksOptions({ inbound: { sources: SOURCES } }) },
      InboundSources,
      WebhookDispatcher,
      WebhookTelemetry,
      WebhookMetadataAccessor,
      WebhookExplorer,
      handlers,
    ],
  }).compile();
  moduleRef.useLogger(false);
  try {
    await moduleRef.init();
    return moduleRef
      .get(WebhookDispatcher)
      .all()
      .map((h) => h.name);
  } finally {
    await moduleRef.close();
  }
}

describe('handler discovery at boot', () => {
  it('fails the boot on a handler naming an unknown source, saying what to change', async () => {
    await expect(discover(UnknownSourceHandlers)).rejects.toThrow(
      inboundMessages.unknownHandlerSource('UnknownSourceHandlers.handle', 'stirpe', Object.keys(SOURCES)),
    );
  });

  it('fails the boot on an invalid event type filter', async () => {
    await expect(discover(BadFilterHandlers)).rejects.toThrow(
      inboundMessages.invalidHandlerFilter('BadFilterHandlers.handle', 'order completed'),
    );
  });

  it('skips request-scoped handlers with a warning', async () => {
    const warn = jest.spyOn(Logger.prototype, 'warn');
    expect(await discover(RequestScopedHandlers)).toEqual([]);
    expect(warn).toHaveBeenCalledWith(inboundMessages.requestScopedHandler('RequestScopedHandlers.handle'));
    warn.mockRestore();
  });
});

describe.each(testDatabases())('boot log on %s', (db) => {
  let lines: string[];
  let t: Awaited<ReturnType<typeof startInboundApp>>;
  beforeAll(async () => {
    const log = jest.spyOn(Logger.prototype, 'log');
    t = await startInboundApp({ db });
    lines = log.mock.calls.map((c) => String(c[0]));
    log.mockRestore();
  });
  afterAll(() => t?.close());

  it('lists source × event → handlers, with source-bound rules only under their source', () => {
    expect(lines).toContain('partner × order.completed → RecordingHandlers.orderCompleted, AuditHandlers.audit');
    expect(lines).toContain('stripe × invoice.* → RecordingHandlers.billing');
    expect(lines).toContain('stripe × invoice.paid → RecordingHandlers.billing');
    expect(lines).toContain('github × * → RecordingHandlers.github');
    expect(lines).not.toContain('partner × invoice.* → RecordingHandlers.billing');
    expect(lines).not.toContain('partner × * → RecordingHandlers.github');
  });
});
