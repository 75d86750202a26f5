import { randomBytes } from 'node:crypto';

const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

/**
 * A prefixed, time-sortable id (`msg_01JD…`): 10 Crockford base32 characters of epoch ms, then
 * 16 random ones (80 bits). Sorting ids sorts by creation, which keyset pagination relies on.
 */
export function newId(prefix: 'ep' | 'msg' | 'dlv' | 'atm' | 'in', now = Date.now()): string {
  let time = '';
  for (let t = now, i = 0; i < 10; i++, t = Math.floor(t / 32)) time = ALPHABET[t % 32] + time;
  const rand = randomBytes(10);
  let tail = '';
  // 80 random bits → 16 base32 characters, 5 bits each.
  let acc = 0n;
  for (const byte of rand) acc = (acc << 8n) | BigInt(byte);
  for (let i = 0; i < 16; i++, acc >>= 5n) tail = ALPHABET[Number(acc & 31n)] + tail;
  return `${prefix}_${time}${tail}`;
}
