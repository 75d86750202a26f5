// What the tarball holds, unpacked at argv[2]: the files a user needs and nothing else, every
// `exports` target present, source maps whose sources are inlined, and every bare import or require
// of dist/ declared in dependencies or peerDependencies.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { join } from 'node:path';

const root = process.argv[2];
const failures = [];
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const files = readdirSync(root, { recursive: true }).map(String);

const topLevel = new Set(readdirSync(root));
for (const name of topLevel)
  if (!['dist', 'LICENSE', 'README.md', 'package.json'].includes(name))
    failures.push(`unexpected file in the package: ${name}`);
for (const name of ['LICENSE', 'README.md', 'dist/cjs/package.json'])
  if (!existsSync(join(root, name))) failures.push(`missing: ${name}`);
if (JSON.parse(readFileSync(join(root, 'dist/cjs/package.json'), 'utf8')).type !== 'commonjs')
  failures.push('dist/cjs/package.json does not say "type": "commonjs"');

const targets = [pkg.main, pkg.types, ...Object.values(pkg.typesVersions?.['*'] ?? {}).flat()];
const walk = (v) => (typeof v === 'string' ? targets.push(v) : Object.values(v).forEach(walk));
walk(pkg.exports);
for (const target of targets)
  if (!existsSync(join(root, target))) failures.push(`package.json points at a missing ${target}`);

const declared = new Set([...Object.keys(pkg.dependencies ?? {}), ...Object.keys(pkg.peerDependencies ?? {})]);
let maps = 0;
for (const file of files) {
  if (file.endsWith('.js.map')) {
    maps++;
    const map = JSON.parse(readFileSync(join(root, file), 'utf8'));
    if (!map.sourcesContent || map.sourcesContent.length !== map.sources.length || map.sourcesContent.some((s) => !s))
      failures.push(`${file}: sources not inlined`);
  }
  if (!file.endsWith('.js')) continue;
  const text = readFileSync(join(root, file), 'utf8');
  if (file.startsWith('dist/cjs/') && text.includes('import.meta'))
    failures.push(`${file}: import.meta in the CommonJS build`);
  for (const [, , spec] of text.matchAll(/(?:\bfrom\s*|\bimport\(|\brequire\()(["'])([^"'.\s][^"'\s]*)\1\s*[;)]/g)) {
    if (spec.startsWith('node:') || builtinModules.includes(spec)) continue;
    const name = spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0];
    if (!declared.has(name))
      failures.push(`${name} (${file}) is imported but not declared in dependencies or peerDependencies`);
  }
}
if (maps === 0) failures.push('no source maps in dist/');
if (failures.length) {
  for (const f of failures) console.error(`tarball: ${f}`);
  process.exit(1);
}
console.log(
  `tarball: ${files.length} entries, ${targets.length} package.json targets present, ${maps} source maps with inlined sources, every import of dist/ declared`,
);
