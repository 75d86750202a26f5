import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Injectable } from '@nestjs/common';
import { randomBytes } from 'node:crypto';
import request from 'supertest';
import { OnWebhook } from '../../src/decorators/on-webhook.decorator.js';
import { inboundMessages } from '../../src/inbound/inbound.messages.js';
import { webhookReply } from '../../src/inbound/webhook-reply.js';
import { postWebhook } from '../../src/testing/index.js';
import { testDatabases } from '../support/databases.js';
import { CapturingLogger } from '../support/logger.js';
import { eventually } from '../support/receiver.js';
import { ADAPTERS, inboxRows, startInboundApp } from './support.js';

const rnd = () => randomBytes(6).toString('hex');

/** Handlers that answer the call themselves, as providers such as Slack's slash commands need. */
@Injectable()
class ReplyHandlers {
  readonly ran: string[] = [];

  @OnWebhook('reply.text', { source: 'orders' })
  text(data: { text: string }) {
    this.ran.push('text');
    return webhookReply(data.text);
  }

  @OnWebhook('reply.json', { source: 'orders' })
  json(data: unknown) {
    return webhookReply({ ok: true, echo: data }, { status: 201 });
  }

  @OnWebhook('reply.twice', { source: 'orders' })
  first() {
    return webhookReply('first');
  }

  @OnWebhook('reply.twice', { source: 'orders' })
  second() {
    return webhookReply('second');
  }

  @OnWebhook('reply.plain', { source: 'orders' })
  plain() {
    return { not: 'a reply' };
  }

  @OnWebhook('reply.redirect', { source: 'orders' })
  redirect() {
    return webhookReply('elsewhere', { status: 302 });
  }

  @OnWebhook('slash_command', { source: 'slack' })
  command(data: { text: string }) {
    return webhookReply({ response_type: 'ephemeral', text: `Deploying ${data.text}` });
  }
}

