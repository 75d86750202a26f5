import { promises as dns, type LookupAddress, type LookupOptions } from 'node:dns';
import { isIP, type LookupFunction } from 'node:net';
import ipaddr from 'ipaddr.js';
import { WebhooksConfigError } from '../errors/webhooks-config.error.js';
import type { NetworkPolicyOptions } from '../interfaces/webhooks-options.interface.js';
import { messages } from '../webhooks.messages.js';

type Address = ipaddr.IPv4 | ipaddr.IPv6;

/** `code` of the error the policy's `lookup` fails with; the HTTP client maps it to `'blocked'`. */
export const BLOCKED_ERROR_CODE = 'EWEBHOOKBLOCKED';

/** Injection token of an optional {@link ResolveAll} that replaces `dns.lookup` (custom DNS, tests). */
export const WEBHOOKS_DNS_RESOLVER = Symbol('WEBHOOKS_DNS_RESOLVER');

/** Resolves a host name to every address it has (A and AAAA), like `dns.lookup` with `all: true`. */
export type ResolveAll = (hostname: string) => Promise<LookupAddress[]>;

const systemResolver: ResolveAll = (hostname) => dns.lookup(hostname, { all: true });

// Exact addresses of instance-metadata services. Most sit in ranges refused anyway; they are
// named so the log says why, and only an allow-list entry for the single address opens them.
const METADATA = new Set(
  [
    '169.254.169.254',
    '169.254.170.2',
    '169.254.170.23',
    'fd00:ec2::254',
    'fd00:ec2::23', // AWS, GCP, Azure, ECS, EKS
    '100.100.100.200',
    '192.0.0.192',
    '168.63.129.16', // Alibaba, Oracle, Azure WireServer
  ].map((ip) => ipaddr.parse(ip).toString()),
);

// Not globally reachable (IANA special-purpose registries), or not a place a webhook belongs.
const IPV4_REFUSED = table([
  ['0.0.0.0/8', 'unspecified'],
  ['10.0.0.0/8', 'private'],
  ['100.64.0.0/10', 'CGNAT'],
  ['127.0.0.0/8', 'loopback'],
  ['169.254.0.0/16', 'link-local'],
  ['172.16.0.0/12', 'private'],
  ['192.0.0.0/24', 'IETF protocol assignments'],
  ['192.0.2.0/24', 'documentation'],
  ['192.88.99.0/24', '6to4 relay anycast'],
  ['192.168.0.0/16', 'private'],
  ['198.18.0.0/15', 'benchmarking'],
  ['198.51.100.0/24', 'documentation'],
  ['203.0.113.0/24', 'documentation'],
  ['224.0.0.0/4', 'multicast'],
  ['255.255.255.255/32', 'broadcast'],
  ['240.0.0.0/4', 'reserved'],
]);
// IPv6 forms that embed an IPv4 address are decoded first (see embeddedIPv4); the rest is
// refused here, and anything outside global unicast 2000::/3 after that.
const IPV6_REFUSED = table([
  ['::/128', 'unspecified'],
  ['::1/128', 'loopback'],
  ['::/96', 'IPv4-compatible (deprecated)'],
  ['64:ff9b:1::/48', 'local-use NAT64'],
  ['2001::/32', 'Teredo tunnel'],
  ['2001:2::/48', 'benchmarking'],
  ['2001:db8::/32', 'documentation'],
  ['2001:10::/28', 'ORCHID'],
  ['2001:20::/28', 'ORCHIDv2'],
  ['3fff::/20', 'documentation'],
  ['fc00::/7', 'unique-local'],
  ['fe80::/10', 'link-local'],
  ['fec0::/10', 'site-local (deprecated)'],
  ['ff00::/8', 'multicast'],
]);
const GLOBAL_UNICAST = ipaddr.parseCIDR('2000::/3');

/**
 * The outbound network policy: which URLs and addresses the delivery client may connect to.
 * Literal IPs are checked by {@link checkUrl} before a request; host names at connect time by
 * {@link lookup}, on every address they resolve to, so DNS rebinding cannot slip past.
 */
export class NetworkPolicy {
  private readonly cidrs: [Address, number][] = [];
  private readonly hosts = new Set<string>();

  constructor(
    private readonly options: Required<NetworkPolicyOptions>,
    private readonly resolve: ResolveAll = systemResolver,
  ) {
    for (const entry of options.allow) this.addAllowed(entry);
  }

  /** Why `ip` may not be connected to, or null when it may. Accepts brackets and legacy IPv4 forms. */
  checkAddress(ip: string): string | null {
    const text = ip.replace(/^\[(.*)\]$/, '$1');
    const why = this.refused(text);
    return why && messages.addressRefused(text, why);
  }

