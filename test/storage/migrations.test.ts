import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  loadMigrations,
  migrate,
  MigrationFailedError,
  MigrationsDirectoryError,
  migrationStatus,
  UnknownMigrationsError,
} from '../../src/storage/migrations.ts';
import { openPostgres } from '../../src/storage/postgres.ts';
import { backend, forEachBackend, MIGRATIONS_DIR, testBackends } from '../helpers/database.ts';

/** A temporary migrations directory holding files (name -> SQL), removed when the test ends. */
async function migrationsDir(t: { after(fn: () => Promise<void>): void }, files: Record<string, string>): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'troupe-migrations-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  for (const [name, sql] of Object.entries(files)) await writeFile(path.join(dir, name), sql);
  return dir;
}

const THREE = {
  '0001_alpha.sql': 'CREATE TABLE alpha (id int PRIMARY KEY);',
  '0002_beta.sql': 'CREATE TABLE beta (id int PRIMARY KEY);\nINSERT INTO beta VALUES (1), (2);',
  '0003_gamma.sql': 'ALTER TABLE alpha ADD COLUMN note text;',
};

forEachBackend('migrations', (b) => {
  test('applies pending migrations in order, records them, and a re-run applies nothing', async (t) => {
    const db = await b.fresh(t, { migrate: false });
    const dir = await migrationsDir(t, THREE);
    assert.deepEqual(await migrate(db, { migrationsDir: dir }), { applied: ['0001_alpha', '0002_beta', '0003_gamma'] });
    assert.deepEqual((await db.query('SELECT id FROM beta ORDER BY id')).rows, [{ id: 1 }, { id: 2 }]);
    await db.query(`INSERT INTO alpha (id, note) VALUES (1, 'x')`);
    const { rows } = await db.query<{ version: number; name: string; applied_at: unknown }>(
      'SELECT version, name, applied_at FROM schema_migrations ORDER BY version',
    );
    assert.deepEqual(
      rows.map((r) => [r.version, r.name]),
      [
        [1, 'alpha'],
        [2, 'beta'],
        [3, 'gamma'],
      ],
    );
    assert.ok(rows.every((r) => r.applied_at instanceof Date));
    assert.deepEqual(await migrate(db, { migrationsDir: dir }), { applied: [] });
    assert.deepEqual((await db.query('SELECT count(*) AS n FROM beta')).rows, [{ n: 2 }], 'not run twice');
  });

  test('a migration added later is applied on the next run, alone', async (t) => {
    const db = await b.fresh(t, { migrate: false });
    const dir = await migrationsDir(t, { '0001_alpha.sql': THREE['0001_alpha.sql'] });
    assert.deepEqual((await migrate(db, { migrationsDir: dir })).applied, ['0001_alpha']);
    await writeFile(path.join(dir, '0002_beta.sql'), THREE['0002_beta.sql']);
    assert.deepEqual((await migrate(db, { migrationsDir: dir })).applied, ['0002_beta']);
  });

  test('a database with a migration this code does not know is refused, naming it', async (t) => {
    const db = await b.fresh(t, { migrate: false });
    const newer = await migrationsDir(t, THREE);
    await migrate(db, { migrationsDir: newer });
    const older = await migrationsDir(t, { '0001_alpha.sql': THREE['0001_alpha.sql'] });
    await assert.rejects(migrate(db, { migrationsDir: older }), (err) => {
      assert.ok(err instanceof UnknownMigrationsError);
      assert.deepEqual(err.versions, [2, 3]);
      assert.match(err.message, /0002_beta, 0003_gamma/);
      assert.match(err.message, /newer Troupe/);
      return true;
    });
    const status = await migrationStatus(db, { migrationsDir: older });
    assert.deepEqual(
      status.map((s) => [s.id, s.state]),
      [
        ['0001_alpha', 'applied'],
        ['0002_beta', 'unknown'],
        ['0003_gamma', 'unknown'],
      ],
    );
  });

  test('a failing migration leaves nothing of itself behind and stops the run', async (t) => {
    const db = await b.fresh(t, { migrate: false });
    const dir = await migrationsDir(t, {
      '0001_alpha.sql': THREE['0001_alpha.sql'],
      '0002_broken.sql': 'CREATE TABLE half (id int);\nCREATE TABLE alpha (id int);',
      '0003_gamma.sql': THREE['0003_gamma.sql'],
    });
    await assert.rejects(migrate(db, { migrationsDir: dir }), (err) => {
      assert.ok(err instanceof MigrationFailedError);
      assert.equal(err.migration, '0002_broken');
      assert.equal(err.code, '42P07', 'duplicate_table, from the database error');
      assert.match(err.message, /0002_broken/);
      return true;
    });
    assert.deepEqual((await db.query(`SELECT to_regclass('half') IS NULL AS absent`)).rows, [{ absent: true }]);
    const status = await migrationStatus(db, { migrationsDir: dir });
    assert.deepEqual(
      status.map((s) => [s.id, s.state]),
      [
        ['0001_alpha', 'applied'],
        ['0002_broken', 'pending'],
        ['0003_gamma', 'pending'],
      ],
    );
  });

  test('status on an empty database lists everything as pending and creates nothing', async (t) => {
    const db = await b.fresh(t, { migrate: false });
    const dir = await migrationsDir(t, THREE);
    const status = await migrationStatus(db, { migrationsDir: dir });
    assert.deepEqual(
      status.map((s) => [s.version, s.state]),
      [
        [1, 'pending'],
        [2, 'pending'],
        [3, 'pending'],
      ],
    );
    assert.deepEqual((await db.query(`SELECT to_regclass('schema_migrations') IS NULL AS absent`)).rows, [
      { absent: true },
    ]);
  });

  test('status notices an applied migration whose file was edited afterwards', async (t) => {
    const db = await b.fresh(t, { migrate: false });
    const dir = await migrationsDir(t, { '0001_alpha.sql': THREE['0001_alpha.sql'] });
    await migrate(db, { migrationsDir: dir });
    assert.equal((await migrationStatus(db, { migrationsDir: dir }))[0]?.changed, false);
    await writeFile(path.join(dir, '0001_alpha.sql'), '-- edited\n' + THREE['0001_alpha.sql']);
    const warnings: unknown[] = [];
    const noop = (): void => undefined;
    const logger = { debug: noop, info: noop, error: noop, warn: (obj: object) => warnings.push(obj) };
    assert.deepEqual((await migrate(db, { migrationsDir: dir, logger })).applied, []);
    assert.deepEqual(warnings, [{ migration: '0001_alpha' }]);
    const [first] = await migrationStatus(db, { migrationsDir: dir });
    assert.equal(first?.state, 'applied');
    assert.equal(first?.changed, true);
  });

  test('two migrate() calls at once both succeed and apply each migration once', async (t) => {
    const db = await b.fresh(t, { migrate: false });
    const dir = await migrationsDir(t, THREE);
    const [x, y] = await Promise.all([migrate(db, { migrationsDir: dir }), migrate(db, { migrationsDir: dir })]);
    assert.deepEqual([...x.applied, ...y.applied].sort(), ['0001_alpha', '0002_beta', '0003_gamma']);
    assert.deepEqual((await db.query('SELECT count(*) AS n FROM schema_migrations')).rows, [{ n: 3 }]);
  });

  test('the project migrations apply and create the users table of 0001', async (t) => {
    const db = await b.fresh(t, { migrate: false });
    const { applied } = await migrate(db, { migrationsDir: MIGRATIONS_DIR });
    assert.equal(applied[0], '0001_users');
    const { rows } = await db.query<{ column_name: string; data_type: string; is_nullable: string }>(
      `SELECT column_name, data_type, is_nullable FROM information_schema.columns
        WHERE table_name = 'users' ORDER BY ordinal_position`,
    );
    // Later migrations may add columns; these are 0001's.
    assert.deepEqual(rows.slice(0, 5), [
      { column_name: 'user_id', data_type: 'text', is_nullable: 'NO' },
      { column_name: 'password_hash', data_type: 'text', is_nullable: 'YES' },
      { column_name: 'admin', data_type: 'boolean', is_nullable: 'NO' },
      { column_name: 'deactivated', data_type: 'boolean', is_nullable: 'NO' },
      { column_name: 'creation_ts', data_type: 'bigint', is_nullable: 'NO' },
    ]);
    const status = await migrationStatus(db, { migrationsDir: MIGRATIONS_DIR });
    assert.ok(status.every((s) => s.state === 'applied'));
  });
});

