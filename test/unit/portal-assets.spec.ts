import { describe, expect, it } from '@jest/globals';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { portalAssetsDir } from '../../src/portal/portal-assets.js';

describe('portalAssetsDir', () => {
  it("walks up to the folder whose package.json is nestjs-webhooks', past other packages", () => {
    const root = mkdtempSync(join(tmpdir(), 'assets-dir-'));
    try {
      writeFileSync(join(root, 'package.json'), JSON.stringify({ name: 'nestjs-webhooks' }));
      const nested = join(root, 'dist', 'portal');
      mkdirSync(join(nested, 'inner'), { recursive: true });
      writeFileSync(join(nested, 'package.json'), JSON.stringify({ name: 'something-else' }));
      writeFileSync(join(nested, 'inner', 'package.json'), '{ not json');
      expect(portalAssetsDir(join(nested, 'inner'))).toBe(join(root, 'dist', 'portal-ui'));
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  it('finds this checkout from the source folder', () => {
    const checkout = fileURLToPath(new URL('../../', import.meta.url));
    expect(portalAssetsDir()).toBe(join(checkout, 'dist', 'portal-ui'));
  });
});
