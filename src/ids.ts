import { randomBytes } from 'node:crypto';

const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

/**
 * A prefixed, time-sortable id (`msg_01JD…`): 10 Crockford base32 characters of epoch ms, then
 * 16 random ones (80 bits). Sorting ids sorts by creation, which keyset pagination relies on.
 */
export function newId(prefix: 'ep' | 'msg' | 'dlv' | 'atm' | 'in', now = Date.now()): string {
  let time = '';
  for (let t = now, i = 0; i < 10; i++, t = Math.floor(t / 32)) time = ALPHABET[t % 32] + time;
  // 80 random bits → 16 base32 characters, 5 bits each (10 bytes = two runs of 5 bytes = 8 chars).
  const rand = randomBytes(10);
  let tail = '';
  for (let half = 0; half < 10; half += 5) {
    let hi = (rand[half] << 12) | (rand[half + 1] << 4) | (rand[half + 2] >> 4); // 20 bits
    let lo = ((rand[half + 2] & 15) << 16) | (rand[half + 3] << 8) | rand[half + 4]; // 20 bits
    let chunk = '';
    for (let i = 0; i < 4; i++, lo >>= 5) chunk = ALPHABET[lo & 31] + chunk;
    for (let i = 0; i < 4; i++, hi >>= 5) chunk = ALPHABET[hi & 31] + chunk;
    tail += chunk;
  }
  return `${prefix}_${time}${tail}`;
}
