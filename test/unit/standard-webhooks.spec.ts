import { describe, expect, it } from '@jest/globals';
import {
  generateSecret,
  secretKey,
  signStandard,
  verifyStandardSignature,
} from '../../src/signing/standard-webhooks.js';
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