test('the migrations directory is refused for bad names, duplicate numbers and 0000', async (t) => {
  const dir = await migrationsDir(t, {
    '0001_alpha.sql': 'SELECT 1;',
    '0001_again.sql': 'SELECT 1;',
    '0000_zero.sql': 'SELECT 1;',
    '2_short.sql': 'SELECT 1;',
    '0003_Upper.sql': 'SELECT 1;',
    '0004_no_extension': 'SELECT 1;',
    'notes.txt': 'hello',
    '.hidden': 'ignored',
    'README.md': 'ignored',
  });
  await mkdir(path.join(dir, '0005_dir.sql'));
  await assert.rejects(loadMigrations(dir), (err) => {
    assert.ok(err instanceof MigrationsDirectoryError);
    const named = err.problems.map((p) => p.split(':')[0]).sort();
    assert.deepEqual(named, [
      '0000_zero.sql',
      '0001_again.sql, 0001_alpha.sql',
      '0003_Upper.sql',
      '0004_no_extension',
      '0005_dir.sql',
      '2_short.sql',
      'notes.txt',
    ]);
    assert.match(err.message, /0001_again\.sql, 0001_alpha\.sql: number 0001 is used more than once/);
    return true;
  });
});

test('a valid migrations directory loads sorted by version with checksums', async (t) => {
  const dir = await migrationsDir(t, { '0010_later.sql': 'SELECT 2;', '0002_first.sql': 'SELECT 1;', 'README.md': 'x' });
  const migrations = await loadMigrations(dir);
  assert.deepEqual(
    migrations.map((m) => [m.version, m.name, m.id, m.sql]),
    [
      [2, 'first', '0002_first', 'SELECT 1;'],
      [10, 'later', '0010_later', 'SELECT 2;'],
    ],
  );
  assert.match(migrations[0]?.checksum ?? '', /^[0-9a-f]{64}$/);
});