  /** Why `url` may not be requested (protocol, https-only, literal IP host), or null when it may. */
  checkUrl(url: string | URL): string | null {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      return 'the URL is not valid';
    }
    if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') return `${parsed.protocol} URLs are refused`;
    if (this.options.httpsOnly && parsed.protocol !== 'https:')
      return 'http:// URLs are refused (outbound.network.httpsOnly)';
    // URL parsing has already turned 2130706433, 0x7f.1, 127.1 ... into dotted quads.
    const host = parsed.hostname.replace(/^\[(.*)\]$/, '$1');
    return isIP(host) ? this.checkAddress(host) : null;
  }

  /**
   * A `net` lookup for undici's `Agent({ connect: { lookup } })`: resolves every address of the
   * host and fails with {@link BLOCKED_ERROR_CODE} if any one is refused (a mixed public and
   * private answer is refused whole), unless the host name itself is allow-listed.
   */
  readonly lookup: LookupFunction = (hostname, options: LookupOptions, callback) => {
    this.resolveChecked(hostname).then(
      (all) => {
        const family = options.family === 'IPv4' ? 4 : options.family === 'IPv6' ? 6 : options.family;
        const wanted = family ? all.filter((a) => a.family === family) : all;
        if (wanted.length === 0) return callback(errorWith('ENOTFOUND', `no address for ${hostname}`), '');
        if (options.all) return callback(null, wanted);
        callback(null, wanted[0].address, wanted[0].family);
      },
      (err: NodeJS.ErrnoException) => callback(err, ''),
    );
  };

  private async resolveChecked(hostname: string): Promise<LookupAddress[]> {
    const all = await this.resolve(hostname);
    if (this.hosts.has(normaliseHost(hostname))) return all;
    for (const { address } of all) {
      const why = this.refused(address);
      if (why) throw errorWith(BLOCKED_ERROR_CODE, messages.hostRefused(hostname, address, why));
    }
    return all;
  }

  /** The refused range holding `ip` when the allow-list does not open it, else null. */
  private refused(ip: string): string | null {
    const addr = ipaddr.isValid(ip) ? ipaddr.parse(ip) : null;
    if (!addr) return 'not an IP address';
    const why = refusal(addr);
    if (why === null) return null;
    const v4 = embeddedIPv4(addr)?.ip;
    const candidates = v4 ? [addr, v4] : [addr];
    // A metadata address needs its own /32 (/128) entry: opening 100.64.0.0/10 for a VPN must
    // not open 100.100.100.200 with it.
    const exact = candidates.some((a) => METADATA.has(a.toString()));
    const allowed = this.cidrs.some(
      ([net, bits]) =>
        (!exact || bits === (net.kind() === 'ipv4' ? 32 : 128)) &&
        candidates.some((a) => a.kind() === net.kind() && a.match(net, bits)),
    );
    return allowed ? null : why;
  }

  private addAllowed(entry: string): void {
    const [ip, bits] = entry.split('/');
    if (isIP(ip)) {
      const single = ipaddr.parse(ip).kind() === 'ipv4' ? 32 : 128;
      if (bits !== undefined && !ipaddr.isValidCIDR(entry)) invalidEntry(entry);
      this.cidrs.push(bits === undefined ? [ipaddr.parse(ip), single] : ipaddr.parseCIDR(entry));
      return;
    }
    const host = normaliseHost(entry);
    // A numeric last label makes URL parsing read the host as an IPv4 address, never a name.
    if (bits !== undefined || !/^[a-z0-9_-]+(\.[a-z0-9_-]+)*$/.test(host) || /(^|\.)(0x[0-9a-f]*|\d+)$/.test(host))
      invalidEntry(entry);
    this.hosts.add(host);
  }
}

/** The label and range of the first refused range that holds `addr`, or null. */
function refusal(addr: Address): string | null {
  if (METADATA.has(addr.toString())) return 'a cloud metadata address';
  if (addr.kind() === 'ipv4') return rangeOf(addr, IPV4_REFUSED);
  const embedded = embeddedIPv4(addr);
  if (embedded) {
    const why = refusal(embedded.ip);
    return why && `${embedded.form} form of ${embedded.ip}, ${why}`;
  }
  return rangeOf(addr, IPV6_REFUSED) ?? (addr.match(GLOBAL_UNICAST) ? null : 'outside global unicast 2000::/3');
}

/** The IPv4 address carried by an IPv4-mapped, IPv4-translated, NAT64 or 6to4 address. */
function embeddedIPv4(addr: Address): { ip: ipaddr.IPv4; form: string } | null {
  if (addr.kind() !== 'ipv6') return null;
  const p = (addr as ipaddr.IPv6).parts;
  const v4 = (hi: number, lo: number) => new ipaddr.IPv4([hi >> 8, hi & 0xff, lo >> 8, lo & 0xff]);
  const zeros = (n: number) => p.slice(0, n).every((x) => x === 0);
  if (zeros(5) && p[5] === 0xffff) return { ip: v4(p[6], p[7]), form: 'IPv4-mapped' };
  if (zeros(4) && p[4] === 0xffff && p[5] === 0) return { ip: v4(p[6], p[7]), form: 'IPv4-translated' };
  if (p[0] === 0x64 && p[1] === 0xff9b && p.slice(2, 6).every((x) => x === 0))
    return { ip: v4(p[6], p[7]), form: 'NAT64' };
  if (p[0] === 0x2002) return { ip: v4(p[1], p[2]), form: '6to4' };
  return null;
}

function rangeOf(addr: Address, ranges: [Address, number, string][]): string | null {
  const hit = ranges.find(([net, bits]) => addr.match(net, bits));
  return hit ? `${hit[2]} range ${hit[0]}/${hit[1]}` : null;
}

function table(rows: [string, string][]): [Address, number, string][] {
  return rows.map(([cidr, label]) => [...ipaddr.parseCIDR(cidr), label]);
}

function normaliseHost(host: string): string {
  return host.toLowerCase().replace(/\.$/, '');
}

function errorWith(code: string, message: string): NodeJS.ErrnoException {
  return Object.assign(new Error(message), { code });
}

function invalidEntry(entry: string): never {
  throw new WebhooksConfigError(
    messages.invalidOption(
      'outbound.network.allow',
      'a list of CIDRs (10.0.0.0/8, ::1/128), IP addresses or exact host names',
      entry,
    ),
  );
}
