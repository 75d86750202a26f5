import { createSocket, type Socket } from 'node:dgram';
import { promises as dns } from 'node:dns';
import { createServer, type ServerResponse } from 'node:http';
import { createServer as createNetServer, type AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { Logger, type LoggerService } from '@nestjs/common';
import ipaddr from 'ipaddr.js';
import type { NetworkPolicyOptions, OutboundOptions } from '../../src/interfaces/webhooks-options.interface.js';
import { WebhookHttpClient } from '../../src/outbound/http.client.js';
import type { ResolveAll } from '../../src/outbound/network.policy.js';
import { messages } from '../../src/webhooks.messages.js';
import { decideOutcome } from '../../src/outbound/retry.policy.js';
import { resolveWebhooksOptions } from '../../src/webhooks.options.js';
import { Receiver, type Responder } from '../support/receiver.js';

// Every connection these tests make goes to 127.0.0.1. Host names resolve through a DNS server
// on 127.0.0.1 that this file runs; where an answer also holds a non-loopback address, the
// loopback one comes first, so even a broken policy would only ever reach the local server.

const TEN_MB = 10 * 1024 * 1024;

/** A DNS server on 127.0.0.1 (UDP) answering A / AAAA from a table; other names get NXDOMAIN. */
async function startDns(zone: Record<string, { A?: string[]; AAAA?: string[] }>): Promise<Socket> {
  const socket = createSocket('udp4');
  socket.on('message', (query, peer) => {
    let end = 12;
    const labels: string[] = [];
    for (; query[end] !== 0; end += query[end] + 1)
      labels.push(query.subarray(end + 1, end + 1 + query[end]).toString());
    const type = query.readUInt16BE(end + 1);
    const records = zone[labels.join('.').toLowerCase()];
    const ips = (type === 1 ? records?.A : type === 28 ? records?.AAAA : undefined) ?? [];
    const header = Buffer.alloc(12);
    query.copy(header, 0, 0, 2);
    header.writeUInt16BE(records ? 0x8180 : 0x8183, 2);
    header.writeUInt16BE(1, 4);
    header.writeUInt16BE(ips.length, 6);
    const answers = ips.map((ip) => {
      const rr = Buffer.alloc(12);
      const rdata = Buffer.from(ipaddr.parse(ip).toByteArray());
      rr.writeUInt16BE(0xc00c, 0);
      rr.writeUInt16BE(type, 2);
      rr.writeUInt16BE(1, 4);
      rr.writeUInt32BE(5, 6);
      rr.writeUInt16BE(rdata.length, 10);
      return Buffer.concat([rr, rdata]);
    });
    socket.send(Buffer.concat([header, query.subarray(12, end + 5), ...answers]), peer.port, peer.address);
  });
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  return socket;
}

/** `dns.lookup` with `all: true`, asked of one DNS server through a real `dns.Resolver`. */
function resolverAt(port: number): ResolveAll {
  const resolver = new dns.Resolver({ timeout: 2000, tries: 1 });
  resolver.setServers([`127.0.0.1:${port}`]);
  return async (hostname) => {
    const [v4, v6] = await Promise.allSettled([resolver.resolve4(hostname), resolver.resolve6(hostname)]);
    const all = [
      ...(v4.status === 'fulfilled' ? v4.value.map((address) => ({ address, family: 4 })) : []),
      ...(v6.status === 'fulfilled' ? v6.value.map((address) => ({ address, family: 6 })) : []),
    ];
    if (all.length === 0) throw v4.status === 'rejected' ? v4.reason : new Error(`no address for ${hostname}`);
    return all;
  };
}

describe('outbound egress policy (real HTTP server and DNS server on 127.0.0.1)', () => {
  const warnings: { message: string; context: string }[] = [];
  const big = { written: 0, closed: Promise.resolve(false) };
  const clients: WebhookHttpClient[] = [];
  let receiver: Receiver;
  let dnsServer: Socket;
  let resolve: ResolveAll;
  let port: number;
  /** The paths the receiver was asked for, in order. */
  const hits = () => receiver.requests.map((r) => r.url);

  beforeAll(async () => {
    const recorder: LoggerService = {
      log: () => undefined,
      error: () => undefined,
      warn: (message: string, context: string) => warnings.push({ message, context }),
    };
    Logger.overrideLogger(recorder);
    receiver = await new Receiver((req, _n, res): ReturnType<Responder> => {
      if (req.url === '/redirect') return { status: 302, headers: { location: `http://127.0.0.1:${port}/ok` } };
      if (req.url === '/big') return streamTenMegabytes(res);
      if (req.url === '/stall') {
        // A status, then a body that never comes.
        res.writeHead(500, { 'content-length': '10' });
        return void res.flushHeaders();
      }
      return { status: 200, headers: { 'content-type': 'text/plain' }, body: 'ok' };
    }).start();
    port = receiver.port;
    dnsServer = await startDns({
      'hooks.test': { A: ['127.0.0.1'] },
      'internal.test': { A: ['127.0.0.1'] },
      'mixed.test': { A: ['127.0.0.1', '10.20.30.40'], AAAA: ['2606:4700:4700::1111'] },
    });
    resolve = resolverAt((dnsServer.address() as AddressInfo).port);
  });

  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.onApplicationShutdown()));
    receiver.requests.length = 0;
    warnings.length = 0;
  });

  afterAll(async () => {
    await receiver.stop();
    await new Promise<void>((done) => dnsServer.close(done));
  });

  /** Writes 10 MB with back-pressure; `big.closed` says whether the response was ever finished. */
  function streamTenMegabytes(res: ServerResponse): void {
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': String(TEN_MB) });
    big.written = 0;
    big.closed = new Promise((done) => res.on('close', () => done(res.writableFinished)));
    const chunk = Buffer.alloc(64 * 1024, 'x');
    const pump = (): void => {
      while (big.written < TEN_MB && !res.destroyed) {
        big.written += chunk.length;
        if (!res.write(chunk)) return void res.once('drain', pump);
      }
      if (!res.destroyed) res.end();
    };
    pump();
  }

  function client(network: NetworkPolicyOptions, outbound: Omit<OutboundOptions, 'network'> = {}): WebhookHttpClient {
    const c = new WebhookHttpClient(resolveWebhooksOptions({ outbound: { ...outbound, network } }), resolve);
    clients.push(c);
    return c;
  }

  const post = (c: WebhookHttpClient, url: string) =>
    c.post(url, { 'content-type': 'application/json' }, '{"ok":true}');

  it.each([
    ['127.0.0.1', '127.0.0.1'],
    ['2130706433', '127.0.0.1'],
    ['0x7f.1', '127.0.0.1'],
    ['0177.0.0.1', '127.0.0.1'],
    ['127.1', '127.0.0.1'],
    ['0.0.0.0', '0.0.0.0'],
    ['[::1]', '::1'],
    ['[::ffff:127.0.0.1]', '::ffff:7f00:1'],
    ['hooks.test', '127.0.0.1'],
  ])('refuses http://%s by default, before connecting, as blocked', async (host, address) => {
    const result = await post(client({}), `http://${host}:${port}/ok?token=secret`);
    expect(result).toMatchObject({ statusCode: null, body: null, errorClass: 'blocked' });
    expect(result.errorMessage).toContain(address);
    expect(result.errorMessage).not.toContain('secret');
    expect(hits()).toEqual([]);
    expect(warnings).toHaveLength(1);
    expect(warnings[0].context).toBe('WebhookHttpClient');
    expect(warnings[0].message).toContain(address);
    expect(warnings[0].message).not.toContain('secret');
    expect(decideOutcome(result, 0, { schedule: [0, 5000], jitter: 0, retryAfterMaxFactor: 2 })).toEqual({
      kind: 'failed',
    });
  });

  it('applies the connect-time check to https:// too (TLS sockets take the same lookup)', async () => {
    const result = await post(client({}), `https://hooks.test:${port}/ok`);
    expect(result).toMatchObject({ statusCode: null, errorClass: 'blocked' });
    expect(result.errorMessage).toBe(messages.hostRefused('hooks.test', '127.0.0.1', 'loopback range 127.0.0.0/8'));
    expect(result.errorMessage).toContain("add 'hooks.test' to outbound.network.allow");
    expect(hits()).toEqual([]);
  });

  it('refuses the real system resolver answer for localhost', async () => {
    const c = new WebhookHttpClient(resolveWebhooksOptions({}));
    clients.push(c);
    const result = await post(c, `http://localhost:${port}/ok`);
    expect(result.errorClass).toBe('blocked');
    expect(result.errorMessage).toMatch(/localhost resolves to (127\.0\.0\.1|::1), which is refused \(loopback/);
    expect(hits()).toEqual([]);
  });

  it('delivers to loopback once 127.0.0.1/32 is allow-listed, in any URL form', async () => {
    const c = client({ allow: ['127.0.0.1/32'] });
    for (const host of ['127.0.0.1', '2130706433', '127.1']) {
      expect(await post(c, `http://${host}:${port}/ok`)).toMatchObject({
        statusCode: 200,
        body: 'ok',
        errorClass: null,
      });
    }
    expect(hits()).toEqual(['/ok', '/ok', '/ok']);
    expect((await post(c, `http://127.0.0.2:${port}/ok`)).errorClass).toBe('blocked');
  });

  it('connects to a host name whose every address is allow-listed', async () => {
    expect(await post(client({ allow: ['127.0.0.1/32'] }), `http://hooks.test:${port}/ok`)).toMatchObject({
      statusCode: 200,
      body: 'ok',
    });
    expect(hits()).toEqual(['/ok']);
  });

  it('connects to an allow-listed host name without checking its addresses', async () => {
    const c = client({ allow: ['internal.test'] });
    expect(await post(c, `http://internal.test:${port}/ok`)).toMatchObject({ statusCode: 200, body: 'ok' });
    expect((await post(c, `http://hooks.test:${port}/ok`)).errorClass).toBe('blocked');
    expect(hits()).toEqual(['/ok']);
  });

  it('refuses a host whose DNS answer mixes acceptable (public, allow-listed) and private addresses', async () => {
    const result = await post(client({ allow: ['127.0.0.1/32'] }), `http://mixed.test:${port}/ok`);
    expect(result).toMatchObject({ statusCode: null, errorClass: 'blocked' });
    expect(result.errorMessage).toBe(messages.hostRefused('mixed.test', '10.20.30.40', 'private range 10.0.0.0/8'));
    expect(hits()).toEqual([]);
  });

  it('reports a name the DNS server does not know as a dns failure, not blocked', async () => {
    const result = await post(client({}), `http://nowhere.test:${port}/ok`);
    expect(result).toMatchObject({ statusCode: null, errorClass: 'dns' });
    expect(warnings).toEqual([]);
  });

  it('does not follow a redirect: the 302 is the result', async () => {
    const result = await post(client({ allow: ['127.0.0.1/32'] }), `http://127.0.0.1:${port}/redirect`);
    expect(result).toMatchObject({ statusCode: 302, errorClass: 'http' });
    expect(result.headers.location).toBe(`http://127.0.0.1:${port}/ok`);
    expect(hits()).toEqual(['/redirect']);
  });

  it('reads a 10 MB body only up to the cap, drops the connection and stays usable', async () => {
    const c = client({ allow: ['127.0.0.1/32'] }, { maxResponseBodyBytes: 1000 });
    const result = await post(c, `http://127.0.0.1:${port}/big`);
    expect(result).toMatchObject({ statusCode: 200, errorClass: null });
    expect(result.body).toBe('x'.repeat(1000));
    expect(await big.closed).toBe(false);
    expect(big.written).toBeLessThan(TEN_MB);
    expect(await post(c, `http://127.0.0.1:${port}/ok`)).toMatchObject({ statusCode: 200, body: 'ok' });
  });

  it('with maxResponseBodyBytes 0, ends an attempt at its status, not when a stalled body times out', async () => {
    const c = client({ allow: ['127.0.0.1/32'] }, { maxResponseBodyBytes: 0, timeoutMs: 3_000 });
    const started = Date.now();
    const result = await post(c, `http://127.0.0.1:${port}/stall`);
    expect(result).toMatchObject({ statusCode: 500, body: '', errorClass: 'http' });
    expect(Date.now() - started).toBeLessThan(2_000);
  });

  it('sends no request after its deadline when more jobs run at once than 128 (the pool waited, unaborted)', async () => {
    let recorded = false;
    let late = 0;
    let arrived = 0;
    const slow = createServer((req, res) => {
      arrived++;
      if (recorded) late++;
      req.resume();
      setTimeout(() => res.end('ok'), 700);
    });
    await new Promise<void>((done) => slow.listen(0, '127.0.0.1', done));
    try {
      const c = client({ allow: ['127.0.0.1/32'] }, { concurrency: 200, timeoutMs: 500 });
      const url = `http://127.0.0.1:${(slow.address() as AddressInfo).port}/slow`;
      const results = await Promise.all(Array.from({ length: 200 }, () => post(c, url)));
      recorded = true;
      expect(results.every((r) => r.errorClass === 'timeout')).toBe(true);
      await new Promise((done) => setTimeout(done, 1_000));
      // Before, 128 connections: the rest waited for one, and some went out once the first were aborted.
      expect([arrived, late]).toEqual([200, 0]);
    } finally {
      slow.closeAllConnections();
      await new Promise((done) => slow.close(done));
    }
  });

  it('records a malformed answer as a network error that says so', async () => {
    const answers = ['HTTP/1.1 099 Odd\r\nContent-Length: 0\r\n\r\n', 'HTTP/1.1 abc\r\n\r\n', 'hello\r\n\r\n'];
    let n = 0;
    const raw = createNetServer((socket) => {
      const answer = answers[n++];
      socket.on('error', () => undefined);
      socket.once('data', () => socket.end(answer));
    });
    await new Promise<void>((done) => raw.listen(0, '127.0.0.1', done));
    try {
      const c = client({ allow: ['127.0.0.1/32'] });
      const url = `http://127.0.0.1:${(raw.address() as AddressInfo).port}/x`;
      const results = [];
      for (let i = 0; i < answers.length; i++) results.push(await post(c, url));
      expect(results.map((r) => [r.statusCode, r.errorClass])).toEqual(answers.map(() => [null, 'network']));
      // Before, the HTTP client's internal assertion: "ERR_ASSERTION: The expression evaluated to a falsy value: …".
      expect(results[0].errorMessage).toMatch(/^invalid HTTP response: the HTTP client could not read it \(/);
      expect(results[1].errorMessage).toBe(
        'HTTPParserError: Response does not match the HTTP/1.1 protocol (Invalid status code)',
      );
    } finally {
      await new Promise((done) => raw.close(done));
    }
  });

  it('refuses http:// URLs when httpsOnly is on, even to allow-listed addresses and hosts', async () => {
    const c = client({ httpsOnly: true, allow: ['127.0.0.1/32', 'internal.test'] });
    for (const url of [`http://127.0.0.1:${port}/ok`, `http://internal.test:${port}/ok`]) {
      const result = await post(c, url);
      expect(result).toMatchObject({ statusCode: null, errorClass: 'blocked' });
      expect(result.errorMessage).toContain('httpsOnly');
    }
    expect(hits()).toEqual([]);
  });
});
