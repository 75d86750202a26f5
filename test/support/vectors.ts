import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** The published signature vectors in ../shared/vectors/signatures.json (beside the project). */
export function loadVectors(): any {
  const path = process.env.WEBHOOKS_VECTORS ?? join(process.cwd(), '..', 'shared', 'vectors', 'signatures.json');
  return JSON.parse(readFileSync(path, 'utf8'));
}
