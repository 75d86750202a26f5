import { describe, expect, it } from '@jest/globals';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { portalAssetsDir } from '../../src/portal/portal-assets.js';

describe('portalAssetsDir', () => {
  it("is the checkout's dist/portal-ui when run from the source folder", () => {
    const checkout = fileURLToPath(new URL('../../', import.meta.url));
    expect(portalAssetsDir()).toBe(join(checkout, 'dist', 'portal-ui'));
  });
});
