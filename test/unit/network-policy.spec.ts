import type { LookupAddress, LookupOptions } from 'node:dns';
import { describe, expect, it } from '@jest/globals';
import { WebhooksConfigError } from '../../src/errors/webhooks-config.error.js';
import type { NetworkPolicyOptions } from '../../src/interfaces/webhooks-options.interface.js';
import { BLOCKED_ERROR_CODE, NetworkPolicy, type ResolveAll } from '../../src/outbound/network.policy.js';
import { resolveWebhooksOptions } from '../../src/webhooks.options.js';

/** DNS is an edge we do not own: a fixed table of answers stands in for it (names match as in DNS). */
function fakeDns(answers: Record<string, string[]>): ResolveAll {
  return async (hostname) => {
    const ips = answers[hostname.toLowerCase().replace(/\.$/, '')];
    if (!ips) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' });
    return ips.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));
  };
}

function policy(network: NetworkPolicyOptions = {}, dns: ResolveAll = fakeDns({})): NetworkPolicy {
  return new NetworkPolicy(resolveWebhooksOptions({ outbound: { network } }).outbound.network, dns);
}

function lookup(p: NetworkPolicy, host: string, options: LookupOptions): Promise<string | LookupAddress[]> {
  return new Promise((resolve, reject) =>
    p.lookup(host, options, (err, address) => (err ? reject(err) : resolve(address))),
  );
}

/** The URL host as written, what `new URL()` makes of it (brackets stripped), and the reason expected. */
const REFUSED: [string, string, string][] = [
  ['127.0.0.1', '127.0.0.1', 'loopback'],
  ['2130706433', '127.0.0.1', 'loopback'],
  ['0x7f.1', '127.0.0.1', 'loopback'],
  ['0177.0.0.1', '127.0.0.1', 'loopback'],
  ['127.1', '127.0.0.1', 'loopback'],
  ['0x7f000001', '127.0.0.1', 'loopback'],
  ['%31%32%37.0.0.1', '127.0.0.1', 'loopback'],
  ['127.0.0.1.', '127.0.0.1', 'loopback'],
  ['127.255.255.254', '127.255.255.254', 'loopback'],
  ['0.0.0.0', '0.0.0.0', 'unspecified'],
  ['0', '0.0.0.0', 'unspecified'],
  ['10.0.0.1', '10.0.0.1', 'private'],
  ['012.0.0.1', '10.0.0.1', 'private'],
  ['172.16.5.4', '172.16.5.4', 'private'],
  ['172.31.255.255', '172.31.255.255', 'private'],
  ['192.168.1.1', '192.168.1.1', 'private'],
  ['3232235777', '192.168.1.1', 'private'],
  ['169.254.1.1', '169.254.1.1', 'link-local'],
  ['169.254.169.254', '169.254.169.254', 'metadata'],
  ['0xa9fea9fe', '169.254.169.254', 'metadata'],
  ['169.254.170.2', '169.254.170.2', 'metadata'],
  ['100.100.100.200', '100.100.100.200', 'metadata'],
  ['192.0.0.192', '192.0.0.192', 'metadata'],
  ['168.63.129.16', '168.63.129.16', 'metadata'],
  ['100.64.0.1', '100.64.0.1', 'CGNAT'],
  ['100.127.255.255', '100.127.255.255', 'CGNAT'],
  ['224.0.0.1', '224.0.0.1', 'multicast'],
  ['239.255.255.250', '239.255.255.250', 'multicast'],
  ['255.255.255.255', '255.255.255.255', 'broadcast'],
  ['240.0.0.1', '240.0.0.1', 'reserved'],
  ['192.0.0.8', '192.0.0.8', 'IETF protocol assignments'],
  ['192.0.2.1', '192.0.2.1', 'documentation'],
  ['198.51.100.1', '198.51.100.1', 'documentation'],
  ['203.0.113.1', '203.0.113.1', 'documentation'],
  ['198.18.0.1', '198.18.0.1', 'benchmarking'],
  ['198.19.255.255', '198.19.255.255', 'benchmarking'],
  ['192.88.99.1', '192.88.99.1', '6to4 relay'],
  ['[::1]', '::1', 'loopback'],
  ['[0:0:0:0:0:0:0:1]', '::1', 'loopback'],
  ['[::]', '::', 'unspecified'],
  ['[::ffff:127.0.0.1]', '::ffff:7f00:1', 'IPv4-mapped form of 127.0.0.1, loopback'],
  ['[::ffff:7f00:1]', '::ffff:7f00:1', 'IPv4-mapped form of 127.0.0.1, loopback'],
  ['[::ffff:10.0.0.1]', '::ffff:a00:1', 'IPv4-mapped form of 10.0.0.1, private'],
  ['[::ffff:169.254.169.254]', '::ffff:a9fe:a9fe', 'metadata'],
  ['[::ffff:0:127.0.0.1]', '::ffff:0:7f00:1', 'IPv4-translated form of 127.0.0.1, loopback'],
  ['[::127.0.0.1]', '::7f00:1', 'IPv4-compatible'],
  ['[::8.8.8.8]', '::808:808', 'IPv4-compatible'],
  ['[64:ff9b::127.0.0.1]', '64:ff9b::7f00:1', 'NAT64 form of 127.0.0.1, loopback'],
  ['[64:ff9b::a9fe:a9fe]', '64:ff9b::a9fe:a9fe', 'metadata'],
  ['[64:ff9b::192.168.0.1]', '64:ff9b::c0a8:1', 'NAT64 form of 192.168.0.1, private'],
  ['[64:ff9b:1::1]', '64:ff9b:1::1', 'local-use NAT64'],
  ['[64:ff9b:1::808:808]', '64:ff9b:1::808:808', 'local-use NAT64'],
  ['[2002:7f00:1::]', '2002:7f00:1::', '6to4 form of 127.0.0.1, loopback'],
  ['[2002:a00:1::1]', '2002:a00:1::1', '6to4 form of 10.0.0.1, private'],
  ['[2002:a9fe:a9fe::]', '2002:a9fe:a9fe::', 'metadata'],
  ['[2001:0:4136:e378:8000:63bf:80ff:fffe]', '2001:0:4136:e378:8000:63bf:80ff:fffe', 'Teredo'],
  ['[2001::1]', '2001::1', 'Teredo'],
  ['[fc00::1]', 'fc00::1', 'unique-local'],
  ['[fd12:3456:789a::1]', 'fd12:3456:789a::1', 'unique-local'],
  ['[fd00:ec2::254]', 'fd00:ec2::254', 'metadata'],
  ['[fe80::1]', 'fe80::1', 'link-local'],
  ['[febf:ffff::1]', 'febf:ffff::1', 'link-local'],
  ['[fec0::1]', 'fec0::1', 'site-local'],
  ['[ff02::1]', 'ff02::1', 'multicast'],
  ['[ff05::1:3]', 'ff05::1:3', 'multicast'],
  ['[2001:db8::1]', '2001:db8::1', 'documentation'],
  ['[3fff::1]', '3fff::1', 'documentation'],
  ['[2001:2::1]', '2001:2::1', 'benchmarking'],
  ['[2001:10::1]', '2001:10::1', 'ORCHID'],
  ['[100::1]', '100::1', 'outside global unicast'],
  ['[4000::1]', '4000::1', 'outside global unicast'],
];

