import { randomFillSync } from 'node:crypto';
import { WebhookNotFoundError } from '../errors/webhook-not-found.error.js';
import { messages } from '../webhooks.messages.js';
import { unstorable } from './sql.js';

const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
const TWO_40 = 2 ** 40;

// Random bytes drawn 4 KiB at a time: one system call per ~400 ids instead of one per id.
const pool = Buffer.alloc(4096);
let used = pool.length;

// The last id's time and random tail (two 40-bit halves), for ids made in the same millisecond.
let lastTime = -1;
let lastHi = 0;
let lastLo = 0;

function random40(): number {
  if (used + 5 > pool.length) {
    randomFillSync(pool);
    used = 0;
  }
  const b = pool;
  const n = (b[used] * 2 ** 32 + ((b[used + 1] << 24) | (b[used + 2] << 16) | (b[used + 3] << 8) | b[used + 4])) >>> 0;
  used += 5;
  return n;
}

function base32(n: number, chars: number): string {
  let s = '';
  for (let i = 0; i < chars; i++, n = Math.floor(n / 32)) s = ALPHABET[n % 32] + s;
  return s;
}

/** What an id starts with, before `_`. */
export type IdPrefix = 'ep' | 'msg' | 'dlv' | 'atm' | 'in' | 'ps';

/** The start of an id made at `now`: prefix, `_` and the 10 time characters. */
export function idTimePrefix(prefix: IdPrefix, now: number): string {
  return `${prefix}_${base32(now, 10)}`;
}

/**
 * A prefixed, time-sortable id (`msg_01JD…`): 10 Crockford base32 characters of epoch ms, then
 * 16 random ones (80 bits). Sorting ids sorts by creation, which keyset pagination relies on:
 * within one millisecond the tail of the previous id grows by a random step instead of being
 * drawn afresh, so this process's ids of one millisecond sort in the order they were made.
 */
export function newId(prefix: IdPrefix, now = Date.now()): string {
  let hi: number;
  let lo: number;
  if (now === lastTime) {
    // A step of 1 to 2^16 keeps the next id hard to guess; a carry goes to the high half.
    lo = lastLo + 1 + (random40() % 65_536);
    hi = lastHi;
    if (lo >= TWO_40) {
      lo -= TWO_40;
      hi++;
    }
    if (hi >= TWO_40) hi = random40(); // 2^80 exhausted: astronomically rare, order given up.
  } else {
    hi = random40();
    lo = random40();
  }
  lastTime = now;
  lastHi = hi;
  lastLo = lo;
  return `${idTimePrefix(prefix, now)}${base32(hi, 8)}${base32(lo, 8)}`;
}

/** Whether `value` is an id as {@link newId} makes them with `prefix`: the prefix, `_`, 26 base32 characters. */
export function isIdOf(prefix: IdPrefix, value: unknown): value is string {
  return typeof value === 'string' && ID_PATTERNS[prefix].test(value);
}

const ID_PATTERNS = Object.fromEntries(
  (['ep', 'msg', 'dlv', 'atm', 'in', 'ps'] satisfies IdPrefix[]).map((p) => [
    p,
    new RegExp(`^${p}_[${ALPHABET}]{26}$`),
  ]),
) as Record<IdPrefix, RegExp>;

/**
 * Refuses, as unknown, an id no row can have before it reaches a query: not a string, or holding
 * U+0000 or a lone surrogate (which PostgreSQL would refuse, or match as U+FFFD, rather than find nothing).
 */
export function knownId(kind: string, id: unknown): asserts id is string {
  if (typeof id !== 'string' || unstorable(id)) throw new WebhookNotFoundError(messages.notFound(kind, id));
}
