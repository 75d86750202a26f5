import { createHash, timingSafeEqual } from 'node:crypto';

/**
 * Compares two strings in time independent of where they differ. Both sides are hashed first so
 * that unequal lengths neither throw nor leak through an early return. Anything but a string or
 * a Buffer on either side (a missing header is `undefined`, a repeated one an array) is unequal.
 * @publicApi
 */
export function constantTimeEqual(a: string | Buffer, b: string | Buffer): boolean {
  if (!isBytes(a) || !isBytes(b)) return false;
  const ha = createHash('sha256').update(a).digest();
  const hb = createHash('sha256').update(b).digest();
  return timingSafeEqual(ha, hb);
}

function isBytes(v: unknown): v is string | Buffer {
  return typeof v === 'string' || Buffer.isBuffer(v);
}
