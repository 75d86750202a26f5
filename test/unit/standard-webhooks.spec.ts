import { describe, expect, it } from '@jest/globals';
import {
  generateSecret,
  secretKey,
  signStandard,
  verifyStandardSignature,
} from '../../src/signing/standard-webhooks.js';
import { constantTimeEqual } from '../../src/signing/constant-time.js';
import { loadVectors } from '../support/vectors.js';

const vectors = loadVectors();

describe('Standard Webhooks signing', () => {
  it.each(vectors['standard-webhooks'] as any[])('signs the published vector ($source)', (v) => {
    expect(signStandard(v.secret, v.id, v.timestamp, v.payload)).toBe(v.signature);
    expect(verifyStandardSignature(v.signature, [v.secret], v.id, v.timestamp, v.payload)).toBe(true);
  });

  const [first] = vectors['standard-webhooks'];
  const negative = vectors['standard-webhooks-negative'];

  it.each(negative.must_fail as string[])('rejects header %s', (header) => {
    expect(verifyStandardSignature(header, [first.secret], first.id, first.timestamp, first.payload)).toBe(false);
  });

  it.each(negative.must_pass as string[])('accepts a header with several entries', (header) => {
    expect(verifyStandardSignature(header, [first.secret], first.id, first.timestamp, first.payload)).toBe(true);
  });

  it.each(negative.empty_secrets_rejected as string[])('refuses the empty secret %j', (secret) => {
    expect(() => secretKey(secret)).toThrow(/not empty/);
    expect(() => signStandard(secret, first.id, first.timestamp, first.payload)).toThrow();
  });

  it('answers false, not a TypeError, for request values that are missing or repeated', () => {
    const { secret, id, timestamp, payload, signature } = first;
    // What req.headers gives: undefined for a missing header, an array for some repeated ones.
    for (const header of [undefined, null, [signature, signature], 5])
      expect(verifyStandardSignature(header as any, [secret], id, timestamp, payload)).toBe(false);
    for (const badId of [undefined, [id]])
      expect(verifyStandardSignature(signature, [secret], badId as any, timestamp, payload)).toBe(false);
    for (const badTime of [undefined, Number.NaN, String(timestamp)])
      expect(verifyStandardSignature(signature, [secret], id, badTime as any, payload)).toBe(false);
    for (const side of [undefined, null, ['token'], 5]) {
      expect(constantTimeEqual(side as any, 'token')).toBe(false);
      expect(constantTimeEqual('token', side as any)).toBe(false);
    }
    expect(constantTimeEqual(Buffer.from('token'), 'token')).toBe(true);
  });

  it('rejects a tampered payload, id or timestamp', () => {
    const { secret, id, timestamp, payload, signature } = first;
    expect(verifyStandardSignature(signature, [secret], id, timestamp, payload + ' ')).toBe(false);
    expect(verifyStandardSignature(signature, [secret], `${id}x`, timestamp, payload)).toBe(false);
    expect(verifyStandardSignature(signature, [secret], id, timestamp + 1, payload)).toBe(false);
  });

  it('accepts any of several secrets (rotation)', () => {
    const { secret, id, timestamp, payload, signature } = first;
    expect(verifyStandardSignature(signature, [generateSecret(), secret], id, timestamp, payload)).toBe(true);
  });

  it('generates whsec_ secrets of 24 random bytes', () => {
    const a = generateSecret();
    expect(a).toMatch(/^whsec_[A-Za-z0-9+/]{32}$/);
    expect(secretKey(a)).toHaveLength(24);
    expect(generateSecret()).not.toBe(a);
  });
});