/** Public addresses, including the edges of refused ranges and public IPv4 inside IPv6 forms. */
const ALLOWED: [string, string][] = [
  ['8.8.8.8', '8.8.8.8'],
  ['134744072', '8.8.8.8'],
  ['1.1.1.1', '1.1.1.1'],
  ['93.184.215.14', '93.184.215.14'],
  ['100.63.255.255', '100.63.255.255'],
  ['100.128.0.0', '100.128.0.0'],
  ['172.15.255.255', '172.15.255.255'],
  ['172.32.0.0', '172.32.0.0'],
  ['169.253.255.255', '169.253.255.255'],
  ['198.17.255.255', '198.17.255.255'],
  ['223.255.255.255', '223.255.255.255'],
  ['[2606:4700:4700::1111]', '2606:4700:4700::1111'],
  ['[2a00:1450:4001:80b::200e]', '2a00:1450:4001:80b::200e'],
  ['[::ffff:8.8.8.8]', '::ffff:808:808'],
  ['[64:ff9b::8.8.8.8]', '64:ff9b::808:808'],
  ['[2002:808:808::1]', '2002:808:808::1'],
];

describe('NetworkPolicy: refused addresses (default options)', () => {
  const p = policy();

  it.each(REFUSED)('%s (parsed as %s) is refused: %s', (host, normalised, reason) => {
    expect(new URL(`http://${host}:8080/hook`).hostname.replace(/^\[(.*)\]$/, '$1')).toBe(normalised);
    expect(p.checkAddress(normalised)).toContain(reason);
    expect(p.checkAddress(normalised)).toContain(normalised);
    expect(p.checkAddress(`[${normalised}]`)).toContain(reason);
    expect(p.checkUrl(`http://${host}:8080/hook`)).toContain(reason);
    expect(p.checkUrl(`https://${host}/hook`)).toContain(reason);
  });

  it.each(ALLOWED)('%s (parsed as %s) is allowed', (host, normalised) => {
    expect(new URL(`https://${host}/`).hostname.replace(/^\[(.*)\]$/, '$1')).toBe(normalised);
    expect(p.checkAddress(normalised)).toBeNull();
    expect(p.checkUrl(`https://${host}/hook`)).toBeNull();
  });

  it('names the allow-list entry that would open a refused address', () => {
    expect(p.checkUrl('http://127.0.0.1:3000/hook')).toBe(
      "127.0.0.1 is refused (loopback range 127.0.0.0/8); to allow it, add '127.0.0.1/32' to outbound.network.allow",
    );
    expect(p.checkAddress('::1')).toContain("add '::1/128' to outbound.network.allow");
    expect(policy({ allow: ['127.0.0.1/32'] }).checkUrl('http://127.0.0.1:3000/hook')).toBeNull();
  });

  it('checks the legacy IPv4 forms given straight to checkAddress too', () => {
    for (const form of ['2130706433', '0x7f.1', '0177.0.0.1', '127.1'])
      expect(p.checkAddress(form)).toContain('loopback');
  });

  it('refuses what is not an address, and URLs that are not http(s)', () => {
    expect(p.checkAddress('hooks.example.com')).toContain('not an IP address');
    expect(p.checkUrl('not a url')).toContain('not valid');
    expect(p.checkUrl('ftp://8.8.8.8/')).toContain('ftp:');
    expect(p.checkUrl('file:///etc/passwd')).toContain('file:');
  });

  it('leaves host names to the connect-time lookup', () => {
    expect(p.checkUrl('https://localhost/hook')).toBeNull();
    expect(p.checkUrl('https://127.0.0.1.nip.io/hook')).toBeNull();
  });
});

