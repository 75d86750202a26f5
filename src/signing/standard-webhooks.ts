import { createHmac, randomBytes } from 'node:crypto';
import { constantTimeEqual } from './constant-time.js';

const PREFIX = 'whsec_';

/**
 * Makes a new endpoint secret: `whsec_` and base64 of 24 random bytes, as Standard Webhooks does.
 * @publicApi
 */
export function generateSecret(): string {
  return PREFIX + randomBytes(24).toString('base64');
}

/**
 * Decodes a `whsec_` secret (the prefix is optional) to its key bytes.
 * Throws on an empty or non-base64 secret: an empty key would make every signature forgeable.
 */
export function secretKey(secret: string): Buffer {
  const body = secret.startsWith(PREFIX) ? secret.slice(PREFIX.length) : secret;
  if (body === '' || !/^[A-Za-z0-9+/]+={0,2}$/.test(body)) {
    throw new Error('Standard Webhooks secret must be base64 (optionally prefixed "whsec_") and not empty.');
  }
  return Buffer.from(body, 'base64');
}

/**
 * The Standard Webhooks `v1,<base64>` signature of `${id}.${timestamp}.${payload}`.
 * @publicApi
 */
export function signStandard(secret: string | Buffer, id: string, timestamp: number, payload: string | Buffer): string {
  const key = typeof secret === 'string' ? secretKey(secret) : secret;
  const mac = createHmac('sha256', key).update(`${id}.${timestamp}.`).update(payload).digest('base64');
  return `v1,${mac}`;
}

/**
 * True when any `v1` entry of a space-separated `webhook-signature` header matches any secret.
 * Every entry is compared in constant time; other versions are ignored. A header, id or
 * timestamp the request did not carry as such (`undefined` when missing, an array when repeated,
 * a timestamp that is not a finite number) is not verified: false, not an error.
 * @publicApi
 */
export function verifyStandardSignature(
  header: string,
  secrets: (string | Buffer)[],
  id: string,
  timestamp: number,
  payload: string | Buffer,
): boolean {
  if (typeof header !== 'string' || typeof id !== 'string' || !Number.isFinite(timestamp)) return false;
  const given = header
    .split(' ')
    .filter((entry) => entry.startsWith('v1,') && entry.length > 3)
    .map((entry) => entry.slice(3));
  if (given.length === 0) return false;
  let match = false;
  for (const secret of secrets) {
    const expected = signStandard(secret, id, timestamp, payload).slice(3);
    for (const sig of given) match = constantTimeEqual(sig, expected) || match;
  }
  return match;
}
