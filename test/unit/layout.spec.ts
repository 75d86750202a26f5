import { describe, expect, it } from '@jest/globals';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

// The folders of ARCHITECTURE.md: each data path reads down its own folder, and what both share
// lives outside them. These checks keep that true as files are added.
const SRC = fileURLToPath(new URL('../../src/', import.meta.url));

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return entry.name.endsWith('.ts') ? [path] : [];
  });
}

/** The files under src/ that `file` imports (static, type-only, re-exports and dynamic), as paths relative to src/. */
function importsOf(file: string): string[] {
  const { importedFiles } = ts.preProcessFile(readFileSync(file, 'utf8'), true, true);
  return importedFiles
    .map((i) => i.fileName)
    .filter((spec) => spec.startsWith('.'))
    .map((spec) => relative(SRC, resolve(dirname(file), spec)).replace(/\.js$/, '.ts'));
}

/** Every import from one top-level folder of src/ into another, as `from -> to`. */
function crossings(from: string, to: string): string[] {
  return sourceFiles(join(SRC, from)).flatMap((file) =>
    importsOf(file)
      .filter((target) => target.startsWith(`${to}/`))
      .map((target) => `${relative(SRC, file)} -> ${target}`),
  );
}

describe('source layout', () => {
  it('inbound/ imports nothing from outbound/', () => {
    expect(crossings('inbound', 'outbound')).toEqual([]);
  });

  it('outbound/ imports nothing from inbound/', () => {
    expect(crossings('outbound', 'inbound')).toEqual([]);
  });

  it('portal/ imports nothing from inbound/ (it reads and acts through the send side)', () => {
    expect(crossings('portal', 'inbound')).toEqual([]);
  });

  it('declares every error class in errors/', () => {
    const outside = sourceFiles(SRC)
      .filter((file) => !relative(SRC, file).startsWith('errors/'))
      .filter((file) => /\bclass\s+\w+\s+extends\s+Error\b/.test(readFileSync(file, 'utf8')))
      .map((file) => relative(SRC, file));
    expect(outside).toEqual([]);
  });
});
