import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** The published signature vectors, kept in the repository so that a clone works anywhere. */
export function loadVectors(): any {
  const path = process.env.WEBHOOKS_VECTORS ?? join(process.cwd(), 'test', 'fixtures', 'vectors', 'signatures.json');
  return JSON.parse(readFileSync(path, 'utf8'));
}
