// Forward-only schema migrations: migrations/NNNN_name.sql, applied in order, each in its own transaction,
// recorded in schema_migrations. Every step takes one transaction-scoped advisory lock first, so processes
// starting together against one PostgreSQL database apply each migration exactly once (the loser waits, then
// sees it applied). A database that has a migration this code does not know is refused: it was written by a
// newer Troupe.
import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Database, Queryable, Transaction } from './database.ts';
import { silentLogger, type StorageLogger } from './logger.ts';

export interface Migration {
  version: number;
  /** e.g. `users` for 0001_users.sql */
  name: string;
  /** e.g. `0001_users` */
  id: string;
  sql: string;
  /** sha256 of the file, recorded so an edited migration (never do that) is noticed. */
  checksum: string;
}

export interface MigrateOptions {
  migrationsDir: string;
  logger?: StorageLogger;
}

export type MigrationState = 'applied' | 'pending' | 'unknown';

export interface MigrationStatus {
  version: number;
  /** `0001_users`; for an unknown migration, as the database recorded it. */
  id: string;
  state: MigrationState;
  appliedAt?: Date;
  /** Applied, but the file now differs from what was applied. */
  changed?: boolean;
}

/** The migrations directory is malformed: a file with a bad name, or two files with one number. */
export class MigrationsDirectoryError extends Error {
  override name = 'MigrationsDirectoryError';
  readonly problems: string[];
  constructor(dir: string, problems: string[]) {
    super(`migrations directory ${dir} is invalid:\n  ${problems.join('\n  ')}`);
    this.problems = problems;
  }
}

/** The database has migrations this code does not know (a newer Troupe wrote it). */
export class UnknownMigrationsError extends Error {
  override name = 'UnknownMigrationsError';
  readonly versions: number[];
  constructor(unknown: { version: number; id: string }[]) {
    super(
      `the database has ${unknown.length === 1 ? 'a migration' : 'migrations'} this version of Troupe does not know: ` +
        `${unknown.map((m) => m.id).join(', ')}. It was upgraded by a newer Troupe; run that version (or restore ` +
        'a backup taken before the upgrade).',
    );
    this.versions = unknown.map((m) => m.version);
  }
}

