import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The built portal page: `<package root>/dist/portal-ui`, the package root being the first folder
 * above this file whose package.json is named `nestjs-webhooks` (the same from src/ under ts-jest
 * and from dist/ once published).
 */
export function portalAssetsDir(from = dirname(fileURLToPath(import.meta.url))): string {
  for (let dir = from; ; dir = dirname(dir)) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest)) {
      try {
        if ((JSON.parse(readFileSync(manifest, 'utf8')) as { name?: string }).name === 'nestjs-webhooks')
          return join(dir, 'dist', 'portal-ui');
      } catch {
        // An unreadable package.json is not the package's own: keep walking up.
      }
    }
    if (dirname(dir) === dir) return join(from, 'portal-ui');
  }
}