describe('NetworkPolicy: allow-list', () => {
  it('opens the addresses a CIDR matches, and no others', () => {
    const p = policy({ allow: ['127.0.0.1/32', '10.0.0.0/8', 'fd12::/16'] });
    expect(p.checkAddress('127.0.0.1')).toBeNull();
    expect(p.checkUrl('http://2130706433:3000/')).toBeNull();
    expect(p.checkUrl('http://[::ffff:127.0.0.1]:3000/')).toBeNull();
    expect(p.checkAddress('127.0.0.2')).toContain('loopback');
    expect(p.checkAddress('10.200.3.4')).toBeNull();
    expect(p.checkAddress('192.168.1.1')).toContain('private');
    expect(p.checkAddress('fd12:3456::1')).toBeNull();
    expect(p.checkAddress('fd13::1')).toContain('unique-local');
    expect(p.checkAddress('::1')).toContain('loopback');
  });

  it('takes a bare IP address as a single-address CIDR', () => {
    const p = policy({ allow: ['::1', '192.168.1.10'] });
    expect(p.checkUrl('http://[::1]:3000/')).toBeNull();
    expect(p.checkAddress('192.168.1.10')).toBeNull();
    expect(p.checkAddress('192.168.1.11')).toContain('private');
  });

  it('opens a metadata address only with an entry for that single address', () => {
    const wide = policy({ allow: ['100.64.0.0/10', '169.254.0.0/16', 'fd00::/8'] });
    expect(wide.checkAddress('100.64.1.1')).toBeNull();
    expect(wide.checkAddress('100.100.100.200')).toContain('metadata');
    expect(wide.checkAddress('169.254.169.254')).toContain('metadata');
    expect(wide.checkAddress('fd00:ec2::254')).toContain('metadata');
    const exact = policy({ allow: ['169.254.169.254/32'] });
    expect(exact.checkAddress('169.254.169.254')).toBeNull();
    expect(exact.checkAddress('::ffff:169.254.169.254')).toBeNull();
    expect(exact.checkAddress('169.254.169.253')).toContain('link-local');
  });

  it('fails fast on entries that are neither a CIDR, an IP address nor a host name', () => {
    for (const entry of [
      '10.0.0.0/33',
      '::1/129',
      '*.internal',
      '127.1',
      '0x7f.1',
      'hooks.internal/24',
      'two words',
      'http://x.test',
    ]) {
      expect(() => policy({ allow: [entry] })).toThrow(WebhooksConfigError);
    }
    expect(() => policy({ allow: ['hooks.internal', 'Partner-API.example.', '10.0.0.0/8', '::1/128'] })).not.toThrow();
  });
});

