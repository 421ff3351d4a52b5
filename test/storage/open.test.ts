import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DatabaseUsageError } from '../../src/storage/errors.ts';
import { IN_MEMORY, openDatabase, pgliteDirectory } from '../../src/storage/open.ts';
import { backend, testBackends } from '../helpers/database.ts';

test('without a URL, openDatabase keeps a PGlite database in <dataDir>/pglite that survives a reopen', async (t) => {
  const dataDir = await mkdtemp(path.join(tmpdir(), 'troupe-data-'));
  t.after(() => rm(dataDir, { recursive: true, force: true }));
  const infos: object[] = [];
  const noop = (): void => undefined;
  const logger = { debug: noop, warn: noop, error: noop, info: (obj: object) => infos.push(obj) };
  const first = await openDatabase({ dataDir, logger });
  assert.equal(first.kind, 'pglite');
  assert.deepEqual(infos, [{ backend: 'pglite', dataDir: path.join(dataDir, 'pglite') }]);
  await first.query('CREATE TABLE kept (v text)');
  await first.query('INSERT INTO kept VALUES ($1)', ['still here']);
  await first.close();
  assert.ok((await readdir(path.join(dataDir, 'pglite'))).includes('PG_VERSION'));

  const second = await openDatabase({ backend: 'pglite', path: path.join(dataDir, 'pglite') });
  t.after(() => second.close());
  assert.deepEqual((await second.query('SELECT v FROM kept')).rows, [{ v: 'still here' }]);
});

test('a PGlite directory is locked: a second opener is refused while a live process holds it', async (t) => {
  const dataDir = await mkdtemp(path.join(tmpdir(), 'troupe-data-'));
  t.after(() => rm(dataDir, { recursive: true, force: true }));
  const lockFile = path.join(dataDir, 'pglite.lock');
  const db = await openDatabase({ dataDir });
  assert.equal((await readFile(lockFile, 'utf8')).trim(), String(process.pid));
  await assert.rejects(openDatabase({ dataDir }), DatabaseUsageError);
  await db.close();
  await assert.rejects(readFile(lockFile), { code: 'ENOENT' }, 'close removes the lock');

  // Another live process (our parent) holds it: refused, naming that process.
  await writeFile(lockFile, `${process.ppid}\n`);
  await assert.rejects(openDatabase({ dataDir }), (err) => {
    assert.ok(err instanceof DatabaseUsageError);
    assert.match(err.message, new RegExp(`in use by process ${process.ppid}`));
    return true;
  });

  // A lock left behind by a process that has exited is taken over.
  const gone = spawnSync(process.execPath, ['-e', '0']).pid;
  await writeFile(lockFile, `${gone}\n`);
  const reopened = await openDatabase({ dataDir });
  t.after(() => reopened.close());
  assert.equal((await readFile(lockFile, 'utf8')).trim(), String(process.pid));
});

test('memory:// keeps PGlite in memory', async (t) => {
  assert.equal(pgliteDirectory(IN_MEMORY), undefined);
  const db = await openDatabase({ dataDir: IN_MEMORY, url: '' });
  t.after(() => db.close());
  assert.equal(db.kind, 'pglite');
});

if (testBackends().includes('postgres')) {
  test('PostgreSQL: with a URL, openDatabase uses the server and never logs the password', async (t) => {
    const target = await backend('postgres').create({ migrate: false });
    t.after(() => target.close());
    assert.ok(target.url);
    const url = new URL(target.url);
    url.password = 'sekrit-password';
    const infos: object[] = [];
    const noop = (): void => undefined;
    const logger = { debug: noop, warn: noop, error: noop, info: (obj: object) => infos.push(obj) };
    const db = await openDatabase({ url: url.toString(), dataDir: '/nonexistent', logger, pool: { max: 2 } });
    t.after(() => db.close());
    assert.equal(db.kind, 'postgres');
    assert.deepEqual((await db.query('SELECT current_database() AS name')).rows, [{ name: url.pathname.slice(1) }]);
    assert.equal(JSON.stringify(infos).includes('sekrit'), false);
    const other = await openDatabase({ backend: 'postgres', url: target.url, poolMax: 1 });
    assert.equal(other.kind, 'postgres');
    await other.close();
  });

  test('PostgreSQL: an unreachable server fails openDatabase', async () => {
    await assert.rejects(openDatabase({ url: 'postgres://postgres@127.0.0.1:1/postgres', dataDir: IN_MEMORY }));
  });
}
