// Writes the README's quick-start blocks into an app, exactly as written: each ```ts block right
// after a `<!-- pack-check: <path> -->` line becomes <app>/<path>. Usage: node readme-snippets.mjs README.md <app>
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

const [readme, app] = process.argv.slice(2);
const text = readFileSync(readme, 'utf8');
const blocks = [...text.matchAll(/<!-- pack-check: (\S+) -->\n```ts\n([\s\S]*?)\n```/g)];
const markers = text.match(/<!-- pack-check: /g)?.length ?? 0;
if (blocks.length === 0 || blocks.length !== markers) {
  console.error(`${readme}: ${markers} pack-check markers, ${blocks.length} followed by a ts block`);
  process.exit(1);
}
for (const [, path, code] of blocks) {
  mkdirSync(dirname(join(app, path)), { recursive: true });
  writeFileSync(join(app, path), `${code}\n`);
}
console.log(`README snippets written into ${app}: ${blocks.map((b) => b[1]).join(', ')}`);