describe('NetworkPolicy: https-only', () => {
  it('refuses http:// URLs, whatever their host', () => {
    const p = policy({ httpsOnly: true, allow: ['127.0.0.1/32'] });
    expect(p.checkUrl('http://hooks.example.com/')).toContain('httpsOnly');
    expect(p.checkUrl('http://127.0.0.1:3000/')).toContain('httpsOnly');
    expect(p.checkUrl('https://hooks.example.com/')).toBeNull();
    expect(p.checkUrl('https://127.0.0.1:3000/')).toBeNull();
  });
});

describe('NetworkPolicy: connect-time lookup', () => {
  const dns = fakeDns({
    'public.test': ['93.184.215.14', '2606:2800:21f:cb07:6820:80da:af6b:8b2c'],
    'mixed.test': ['93.184.215.14', '10.0.0.7'],
    'mixed-first.test': ['192.168.0.9', '93.184.215.14'],
    'mixed-v6.test': ['93.184.215.14', 'fd00::7'],
    'metadata.test': ['169.254.169.254'],
    'hooks.internal': ['10.1.2.3'],
    'empty.test': [],
  });

  it('answers every address of a public host, in the shape asked for', async () => {
    const p = policy({}, dns);
    expect(await lookup(p, 'public.test', { all: true })).toEqual([
      { address: '93.184.215.14', family: 4 },
      { address: '2606:2800:21f:cb07:6820:80da:af6b:8b2c', family: 6 },
    ]);
    expect(await lookup(p, 'public.test', {})).toBe('93.184.215.14');
    expect(await lookup(p, 'public.test', { all: true, family: 6 })).toEqual([
      { address: '2606:2800:21f:cb07:6820:80da:af6b:8b2c', family: 6 },
    ]);
    expect(await lookup(p, 'public.test', { family: 'IPv6' })).toBe('2606:2800:21f:cb07:6820:80da:af6b:8b2c');
  });

  it.each([
    ['mixed.test', '10.0.0.7', 'private'],
    ['mixed-first.test', '192.168.0.9', 'private'],
    ['mixed-v6.test', 'fd00::7', 'unique-local'],
    ['metadata.test', '169.254.169.254', 'metadata'],
  ])('refuses %s as a whole because it resolves to %s', async (host, address, reason) => {
    const p = policy({}, dns);
    for (const options of [{ all: true }, {}, { family: 4 }]) {
      const err = await lookup(p, host, options).then(
        () => null,
        (e: NodeJS.ErrnoException) => e,
      );
      expect(err?.code).toBe(BLOCKED_ERROR_CODE);
      expect(err?.message).toContain(host);
      expect(err?.message).toContain(address);
      expect(err?.message).toContain(reason);
    }
  });

  it('skips the check for an allow-listed host name, and only for it', async () => {
    const p = policy(
      { allow: ['Hooks.Internal.'] },
      fakeDns({ 'hooks.internal': ['10.1.2.3'], 'other.internal': ['10.1.2.3'] }),
    );
    expect(await lookup(p, 'hooks.internal', { all: true })).toEqual([{ address: '10.1.2.3', family: 4 }]);
    expect(await lookup(p, 'HOOKS.internal.', {})).toBe('10.1.2.3');
    await expect(lookup(p, 'other.internal', { all: true })).rejects.toMatchObject({ code: BLOCKED_ERROR_CODE });
  });

  it('passes a host whose every address an allow-listed CIDR matches', async () => {
    const p = policy({ allow: ['10.0.0.0/8'] }, dns);
    expect(await lookup(p, 'hooks.internal', {})).toBe('10.1.2.3');
    await expect(lookup(p, 'mixed-first.test', {})).rejects.toMatchObject({ code: BLOCKED_ERROR_CODE });
  });

  it('passes resolver failures through unchanged, and treats an empty answer as not found', async () => {
    const p = policy({}, dns);
    await expect(lookup(p, 'nowhere.test', { all: true })).rejects.toMatchObject({ code: 'ENOTFOUND' });
    await expect(lookup(p, 'empty.test', { all: true })).rejects.toMatchObject({ code: 'ENOTFOUND' });
    await expect(lookup(p, 'metadata.test', { family: 6 })).rejects.toMatchObject({ code: BLOCKED_ERROR_CODE });
    await expect(lookup(p, 'public.test', { family: 4 })).resolves.toBe('93.184.215.14');
  });
});
