import { describe, expect, it } from '@jest/globals';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { packageRoot, resolveFromPackage } from '../../src/utils/package-root.js';

const REPO = fileURLToPath(new URL('../../', import.meta.url));

// Both builds run the same code; the packed ESM and CommonJS builds are run by .ci/pack-check.
describe('packageRoot', () => {
  it('is the folder of the package.json named nestjs-webhooks, found from the running file', () => {
    expect(join(packageRoot(), '/')).toBe(REPO);
    expect(JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')).name).toBe('nestjs-webhooks');
  });

  it('resolves packages as the module resolves them', () => {
    const driver = resolveFromPackage('better-sqlite3');
    expect(driver.startsWith(join(REPO, 'node_modules', 'better-sqlite3'))).toBe(true);
    expect(existsSync(driver)).toBe(true);
  });
});