if (testBackends().includes('postgres')) {
  test('PostgreSQL: two processes migrating one database at once both succeed, each migration applied once', async (t) => {
    const target = await backend('postgres').create({ migrate: false });
    t.after(() => target.close());
    assert.ok(target.url);
    // Many small migrations make the two runs overlap for real.
    const files: Record<string, string> = {};
    for (let i = 1; i <= 30; i++) {
      const v = String(i).padStart(4, '0');
      files[`${v}_step_${i}.sql`] = `CREATE TABLE step_${i} (id int); INSERT INTO step_${i} VALUES (${i});`;
    }
    const dir = await migrationsDir(t, files);
    // Separate pools stand in for separate processes: separate connections, one database.
    const other = await openPostgres({ url: target.url, max: 2, allowExitOnIdle: true });
    t.after(() => other.close());
    const results = await Promise.all([
      migrate(target.db, { migrationsDir: dir }),
      migrate(other, { migrationsDir: dir }),
      migrate(target.db, { migrationsDir: dir }),
    ]);
    const all = results.flatMap((r) => r.applied);
    assert.equal(all.length, 30);
    assert.equal(new Set(all).size, 30);
    assert.deepEqual((await target.db.query('SELECT count(*) AS n FROM schema_migrations')).rows, [{ n: 30 }]);
    const { rows } = await other.query<{ n: number }>(
      `SELECT (SELECT count(*) FROM step_1) + (SELECT count(*) FROM step_15) + (SELECT count(*) FROM step_30) AS n`,
    );
    assert.deepEqual(rows, [{ n: 3 }]);
  });
}
