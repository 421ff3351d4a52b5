// Fresh databases for tests: PGlite in memory always, PostgreSQL too when TEST_DATABASE_URL is set (a server
// where that role may CREATE DATABASE; each call gets its own uniquely named database, dropped afterwards).
//
//   test('x', async (t) => { const db = await freshDatabase(t); ... })       // PGlite, migrated, closed after t
//   forEachBackend('users', (backend) => {                                    // 'users [pglite]', 'users [postgres]'
//     test('creates', async (t) => { const db = await backend.fresh(t); ... });
//   });
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { describe } from 'node:test';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import type { Database } from '../../src/storage/database.ts';
import { migrate } from '../../src/storage/migrations.ts';
import { openPglite } from '../../src/storage/pglite.ts';
import { openPostgres } from '../../src/storage/postgres.ts';

export const MIGRATIONS_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'migrations');

export type BackendName = 'pglite' | 'postgres';

export interface TestDatabaseOptions {
  /** Apply migrations/ (default true). false: an empty database. */
  migrate?: boolean;
}

export interface TestDatabase {
  db: Database;
  backend: BackendName;
  /** PostgreSQL only: this database's URL, to open more connections to it (close them before `close`). */
  url?: string;
  /** Closes `db` and, on PostgreSQL, drops the database. */
  close(): Promise<void>;
}

/** Anything with node:test's `after` (a TestContext, or a SuiteContext-like object). */
export interface AfterHook {
  after(fn: () => Promise<void>): void;
}

export interface TestBackend {
  name: BackendName;
  /** A fresh database closed (and dropped) when the test ends. */
  fresh(t: AfterHook, options?: TestDatabaseOptions): Promise<Database>;
  /** A fresh database the caller closes. */
  create(options?: TestDatabaseOptions): Promise<TestDatabase>;
}

/** 'pglite', plus 'postgres' when TEST_DATABASE_URL is set. */
export function testBackends(): BackendName[] {
  return process.env['TEST_DATABASE_URL'] ? ['pglite', 'postgres'] : ['pglite'];
}

export function createTestDatabase(backend: BackendName = 'pglite', options: TestDatabaseOptions = {}): Promise<TestDatabase> {
  return backend === 'pglite' ? createPglite(options) : createPostgres(options);
}

export async function freshDatabase(
  t: AfterHook,
  backend: BackendName = 'pglite',
  options: TestDatabaseOptions = {},
): Promise<Database> {
  const test = await createTestDatabase(backend, options);
  t.after(() => test.close());
  return test.db;
}

export function backend(name: BackendName): TestBackend {
  return {
    name,
    fresh: (t, options) => freshDatabase(t, name, options),
    create: (options) => createTestDatabase(name, options),
  };
}

/**
 * Registers `describe('<name> [<backend>]', ...)` for each available backend. Without TEST_DATABASE_URL no
 * PostgreSQL suite is registered at all (rather than a skipped one).
 */
export function forEachBackend(name: string, fn: (backend: TestBackend) => void): void {
  for (const b of testBackends()) describe(`${name} [${b}]`, () => fn(backend(b)));
}

// PGlite: creating a database takes seconds, loading a tarball well under one, so each process builds a
// template once (migrated or empty) and every fresh database starts from a copy of it.
const pgliteTemplates = new Map<boolean, Promise<Blob>>();

function pgliteTemplate(migrated: boolean): Promise<Blob> {
  let template = pgliteTemplates.get(migrated);
  if (!template) {
    template = (async () => {
      const db = await openPglite();
      try {
        if (migrated) await migrate(db, { migrationsDir: MIGRATIONS_DIR });
        return await db.dumpDataDir();
      } finally {
        await db.close();
      }
    })();
    pgliteTemplates.set(migrated, template);
  }
  return template;
}

async function createPglite(options: TestDatabaseOptions): Promise<TestDatabase> {
  const db = await openPglite({ loadDataDir: await pgliteTemplate(options.migrate ?? true) });
  return { db, backend: 'pglite', close: () => db.close() };
}

// PostgreSQL: one small admin pool per process creates and drops the test databases.
let adminPool: pg.Pool | undefined;
let counter = 0;

function admin(): { pool: pg.Pool; url: string } {
  const url = process.env['TEST_DATABASE_URL'];
  if (!url) throw new Error('TEST_DATABASE_URL is not set: no PostgreSQL server to test against');
  adminPool ??= new pg.Pool({ connectionString: url, max: 2, allowExitOnIdle: true });
  return { pool: adminPool, url };
}

async function createPostgres(options: TestDatabaseOptions): Promise<TestDatabase> {
  const { pool, url: adminUrl } = admin();
  const name = `troupe_test_${process.pid}_${++counter}_${randomBytes(4).toString('hex')}`;
  await pool.query(`CREATE DATABASE "${name}"`);
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  const drop = async (): Promise<void> => {
    await pool.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
  };
  let db: Database;
  try {
    db = await openPostgres({ url: url.toString(), max: 4, allowExitOnIdle: true });
  } catch (err) {
    await drop();
    throw err;
  }
  try {
    if (options.migrate ?? true) await migrate(db, { migrationsDir: MIGRATIONS_DIR });
  } catch (err) {
    await db.close();
    await drop();
    throw err;
  }
  return {
    db,
    backend: 'postgres',
    url: url.toString(),
    close: async () => {
      try {
        await db.close();
      } finally {
        await drop();
      }
    },
  };
}
