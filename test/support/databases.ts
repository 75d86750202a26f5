import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DataSource, type DataSourceOptions } from 'typeorm';

/** Database kinds the integration suites run against. */
export type DbKind = 'sqlite' | 'postgres' | 'sqlite3';

/**
 * Kinds to test, from WEBHOOKS_TEST_DBS (comma-separated); default both SQLite (better-sqlite3)
 * and PostgreSQL. `sqlite3` is the typeorm 0.3 + sqlite3 compatibility run.
 */
export function testDatabases(): DbKind[] {
  const raw = process.env.WEBHOOKS_TEST_DBS ?? 'sqlite,postgres';
  return raw
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean) as DbKind[];
}

export const PG_URL = process.env.WEBHOOKS_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432';

/** A database of the test's own: a fresh SQLite file, or a fresh PostgreSQL database. */
export interface TestDatabase {
  kind: DbKind;
  /** TypeORM options without entities or migrations. */
  options: DataSourceOptions;
  drop(): Promise<void>;
}

/** Creates a database that only this test uses; `drop()` removes it. */
export async function createTestDatabase(kind: DbKind): Promise<TestDatabase> {
  if (kind === 'postgres') {
    const name = `wh_test_${randomBytes(6).toString('hex')}`;
    const admin = new DataSource({ type: 'postgres', url: `${PG_URL}/postgres` });
    await admin.initialize();
    await admin.query(`CREATE DATABASE ${name}`);
    await admin.destroy();
    return {
      kind,
      options: { type: 'postgres', url: `${PG_URL}/${name}` },
      async drop() {
        const a = new DataSource({ type: 'postgres', url: `${PG_URL}/postgres` });
        await a.initialize();
        await a.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
        await a.destroy();
      },
    };
  }
  const dir = mkdtempSync(join(tmpdir(), 'wh-test-'));
  const database = join(dir, 'test.sqlite');
  const options: DataSourceOptions =
    kind === 'sqlite3'
      ? ({ type: 'sqlite', database } as unknown as DataSourceOptions)
      : ({
          type: 'better-sqlite3',
          database,
          prepareDatabase: (db: any) => db.pragma('journal_mode = WAL'),
        } as DataSourceOptions);
  return {
    kind,
    options,
    async drop() {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