describe.each(testDatabases())('answers a provider needs, on %s', (kind) => {
  describe.each(ADAPTERS)('over %s', (http) => {
    const logger = new CapturingLogger();
    let t: Awaited<ReturnType<typeof startInboundApp>>;
    beforeAll(async () => {
      t = await startInboundApp({ db: kind, http, providers: [ReplyHandlers], logger });
    });
    afterAll(() => t?.close());

    const postForm = (path: string, form: string) =>
      request(t.app.getHttpServer()).post(path).set('content-type', 'application/x-www-form-urlencoded').send(form);
    const slackRows = async () => (await inboxRows(t.app)).filter((r) => r.source === 'slack');

    it("answers Slack's signed url_verification with its challenge, storing and running nothing", async () => {
      const challenge = `3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMm${rnd()}`;
      const payload = { token: 'Jhj5dZrVaK7ZwHHjRyZWjbDl', challenge, type: 'url_verification' };
      const calls = t.handlers.calls.length;
      const rows = (await slackRows()).length;
      const res = await postWebhook(t.app, 'slack', payload);
      expect([res.status, res.headers['content-type']]).toEqual([200, 'application/json; charset=utf-8']);
      expect(res.text).toBe(JSON.stringify({ challenge }));
      expect((await slackRows()).length).toBe(rows);
      expect(t.handlers.calls.length).toBe(calls);
    });

    it('verifies a url_verification like any call: unsigned or wrongly signed, it gets 401 and no challenge', async () => {
      const payload = { challenge: `c-${rnd()}`, type: 'url_verification' };
      const unsigned = await postWebhook(t.app, 'slack', payload, { headers: { 'x-slack-signature': null } });
      const wrong = await postWebhook(t.app, 'slack', payload, { secret: 'not-the-secret' });
      for (const res of [unsigned, wrong]) {
        expect(res.status).toBe(401);
        expect(res.text).not.toContain(payload.challenge);
      }
    });

    it("answers Slack's unsigned ssl_check with 200, storing and running nothing", async () => {
      const calls = t.handlers.calls.length;
      const rows = (await slackRows()).length;
      const res = await postForm('/webhooks/slack', 'ssl_check=1&token=Jhj5dZrVaK7ZwHHjRyZWjbDl');
      expect([res.status, res.text]).toEqual([200, '']);
      expect((await slackRows()).length).toBe(rows);
      expect(t.handlers.calls.length).toBe(calls);
    });

    it('still verifies an unsigned form that carries a command beside ssl_check, and other sources', async () => {
      const form = 'ssl_check=1&command=%2Fdeploy&text=now';
      const slack = await postForm('/webhooks/slack', form);
      const github = await postForm('/webhooks/github', 'ssl_check=1');
      expect([slack.status, JSON.parse(slack.text).code]).toEqual([400, 'missing_headers']);
      expect([github.status, JSON.parse(github.text).code]).toEqual([400, 'missing_headers']);
    });

    it("sends a handler's webhookReply instead of the receipt: text, or JSON with its status", async () => {
      const text = await postWebhook(t.app, 'orders', {
        event: 'reply.text',
        id: `e-${rnd()}`,
        data: { text: 'hello, sender' },
      });
      expect([text.status, text.headers['content-type'], text.text]).toEqual([
        200,
        'text/plain; charset=utf-8',
        'hello, sender',
      ]);
      const json = await postWebhook(t.app, 'orders', { event: 'reply.json', id: `e-${rnd()}`, data: { n: 1 } });
      expect([json.status, json.headers['content-type']]).toEqual([201, 'application/json; charset=utf-8']);
      expect(json.body).toEqual({ ok: true, echo: { n: 1 } });
    });

    it('answers a Slack slash command with the message its handler returned', async () => {
      const form = new URLSearchParams({ command: '/deploy', text: 'api', trigger_id: `t.${rnd()}` });
      const res = await postWebhook(t.app, 'slack', form);
      expect([res.status, res.body]).toEqual([200, { response_type: 'ephemeral', text: 'Deploying api' }]);
    });

    it('answers a duplicate with the receipt: replies are not stored', async () => {
      const payload = { event: 'reply.text', id: `e-${rnd()}`, data: { text: 'once' } };
      expect((await postWebhook(t.app, 'orders', payload)).text).toBe('once');
      const again = await postWebhook(t.app, 'orders', payload);
      expect([again.status, again.body]).toEqual([200, { received: true, id: payload.id, status: 'duplicate' }]);
    });

    it('sends the first reply when two handlers reply, and logs the other as not sent', async () => {
      const mark = logger.lines.length;
      const res = await postWebhook(t.app, 'orders', { event: 'reply.twice', id: `e-${rnd()}`, data: {} });
      expect([res.status, res.text]).toEqual([200, 'first']);
      const notSent = inboundMessages.replyNotSent(
        'ReplyHandlers.second',
        'an earlier handler of the call replied already',
      );
      expect(logger.since(mark, 'warn')).toEqual([notSent]);
    });

    it('keeps the receipt when a handler returns anything else', async () => {
      const id = `e-${rnd()}`;
      const res = await postWebhook(t.app, 'orders', { event: 'reply.plain', id, data: {} });
      expect([res.status, res.body]).toEqual([200, { received: true, id, status: 'processed' }]);
    });

    it('refuses a reply that is not 2xx: the handler fails, and the call is answered 500 for a retry', async () => {
      const id = `e-${rnd()}`;
      const res = await postWebhook(t.app, 'orders', { event: 'reply.redirect', id, data: {} });
      expect([res.status, JSON.parse(res.text).code]).toEqual([500, 'handler_failed']);
      const row = (await inboxRows(t.app)).find((r) => r.eventId === id)!;
      expect(row.status).toBe('failed');
      expect(row.lastError).toMatch(/webhookReply: status must be a 2xx status \(got 302\)/);
    });
  });
});

describe.each(testDatabases())('handler replies in queue mode, on %s', (kind) => {
  const logger = new CapturingLogger();
  let t: Awaited<ReturnType<typeof startInboundApp>>;
  beforeAll(async () => {
    t = await startInboundApp({ db: kind, providers: [ReplyHandlers], logger, inbound: { mode: 'queue' } });
  });
  afterAll(() => t?.close());

  it('answers 202 with the receipt, and logs once per handler that its reply is not sent', async () => {
    const handlers = t.app.get(ReplyHandlers);
    for (let i = 0; i < 2; i++) {
      const id = `e-${rnd()}`;
      const res = await postWebhook(t.app, 'orders', { event: 'reply.text', id, data: { text: 'too late' } });
      expect([res.status, res.body]).toEqual([202, { received: true, id, status: 'queued' }]);
      await eventually(() => handlers.ran.length === i + 1, 10_000);
    }
    const notSent = inboundMessages.replyNotSent(
      'ReplyHandlers.text',
      'in queue mode the call was answered 202 before it ran',
    );
    await eventually(() => logger.since(0, 'warn').includes(notSent), 10_000);
    expect(logger.since(0, 'warn').filter((l) => l === notSent)).toHaveLength(1);
  });

  it("still answers Slack's url_verification with its challenge", async () => {
    const challenge = `c-${rnd()}`;
    const res = await postWebhook(t.app, 'slack', { challenge, type: 'url_verification' });
    expect([res.status, res.body]).toEqual([200, { challenge }]);
  });
});

describe('webhookReply arguments', () => {
  it('refuses options that are not an object with its own message, not a TypeError', () => {
    for (const options of [null, 'json', 202]) {
      expect(() => webhookReply({ ok: true }, options as any)).toThrow(
        /^webhookReply: options must be an object such as \{ status: 202 \}/,
      );
    }
  });
});
