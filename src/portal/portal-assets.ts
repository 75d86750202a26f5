import { join } from 'node:path';
import { packageRoot } from '../utils/package-root.js';

/** The built portal page: `<package root>/dist/portal-ui`, whichever build (or src/ under ts-jest) runs. */
export function portalAssetsDir(): string {
  return join(packageRoot(), 'dist', 'portal-ui');
}