/** A migration's SQL failed; `cause` is the database error and `code` its SQLSTATE. Nothing of it was applied. */
export class MigrationFailedError extends Error {
  override name = 'MigrationFailedError';
  readonly migration: string;
  readonly code: string | undefined;
  constructor(migration: string, cause: unknown) {
    super(`migration ${migration} failed: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
    this.migration = migration;
    const code = (cause as { code?: unknown } | null)?.code;
    this.code = typeof code === 'string' ? code : undefined;
  }
}

const FILE_NAME = /^(\d{4})_([a-z0-9]+(?:_[a-z0-9]+)*)\.sql$/;

/** Reads and checks the migrations directory; sorted by version. Hidden files and README.md are ignored. */
export async function loadMigrations(migrationsDir: string): Promise<Migration[]> {
  const entries = await readdir(migrationsDir, { withFileTypes: true });
  const problems: string[] = [];
  const byVersion = new Map<number, { file: string; migration: Migration }[]>();
  for (const entry of entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
    if (entry.name.startsWith('.') || entry.name === 'README.md') continue;
    const match = FILE_NAME.exec(entry.name);
    if (!match || !entry.isFile()) {
      problems.push(`${entry.name}: not a migration (expected NNNN_name.sql, name in lowercase letters, digits and _)`);
      continue;
    }
    const version = Number(match[1]);
    const name = match[2] ?? '';
    if (version === 0) {
      problems.push(`${entry.name}: numbering starts at 0001`);
      continue;
    }
    const sql = await readFile(path.join(migrationsDir, entry.name), 'utf8');
    const checksum = createHash('sha256').update(sql).digest('hex');
    const same = byVersion.get(version) ?? [];
    same.push({ file: entry.name, migration: { version, name, id: `${match[1]}_${name}`, sql, checksum } });
    byVersion.set(version, same);
  }
  const migrations: Migration[] = [];
  for (const [version, same] of byVersion) {
    if (same.length > 1) {
      const number = String(version).padStart(4, '0');
      problems.push(`${same.map((s) => s.file).join(', ')}: number ${number} is used more than once`);
    } else if (same[0]) {
      migrations.push(same[0].migration);
    }
  }
  if (problems.length > 0) throw new MigrationsDirectoryError(migrationsDir, problems);
  return migrations.sort((a, b) => a.version - b.version);
}

// Arbitrary, fixed: the advisory lock every migration step holds (one per database).
const MIGRATION_LOCK_KEY = 7_262_837_100_001;

const CREATE_TABLE = `
  CREATE TABLE IF NOT EXISTS schema_migrations (
    version integer PRIMARY KEY,
    name text NOT NULL,
    checksum text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
  )`;

interface AppliedRow {
  version: number;
  name: string;
  checksum: string;
  applied_at: Date;
}

async function lockAndReadApplied(tx: Transaction): Promise<AppliedRow[]> {
  await tx.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK_KEY]);
  await tx.exec(CREATE_TABLE);
  const { rows } = await tx.query<AppliedRow>(
    'SELECT version, name, checksum, applied_at FROM schema_migrations ORDER BY version',
  );
  return rows;
}

function idOf(version: number, name: string): string {
  return `${String(version).padStart(4, '0')}_${name}`;
}

/**
 * Applies every pending migration, in order, each in its own transaction. Refuses (UnknownMigrationsError)
 * a database with a migration not in migrationsDir. Resolves to the ids this call applied (`0001_users`...).
 */
export async function migrate(db: Database, options: MigrateOptions): Promise<{ applied: string[] }> {
  const logger = options.logger ?? silentLogger;
  const migrations = await loadMigrations(options.migrationsDir);
  const known = new Map(migrations.map((m) => [m.version, m]));

  const alreadyApplied = await db.transaction(lockAndReadApplied);
  const unknown = alreadyApplied.filter((row) => !known.has(row.version));
  if (unknown.length > 0) throw new UnknownMigrationsError(unknown.map((r) => ({ version: r.version, id: idOf(r.version, r.name) })));
  for (const row of alreadyApplied) {
    const m = known.get(row.version);
    if (m && m.checksum !== row.checksum) {
      logger.warn({ migration: m.id }, 'an applied migration file has been edited since it was applied');
    }
  }

  const applied: string[] = [];
  const latest = alreadyApplied.at(-1)?.version ?? 0;
  for (const m of migrations) {
    if (alreadyApplied.some((row) => row.version === m.version)) continue;
    const didApply = await db.transaction(async (tx) => {
      const rows = await lockAndReadApplied(tx);
      if (rows.some((row) => row.version === m.version)) return false; // another process got here first
      try {
        await tx.exec(m.sql);
      } catch (err) {
        throw new MigrationFailedError(m.id, err);
      }
      await tx.query('INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)', [
        m.version,
        m.name,
        m.checksum,
      ]);
      return true;
    });
    if (didApply) {
      if (m.version < latest) logger.warn({ migration: m.id }, 'applied a migration numbered below ones already applied');
      logger.info({ migration: m.id }, 'migration applied');
      applied.push(m.id);
    }
  }
  return { applied };
}

/** Every migration known to the code or recorded in the database, by version. Changes nothing. */
export async function migrationStatus(db: Queryable, options: { migrationsDir: string }): Promise<MigrationStatus[]> {
  const migrations = await loadMigrations(options.migrationsDir);
  const { rows: exists } = await db.query<{ present: boolean }>(
    `SELECT to_regclass('schema_migrations') IS NOT NULL AS present`,
  );
  const appliedRows = exists[0]?.present
    ? (await db.query<AppliedRow>('SELECT version, name, checksum, applied_at FROM schema_migrations')).rows
    : [];
  const applied = new Map(appliedRows.map((r) => [r.version, r]));
  const status: MigrationStatus[] = migrations.map((m) => {
    const row = applied.get(m.version);
    return row
      ? { version: m.version, id: m.id, state: 'applied', appliedAt: row.applied_at, changed: row.checksum !== m.checksum }
      : { version: m.version, id: m.id, state: 'pending' };
  });
  for (const row of appliedRows) {
    if (!migrations.some((m) => m.version === row.version)) {
      status.push({ version: row.version, id: idOf(row.version, row.name), state: 'unknown', appliedAt: row.applied_at });
    }
  }
  return status.sort((a, b) => a.version - b.version);
}
