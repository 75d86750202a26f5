import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const PACKAGE_NAME = 'nestjs-webhooks';

/**
 * The file this function is compiled into, read from the call stack: ESM's module URL exists only in
 * the ESM build and `__filename` only in the CommonJS one, and this works in both (and under ts-jest,
 * where it is the `.ts` source).
 */
function ownFile(): string {
  const original = Error.prepareStackTrace;
  try {
    Error.prepareStackTrace = (_error, frames) => frames;
    const frames = new Error().stack as unknown as NodeJS.CallSite[];
    const file = frames[0]?.getFileName() ?? '';
    return file.startsWith('file:') ? fileURLToPath(file) : file;
  } finally {
    Error.prepareStackTrace = original;
  }
}

let root: string | undefined;

/**
 * The folder of the installed package (the one whose package.json is named `nestjs-webhooks`),
 * whichever build runs: `dist/`, `dist/cjs/` or `src/`. Files shipped beside the code (built
 * assets) and packages resolved as the module would resolve them are found from here.
 */
export function packageRoot(): string {
  if (root) return root;
  for (let dir = dirname(ownFile()); dir !== dirname(dir); dir = dirname(dir)) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest) && JSON.parse(readFileSync(manifest, 'utf8')).name === PACKAGE_NAME) return (root = dir);
  }
  throw new Error(`${PACKAGE_NAME}: no package.json named ${PACKAGE_NAME} above ${ownFile()}`);
}

/** Resolves `specifier` from the package's own folder, as an `import` from its code would. */
export function resolveFromPackage(specifier: string): string {
  return createRequire(join(packageRoot(), 'package.json')).resolve(specifier);
}
